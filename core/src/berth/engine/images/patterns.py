"""Go's ``path.Match`` (shell patterns where ``*`` stops at ``/``), for reference filters."""

from __future__ import annotations

import functools
import re

from berth.engine.errors import BadParameter


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                raise BadParameter(f"syntax error in pattern {pattern!r}")
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end == -1:
                raise BadParameter(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            if negate:
                body = body[1:]
            if not body:
                raise BadParameter(f"syntax error in pattern {pattern!r}")
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def match(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).match(text) is not None
