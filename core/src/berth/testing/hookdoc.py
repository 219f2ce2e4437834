"""Generate the hook reference (``docs/plugins/hooks.md``) from core's hook specifications.

Run ``python -m berth.testing.hookdoc > docs/plugins/hooks.md`` after adding or changing a hook
in :mod:`berth.plugins.hookspecs`. Every function marked with ``@hookspec`` is listed with its
signature and docstring, grouped under the ``# --- section ---`` comments of the module.
``core/tests/test_hook_docs.py`` checks the file is up to date and every hook is documented.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from berth.plugins.markers import PROJECT

DEFAULT_MODULE = "berth.plugins.hookspecs"
OUTPUT = "docs/plugins/hooks.md"
REGENERATE = f"python -m berth.testing.hookdoc > {OUTPUT}"

_SECTION = re.compile(r"^# -+ (?P<title>.+?) -+\s*$")
_INLINE_LITERAL = re.compile(r"``(.+?)``")
_EXAMPLE_BLOCK = re.compile(r"Example::\n\s*\n( +)\S")


@dataclass(frozen=True)
class Hook:
    name: str
    signature: str
    doc: str
    section: str
    options: dict[str, Any]


def hookspecs_of(module: ModuleType) -> list[Hook]:
    """Every ``@hookspec`` function of ``module``, in source order."""
    sections = _sections(module)
    hooks = []
    for name, obj in vars(module).items():
        options = getattr(obj, f"{PROJECT}_spec", None)
        if not inspect.isfunction(obj) or options is None:
            continue
        hooks.append(
            Hook(
                name=name,
                signature=_signature(obj),
                doc=inspect.getdoc(obj) or "",
                section=_section_of(obj, sections),
                options=dict(options),
            )
        )
    return hooks


def problems(module: ModuleType) -> list[str]:
    """What is missing from the hooks' documentation, one line per problem."""
    hooks = hookspecs_of(module)
    if not hooks:
        return [f"{module.__name__} has no @hookspec function"]
    found = []
    for hook in hooks:
        if not hook.doc.strip():
            found.append(f"hook {hook.name} has no docstring (when is it called? an example?)")
            continue
        if "called" not in _first_paragraph(hook.doc).lower():
            found.append(f"the docstring of {hook.name} does not say when it is 'Called …'")
        if not _EXAMPLE_BLOCK.search(hook.doc):
            found.append(f"the docstring of {hook.name} has no 'Example::' block of indented code")
    return found


def render(module: ModuleType) -> str:
    """The Markdown reference of every hook of ``module``."""
    hooks = hookspecs_of(module)
    out = [
        "# Hook reference",
        "",
        f"<!-- Generated from {module.__name__} by `{REGENERATE}`. Do not edit by hand. -->",
        "",
    ]
    if module.__doc__:
        out += [_markdown(inspect.cleandoc(module.__doc__)), ""]
    out += ["| Hook | When |", "| --- | --- |"]
    for hook in hooks:
        summary = _when(hook.doc).replace("|", "\\|")
        out.append(f"| [`{hook.name}`](#{hook.name}) | {summary} |")
    section = None
    for hook in hooks:
        if hook.section != section:
            section = hook.section
            out += ["", f"## {section[:1].upper()}{section[1:]}"]
        out += ["", f"### `{hook.name}`", "", "```python", f"def {hook.signature}", "```", ""]
        notes = _option_notes(hook.options)
        if notes:
            out += [notes, ""]
        out.append(_markdown(hook.doc) if hook.doc else "*Undocumented.*")
    return "\n".join(out).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m berth.testing.hookdoc",
        description="Print the Markdown hook reference of a hook specification module.",
    )
    parser.add_argument("module", nargs="?", default=DEFAULT_MODULE, help=DEFAULT_MODULE)
    args = parser.parse_args(argv)
    try:
        module = importlib.import_module(args.module)
    except ImportError as exc:
        print(f"hookdoc: cannot import {args.module}: {exc}", file=sys.stderr)
        return 1
    missing = problems(module)
    for problem in missing:
        print(f"hookdoc: {problem}", file=sys.stderr)
    if missing:
        return 1
    sys.stdout.write(render(module))
    return 0


# --- helpers -----------------------------------------------------------------------------


def _sections(module: ModuleType) -> list[tuple[int, str]]:
    """``(line number, title)`` of each ``# --- title ---`` comment of the module."""
    try:
        lines = inspect.getsource(module).splitlines()
    except (OSError, TypeError):
        return []
    return [
        (number, match["title"])
        for number, line in enumerate(lines, start=1)
        if (match := _SECTION.match(line))
    ]


def _section_of(func: Callable[..., Any], sections: list[tuple[int, str]]) -> str:
    try:
        line = inspect.getsourcelines(func)[1]
    except (OSError, TypeError):
        return "hooks"
    titles = [title for number, title in sections if number < line]
    return titles[-1] if titles else "hooks"


def _signature(func: Callable[..., Any]) -> str:
    signature = inspect.signature(func)
    params = []
    for param in signature.parameters.values():
        text = param.name
        if param.annotation is not inspect.Parameter.empty:
            text += f": {_annotation(param.annotation)}"
        params.append(text)
    text = f"{func.__name__}({', '.join(params)})"
    if signature.return_annotation is not inspect.Signature.empty:
        text += f" -> {_annotation(signature.return_annotation)}"
    return text


def _annotation(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _option_notes(options: dict[str, Any]) -> str:
    notes = []
    if options.get("firstresult"):
        notes.append("the first implementation that returns something other than None wins")
    if options.get("historic"):
        notes.append("historic: a plugin registered late still receives earlier calls")
    text = "; ".join(notes)
    return f"*{text[:1].upper()}{text[1:]}.*" if notes else ""


def _first_paragraph(doc: str) -> str:
    return doc.strip().split("\n\n", 1)[0]


def _when(doc: str) -> str:
    """The first sentence of the first paragraph that says when the hook is called."""
    paragraph = " ".join(_first_paragraph(doc).split()).removesuffix(":")
    sentences = re.split(r"(?<=[.!?])\s", paragraph)
    when = next((s for s in sentences if "called" in s.lower()), sentences[0])
    return _INLINE_LITERAL.sub(r"`\1`", when)


def _markdown(doc: str) -> str:
    """reST docstring → Markdown: ``x`` → `x`; a paragraph ending in ``::`` opens a code block
    made of the indented lines after it."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.rstrip().endswith("::"):
            out.append(_INLINE_LITERAL.sub(r"`\1`", line))
            continue
        head = line.rstrip()[:-2].rstrip()
        if head:
            out.append(_INLINE_LITERAL.sub(r"`\1`", head) + ":")
        block: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        code = inspect.cleandoc("\n".join(block))
        out += ["", "```python", code, "```"]
        if i < len(lines):
            out.append("")
    return "\n".join(out).strip()


if __name__ == "__main__":
    raise SystemExit(main())
