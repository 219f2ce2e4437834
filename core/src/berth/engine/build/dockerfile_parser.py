"""How Dockerfile text becomes the model of :mod:`berth.engine.build.dockerfile`.

Three passes, as Docker's parser does them: parser directives at the very top; logical lines
(continuations joined, comment and blank lines dropped, the start line kept); then each line is
split into keyword, ``--flags`` and arguments and checked by the rules of its instruction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from berth.engine.build.dockerfile import (
    BuildfileError,
    Directives,
    Dockerfile,
    Healthcheck,
    Instruction,
    Stage,
)
from berth.engine.build.durations import DurationError, parse_duration

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"escape", "syntax", "check"})
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")

# Flags each instruction accepts; True marks a boolean flag.
_FLAGS: dict[str, dict[str, bool]] = {
    "FROM": {"platform": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": True},
    "ADD": {"chown": False, "chmod": False, "checksum": False, "keep-git-dir": True, "link": True},
    "HEALTHCHECK": {
        "interval": False,
        "timeout": False,
        "start-period": False,
        "start-interval": False,
        "retries": False,
    },
}
_BUILDKIT_ONLY_FLAGS = {"RUN": ("mount", "network", "security")}


class _LineError(Exception):
    """An error in the current logical line; the caller adds file and line."""


class _Line:
    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.start = start
        self.end = end


def parse(text: str, filename: str) -> Dockerfile:
    lines = text.removeprefix("\ufeff").split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    directives = _directives(lines, filename)
    logical, warnings = _logical_lines(lines, directives.escape, filename)
    if not logical:
        raise BuildfileError(filename, max(len(lines), 1), "the Dockerfile has no instructions")
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for line in logical:
        try:
            instruction = _instruction(line, directives.escape)
        except _LineError as exc:
            raise BuildfileError(filename, line.start, str(exc)) from None
        if instruction.keyword == "FROM":
            stage = _stage(instruction, len(stages))
            if stage.name is not None and any(s.name == stage.name for s in stages):
                raise BuildfileError(filename, line.start, f"duplicate stage name {stage.name!r}")
            stages.append(stage)
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            global_args.append(instruction)
        else:
            raise BuildfileError(
                filename,
                line.start,
                f"no build stage in current context: {instruction.keyword} before the first FROM",
            )
    if not stages:
        raise BuildfileError(filename, logical[-1].start, "the Dockerfile has no FROM instruction")
    return Dockerfile(filename, directives, global_args, stages, warnings)


def _directives(lines: list[str], filename: str) -> Directives:
    found: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _DIRECTIVE.match(line)
        if not match or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break
        key, value = match.group(1).lower(), match.group(2)
        if key in found:
            raise BuildfileError(filename, number, f"only one {key} parser directive can be used")
        if key == "escape" and value not in ("\\", "`"):
            raise BuildfileError(filename, number, f"invalid escape token {value!r}: use ` or \\")
        found[key] = value
    return Directives(escape=found.get("escape", "\\"), syntax=found.get("syntax"))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _logical_lines(lines: list[str], escape: str, filename: str) -> tuple[list[_Line], list[str]]:
    """Join continuations; comment lines (even inside a continuation) and blank lines go."""
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    result: list[_Line] = []
    warnings: list[str] = []
    index = 0
    while index < len(lines):
        start = index + 1
        raw = lines[index].lstrip()
        index += 1
        if raw.startswith("#"):
            continue
        text, ended = _strip_continuation(raw, continuation)
        if ended and not text.strip():
            continue
        empty_continuation = False
        while not ended and index < len(lines):
            raw = lines[index]
            index += 1
            if _is_comment(raw):
                continue
            if not raw.strip():
                empty_continuation = True
                continue
            part, ended = _strip_continuation(raw, continuation)
            text += part
        if empty_continuation:
            warnings.append(f"line {start}: empty continuation line")
        if not ended and len(text.split()) < 2:
            raise BuildfileError(
                filename,
                start,
                "the file ends inside a line continuation: the instruction is empty",
            )
        if text.strip():
            result.append(_Line(text.strip(), start, index))
    return result, warnings


def _strip_continuation(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    match = continuation.search(line)
    if match is None:
        return line, True
    return line[: match.start()], False


def _instruction(line: _Line, escape: str) -> Instruction:
    parts = _WHITESPACE.split(line.text, maxsplit=1)
    word = parts[0]
    keyword = word.upper()
    rest = parts[1] if len(parts) > 1 else ""
    handler = _HANDLERS.get(keyword)
    if handler is None:
        import difflib

        close = difflib.get_close_matches(keyword, _HANDLERS, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0].lower()}?)" if close else ""
        raise _LineError(f"unknown instruction: {word}{hint}")
    flags, rest = _split_flags(rest)
    checked = _check_flags(keyword, flags)
    return handler(keyword, rest.strip(), checked, line, escape)


def _split_flags(rest: str) -> tuple[list[str], str]:
    """The leading ``--flag[=value]`` words (quotes removed) and the text after them."""
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(rest) and rest[pos].isspace():
            pos += 1
        if not rest.startswith("--", pos):
            return flags, rest[pos:]
        word: list[str] = []
        quote = ""
        while pos < len(rest):
            ch = rest[pos]
            if ch == "\\":  # a backslash takes the next character as is, quoted or not
                pos += 1
                if pos < len(rest):
                    word.append(rest[pos])
            elif quote:
                if ch == quote:
                    quote = ""
                else:
                    word.append(ch)
            elif ch in "'\"":
                quote = ch
            elif ch.isspace():
                break
            else:
                word.append(ch)
            pos += 1
        if quote:
            raise _LineError("a flag has an unterminated quote")
        flag = "".join(word)
        if flag == "--":
            return flags, rest[pos:]
        flags.append(flag)


def _check_flags(keyword: str, flags: list[str]) -> dict[str, str]:
    allowed = _FLAGS.get(keyword, {})
    result: dict[str, str] = {}
    for flag in flags:
        name, has_value, value = flag[2:].partition("=")
        if name in _BUILDKIT_ONLY_FLAGS.get(keyword, ()):
            raise _LineError(
                f"the --{name} option requires BuildKit, which berth does not implement"
            )
        if name not in allowed:
            raise _LineError(f"unknown flag: --{name} (not valid for {keyword})")
        if name in result:
            raise _LineError(f"duplicate flag specified: --{name}")
        if allowed[name]:
            value = value.lower() if has_value else "true"
            if value not in ("true", "false"):
                raise _LineError(f"expecting a boolean value for flag --{name}, not: {value}")
        elif not has_value:
            raise _LineError(f"missing a value on flag: --{name}")
        result[name] = value
    return result


# ---- argument forms ----


def _json_list(rest: str) -> list[str] | None:
    """The JSON array ``rest`` starts with, or None when it is not valid JSON (shell form then)."""
    if not rest.startswith("["):
        return None
    try:
        value, _ = json.JSONDecoder(parse_constant=_reject_constant).raw_decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _LineError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # Go's JSON has no NaN/Infinity: not JSON, so shell form


def _whitespace_words(rest: str) -> list[str]:
    return [word for word in _WHITESPACE.split(rest) if word]


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (expansion removes them)."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    pos = 0
    while pos < len(rest):
        ch = rest[pos]
        pos += 1
        if quote:
            if ch == escape and quote != "'" and pos < len(rest):
                word.append(ch)
                ch = rest[pos]
                pos += 1
            elif ch == quote:
                quote = ""
            word.append(ch)
            continue
        if ch.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            continue
        in_word = True
        if ch in "'\"":
            quote = ch
        elif ch == escape:
            if pos == len(rest):
                continue
            word.append(ch)
            ch = rest[pos]
            pos += 1
        word.append(ch)
    if in_word:
        words.append("".join(word))
    return words


def _make(
    keyword: str,
    args: list[str],
    line: _Line,
    flags: dict[str, str],
    **extra: object,
) -> Instruction:
    return Instruction(
        keyword=keyword,
        args=args,
        line=line.start,
        end_line=line.end,
        original=line.text,
        flags=flags,
        **extra,  # type: ignore[arg-type]
    )


_Handler = Callable[[str, str, dict[str, str], _Line, str], Instruction]


def _command(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    """RUN, CMD, ENTRYPOINT: exec form (JSON) or shell form (the raw rest of the line)."""
    exec_form = _json_list(rest)
    if exec_form is not None:
        return _make(keyword, exec_form, line, flags, json_form=True)
    if not rest and keyword == "RUN":
        raise _LineError("RUN requires at least one argument")
    return _make(keyword, [rest] if rest else [], line, flags)


def _shell(keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str) -> Instruction:
    if not rest:
        raise _LineError("SHELL requires at least one argument")
    exec_form = _json_list(rest)
    if exec_form is None:
        raise _LineError(
            'SHELL requires the arguments to be in JSON form, e.g. SHELL ["/bin/sh", "-c"]'
        )
    if not exec_form:
        raise _LineError("SHELL requires at least one argument")
    return _make(keyword, exec_form, line, flags, json_form=True)


def _from(keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str) -> Instruction:
    words = _whitespace_words(rest)
    if len(words) == 3 and words[1].lower() != "as":
        raise _LineError(f"FROM expects 'AS' before the stage name, not {words[1]!r}")
    if len(words) not in (1, 3):
        raise _LineError("FROM requires either one or three arguments: FROM <image> [AS <name>]")
    if len(words) == 3 and not _STAGE_NAME.match(words[2].lower()):
        raise _LineError(
            f"invalid name for build stage: {words[2]!r}, "
            "name can't start with a number or contain symbols"
        )
    return _make(keyword, words, line, flags)


def _stage(instruction: Instruction, index: int) -> Stage:
    args = instruction.args
    return Stage(
        index=index,
        name=args[2].lower() if len(args) == 3 else None,
        base=args[0],
        platform=instruction.flags.get("platform"),
        line=instruction.line,
        original=instruction.original,
    )


def _paths(keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str) -> Instruction:
    """ADD, COPY: ``src... dest`` as JSON or whitespace-separated words."""
    exec_form = _json_list(rest)
    args = exec_form if exec_form is not None else _whitespace_words(rest)
    if len(args) < 2:
        raise _LineError(
            f"{keyword} requires at least two arguments, but only {len(args)} provided: "
            f"{keyword} <src>... <dest>"
        )
    return _make(keyword, args, line, flags, json_form=exec_form is not None)


def _volume(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    exec_form = _json_list(rest)
    args = exec_form if exec_form is not None else _whitespace_words(rest)
    if not args or any(not arg.strip() for arg in args):
        raise _LineError("VOLUME requires at least one argument (and no empty paths)")
    return _make(keyword, args, line, flags, json_form=exec_form is not None)


def _words(minimum: int, maximum: int | None, usage: str) -> _Handler:
    """An instruction taking whitespace-separated words (EXPOSE, USER, WORKDIR, STOPSIGNAL)."""

    def handler(
        keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
    ) -> Instruction:
        words = _whitespace_words(rest)
        if keyword == "WORKDIR":
            words = [rest] if rest else []  # a path with spaces stays one path
        if len(words) < minimum or (maximum is not None and len(words) > maximum):
            raise _LineError(f"{keyword} requires {usage}")
        return _make(keyword, words, line, flags)

    return handler


def _maintainer(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    if not rest:
        raise _LineError("MAINTAINER requires exactly one argument")
    return _make(keyword, [rest], line, flags)


def _key_values(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    """ENV and LABEL: ``k=v k2="v 2"``, or the legacy ``k v`` (the whole rest is the value)."""
    words = parse_words(rest, escape)
    if not words:
        raise _LineError(f"{keyword} requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2 or not parts[1]:
            raise _LineError(f"{keyword} must have two arguments: {keyword} <key>=<value>")
        pairs.append((parts[0], parts[1]))
        return _make(keyword, [parts[0], parts[1]], line, flags, pairs=pairs)
    for word in words:
        key, has_value, value = word.partition("=")
        if not has_value:
            raise _LineError(
                f"syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        if not key:
            raise _LineError(f"{keyword} names can not be blank")
        pairs.append((key, value))
    return _make(keyword, words, line, flags, pairs=pairs)


def _arg(keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str) -> Instruction:
    words = parse_words(rest, escape)
    if not words:
        raise _LineError("ARG requires at least one argument: ARG <name>[=<default>]")
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, has_value, value = word.partition("=")
        if not name:
            raise _LineError(f"ARG names can not be blank: {word!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise _LineError(
                f"invalid ARG name {name!r}: use letters, digits and _ (not starting with a digit)"
            )
        pairs.append((name, value if has_value else None))
    return _make(keyword, words, line, flags, pairs=pairs)


def _healthcheck(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    parts = rest.split(None, 1)
    if not parts:
        raise _LineError(
            "HEALTHCHECK requires at least one argument: HEALTHCHECK [OPTIONS] CMD command | NONE"
        )
    kind = parts[0].upper()
    command_text = parts[1] if len(parts) > 1 else ""
    if kind == "NONE":
        if command_text or flags:
            raise _LineError("HEALTHCHECK NONE takes no arguments and no options")
        return _make(keyword, ["NONE"], line, flags, healthcheck=Healthcheck(test=["NONE"]))
    if kind != "CMD":
        raise _LineError(f"unknown type {parts[0]!r} in HEALTHCHECK (try CMD)")
    exec_form = _json_list(command_text)
    if exec_form is not None:
        test = ["CMD", *exec_form]
        command = exec_form
    else:
        test = ["CMD-SHELL", command_text]
        command = [command_text] if command_text else []
    if not command:
        raise _LineError("missing command after HEALTHCHECK CMD")
    check = Healthcheck(
        test=test,
        interval=_interval(flags, "interval"),
        timeout=_interval(flags, "timeout"),
        start_period=_interval(flags, "start-period"),
        start_interval=_interval(flags, "start-interval"),
        retries=_retries(flags),
    )
    return _make(
        keyword, ["CMD", *command], line, flags, json_form=exec_form is not None, healthcheck=check
    )


def _interval(flags: dict[str, str], name: str) -> int:
    text = flags.get(name, "")
    if not text:
        return 0
    try:
        nanoseconds = parse_duration(text)
    except DurationError as exc:
        raise _LineError(f"--{name}: {exc}") from None
    if 0 < nanoseconds < 1_000_000 or nanoseconds < 0:
        raise _LineError(f"--{name} cannot be less than 1ms (got {text})")
    return nanoseconds


def _retries(flags: dict[str, str]) -> int:
    text = flags.get("retries", "")
    if not text:
        return 0
    try:
        retries = int(text)
    except ValueError:
        raise _LineError(f"--retries must be a whole number, not {text!r}") from None
    if retries < 0:
        raise _LineError(f"--retries cannot be negative ({retries})")
    return retries


def _onbuild(
    keyword: str, rest: str, flags: dict[str, str], line: _Line, escape: str
) -> Instruction:
    if not rest:
        raise _LineError("ONBUILD requires at least one argument")
    trigger_word = _WHITESPACE.split(rest, maxsplit=1)[0].upper()
    if trigger_word == "ONBUILD":
        raise _LineError("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_word in ("FROM", "MAINTAINER"):
        raise _LineError(f"{trigger_word} isn't allowed as an ONBUILD trigger")
    trigger = _instruction(_Line(rest, line.start, line.end), escape)
    return _make(keyword, [rest], line, flags, trigger=trigger)


_HANDLERS: dict[str, _Handler] = {
    "ADD": _paths,
    "ARG": _arg,
    "CMD": _command,
    "COPY": _paths,
    "ENTRYPOINT": _command,
    "ENV": _key_values,
    "EXPOSE": _words(1, None, "at least one argument: EXPOSE <port>[/<proto>]..."),
    "FROM": _from,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _key_values,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _command,
    "SHELL": _shell,
    "STOPSIGNAL": _words(1, 1, "exactly one argument: STOPSIGNAL <signal>"),
    "USER": _words(1, 1, "exactly one argument: USER <user>[:<group>]"),
    "VOLUME": _volume,
    "WORKDIR": _words(1, 1, "exactly one argument: WORKDIR <path>"),
}
