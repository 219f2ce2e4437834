"""``.dockerignore``: which files of a build context are left out, by Docker's rules.

Shared by the client (which leaves the files out of the context it sends) and the daemon.
The rules, as Docker's pattern matcher has them:

- one pattern a line; a line starting with ``#`` is a comment; blank lines are skipped;
- patterns are cleaned like paths (``./a//b/`` is ``a/b``) and a leading ``/`` is dropped, so
  every pattern is relative to the context root;
- ``*`` matches any run of characters but ``/``, ``?`` one character but ``/``, ``[...]`` a
  class, ``\\`` escapes, and ``**`` any number of directories, none included (a pattern
  starting with ``**`` and otherwise plain is a suffix: ``**file`` matches ``dir/myfile``);
- a pattern that matches a directory matches everything under it;
- ``!pattern`` is an exception: it re-includes what it matches; the last matching line wins.

The client keeps the Dockerfile and ``.dockerignore`` in the context even when they match
(see :func:`keep_build_files`).
"""

from __future__ import annotations

import posixpath

# Kept off the client's start-up path (`re` and typing cost a `berth build` milliseconds):
# `re` is imported only to compile patterns, and only when there are some.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Sequence


class DockerignoreError(ValueError):
    """A pattern Docker would refuse (Go's filepath.Match syntax: a bad ``[...]`` class, a
    trailing backslash) or a lone ``!``."""


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file's text, cleaned, in order."""
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n")):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern.lstrip("/") or "/"
        patterns.append("!" + pattern if exception else pattern)
    return patterns


class _Pattern:
    __slots__ = ("exception", "matcher", "text")

    def __init__(self, text: str, exception: bool, matcher: _Matcher) -> None:
        self.text = text
        self.exception = exception
        self.matcher = matcher


class Matcher:
    """Answers "is this context path ignored?" for a list of patterns (``!`` = exception)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[_Pattern] = []
        for pattern in patterns:
            exception = pattern.startswith("!")
            text = pattern[1:] if exception else pattern
            if not text:
                raise DockerignoreError('illegal exclusion pattern: "!"')
            text = posixpath.normpath(text).lstrip("/") or "."
            self.patterns.append(_Pattern(text, exception, _compile(text)))
        self.has_exceptions = any(p.exception for p in self.patterns)

    def ignored(self, path: str) -> bool:
        """Whether ``path`` (relative to the context, ``/``-separated) is left out."""
        path = posixpath.normpath(path).lstrip("/")
        parents = path.split("/")[:-1]
        ignored = False
        for pattern in self.patterns:
            # Only a pattern that could change the answer needs testing.
            if pattern.exception != ignored:
                continue
            test = pattern.matcher.match
            matched = test(path) or any(
                test("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if matched:
                ignored = not pattern.exception
        return ignored

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception could bring back something under an ignored ``directory``.

        Docker's rule: only an exception pattern that starts with ``directory/`` does; the
        walker skips the directory otherwise.
        """
        prefix = posixpath.normpath(directory).lstrip("/") + "/"
        return any(p.exception and (p.text + "/").startswith(prefix) for p in self.patterns)


def keep_build_files(patterns: Sequence[str], dockerfile: str) -> list[str]:
    """``patterns`` plus exceptions so that ``.dockerignore`` and the Dockerfile are sent."""
    result = list(patterns)
    matcher = Matcher(result)
    if matcher.ignored(".dockerignore"):
        result.append("!.dockerignore")
    if dockerfile and Matcher(result).ignored(dockerfile):
        result.append("!" + dockerfile)
    return result


class _Matcher:
    """One pattern's test, of the kind Docker picks: a plain name is compared, ``dir/**`` is
    a prefix, ``**name`` a suffix (so ``**file`` matches ``dir/myfile``, as Docker's does),
    anything else a regex."""

    __slots__ = ("kind", "regex", "text")

    def __init__(self, kind: str, text: str, regex: re.Pattern[str] | None) -> None:
        self.kind = kind
        self.text = text
        self.regex = regex

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text)
        if self.kind == "suffix":
            return path.endswith(self.text) or (self.text.startswith("/") and path == self.text[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


def _compile(pattern: str) -> _Matcher:
    import re

    _check_syntax(pattern)
    out = ["^"]
    kind = "exact"
    i = 0
    while i < len(pattern):
        start = i
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < len(pattern) and pattern[i] == "*":
                i += 1
                if i < len(pattern) and pattern[i] == "/":
                    i += 1
                if i == len(pattern):  # "**" at the end: everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")
                    kind = "regex"
                if start == 0:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch == "\\":
            out.append(re.escape(pattern[i]))  # (a trailing backslash fails the syntax check)
            i += 1
            kind = "regex"
        elif ch == "[":
            end = _class_end(pattern, i)
            out.append(_char_class(pattern[i:end]))
            i = end + 1
            kind = "regex"
        else:
            out.append(re.escape(ch))
    if kind == "prefix":
        return _Matcher(kind, pattern[:-2], None)
    if kind == "suffix":
        return _Matcher(kind, pattern[2:], None)
    if kind == "exact":
        return _Matcher(kind, pattern, None)
    out.append("$")
    return _Matcher(kind, pattern, re.compile("".join(out), re.DOTALL))


def _check_syntax(pattern: str) -> None:
    """Go's filepath.Match syntax, which Docker checks every pattern against."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "\\":
            if i == len(pattern):
                raise DockerignoreError(f"syntax error in pattern {pattern!r}: trailing backslash")
            i += 1
        elif ch == "[":
            i = _class_end(pattern, i) + 1


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the class whose body starts at ``start``; a class that is
    not well formed (``[]a]``, ``[-]``, ``[x-]``, ``[a-b-c]``, no ``]``) is an error."""

    def bad() -> DockerignoreError:
        return DockerignoreError(f"syntax error in pattern {pattern!r}: bad character class")

    def one_char(at: int) -> int:  # Go's getEsc: the index after one (escaped) character
        if at >= len(pattern) or pattern[at] in "-]":
            raise bad()
        if pattern[at] == "\\":
            at += 1
            if at >= len(pattern):
                raise bad()
        if at + 1 >= len(pattern):
            raise bad()
        return at + 1

    i = start
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    ranges = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            return i
        i = one_char(i)
        if pattern[i] == "-":
            i = one_char(i + 1)
        ranges += 1


def _char_class(body: str) -> str:
    """A checked ``[...]`` body (``^`` negates, ``a-z`` ranges, ``\\`` escapes) as a regex class."""
    import re

    negate = body.startswith("^")
    if negate:
        body = body[1:]
    parts: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            parts.append(re.escape(body[i + 1]))
            i += 2
            continue
        parts.append("-" if ch == "-" else re.escape(ch))
        i += 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def build_files_to_hide(dockerignore_text: str, dockerfile: str) -> list[str]:
    """What the daemon removes from an unpacked context once it has read the Dockerfile.

    The client sends ``.dockerignore`` and the Dockerfile even when ``.dockerignore`` names
    them; Docker's classic daemon then takes out the ones the patterns match, so that COPY never
    sees them (a Dockerfile from ``-f -`` is named in ``.dockerignore`` by the client for this).
    """
    matcher = Matcher(read_patterns(dockerignore_text))
    return [name for name in (".dockerignore", dockerfile) if name and matcher.ignored(name)]
