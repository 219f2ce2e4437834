"""A subset of Go's text/template, as the docker CLI's `--format` uses it.

Supported: literal text; actions `{{.}}`, `{{.Field}}`, `{{.A.B}}` (on JSON objects), string and
integer literals, pipes `{{.Name | upper}}`, parentheses, the functions `json`, `index`, `join`,
`split`, `upper`, `lower`, `title`, `len`, `truncate`, `pad`, and `{{-`/`-}}` trimming. Control
actions (`if`, `range`, `with`) and variables are refused with a clear message.

The data is JSON, so which objects were Go structs and which were maps is guessed the way the
API names things: an object with a capitalised key (`{"Name": ..}`) stands for a struct, and a
key missing from it is an error (`map has no entry for key "Nope"`), so a typo does not pass
unnoticed; an object whose keys are all lower case (`Labels`, `Actor.Attributes`) stands for a
map of strings, and a missing key there gives "" as in Go. Error messages follow Go's wording,
positions included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.cli.errors import CliError


class TemplateError(CliError):
    """A template cannot be parsed or executed; the message is one line, Go's wording."""


# --- lexing and parsing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # field, ident, string, number, pipe, lparen, rparen
    text: str
    pos: int


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]  # () is "."
    text: str
    pos: int


@dataclass(frozen=True)
class Literal:
    value: Any
    text: str
    pos: int


@dataclass(frozen=True)
class FuncRef:
    name: str
    pos: int


@dataclass(frozen=True)
class Command:
    operands: tuple[Operand, ...]
    text: str
    pos: int


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    pos: int


@dataclass(frozen=True)
class SubPipeline:
    pipeline: Pipeline
    text: str
    pos: int


Operand = Field | Literal | FuncRef | SubPipeline
Node = str | Pipeline

_KEYWORDS = {"if", "else", "end", "range", "with", "template", "define", "block", "break"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<field>\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<number>-?\d+)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  """,
    re.VERBOSE,
)


def _parse_error(source: str, pos: int, message: str) -> TemplateError:
    line = source.count("\n", 0, pos) + 1
    return TemplateError(f"template parsing error: template: :{line}: {message}")


def _tokens(source: str, start: int, end: int) -> list[Token]:
    out: list[Token] = []
    pos = start
    while pos < end:
        match = _TOKEN.match(source, pos, end)
        if match is None:
            char = source[pos]
            if char == "$":
                raise _parse_error(source, pos, "variables are not supported by berth's --format")
            raise _parse_error(source, pos, f"unexpected {char!r} in operand")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, source: str, tokens: list[Token], end: int) -> None:
        self.source = source
        self.tokens = tokens
        self.index = 0
        self.end = end

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def error(self, pos: int, message: str) -> TemplateError:
        return _parse_error(self.source, pos, message)

    def pipeline(self, pos: int) -> Pipeline:
        commands = [self.command(pos)]
        while (token := self.peek()) is not None and token.kind == "pipe":
            self.index += 1
            commands.append(self.command(token.pos))
        return Pipeline(tuple(commands), commands[0].pos)

    def command(self, pos: int) -> Command:
        operands: list[Operand] = []
        while (token := self.peek()) is not None and token.kind not in ("pipe", "rparen"):
            operands.append(self.operand(token))
        if not operands:
            raise self.error(pos, "missing value for command")
        first = operands[0]
        last_end = self._end_of(self.index - 1)
        text = self.source[first.pos : last_end]
        return Command(tuple(operands), text, first.pos)

    def _end_of(self, index: int) -> int:
        token = self.tokens[index]
        return token.pos + len(token.text)

    def operand(self, token: Token) -> Operand:
        self.index += 1
        if token.kind == "field":
            path = tuple(p for p in token.text.split(".") if p)
            return Field(path, token.text, token.pos)
        if token.kind == "string":
            if token.text.startswith("`"):
                return Literal(token.text[1:-1], token.text, token.pos)
            try:
                return Literal(json.loads(token.text), token.text, token.pos)
            except ValueError:
                raise self.error(token.pos, f"bad string syntax: {token.text}") from None
        if token.kind == "number":
            return Literal(int(token.text), token.text, token.pos)
        if token.kind == "ident":
            if token.text in _KEYWORDS:
                raise self.error(
                    token.pos, f'"{token.text}" actions are not supported by berth\'s --format'
                )
            if token.text in ("true", "false"):
                return Literal(token.text == "true", token.text, token.pos)
            if token.text == "nil":
                raise self.error(token.pos, "nil is not a command")
            if token.text not in FUNCTIONS:
                raise self.error(token.pos, f'function "{token.text}" not defined')
            return FuncRef(token.text, token.pos)
        if token.kind == "lparen":
            inner = self.pipeline(token.pos)
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise self.error(token.pos, "unclosed left paren")
            self.index += 1
            return SubPipeline(inner, self.source[token.pos : closing.pos + 1], token.pos)
        raise self.error(token.pos, f"unexpected {token.text!r} in operand")


def parse(source: str) -> list[Node]:
    """Split a template into text and parsed actions."""
    nodes: list[Node] = []
    pos = 0
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip()
        if start < 0:
            if text:
                nodes.append(text)
            return nodes
        inner = start + 2
        if source.startswith("- ", inner) or source.startswith("-\t", inner):
            text = text.rstrip()
            inner += 2
        if text:
            nodes.append(text)
        close = source.find("}}", inner)
        if close < 0:
            raise _parse_error(source, start, "unclosed action")
        body_end = close
        trim_next = False
        if close - 2 >= inner and source[close - 1] == "-" and source[close - 2] in " \t":
            body_end = close - 2
            trim_next = True
        tokens = _tokens(source, inner, body_end)
        if not tokens:
            raise _parse_error(source, start, "missing value for command")
        parser = _Parser(source, tokens, body_end)
        pipeline = parser.pipeline(tokens[0].pos)
        leftover = parser.peek()
        if leftover is not None:
            raise _parse_error(source, leftover.pos, f"unexpected {leftover.text!r} in command")
        nodes.append(pipeline)
        pos = close + 2


# --- values as Go prints them ---------------------------------------------------------------

NO_VALUE = "<no value>"


def go_type(value: Any) -> str:
    if value is None:
        return "interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def _go_value(value: Any, top: bool) -> str:
    if value is None:
        return NO_VALUE if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = " ".join(f"{k}:{_go_value(value[k], False)}" for k in sorted(value))
        return f"map[{items}]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_value(v, False) for v in value) + "]"
    return str(value)


def go_print(value: Any) -> str:
    """A value as Go's text/template prints it (`<no value>`, `[a b]`, `map[k:v]`)."""
    return _go_value(value, True)


_JSON_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(value: Any) -> str:
    """JSON as Go's json.Marshal writes it: compact, UTF-8, HTML characters escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES)


# --- functions ------------------------------------------------------------------------------


class _CallError(Exception):
    pass


def _fn_json(value: Any) -> str:
    return go_json(value)


def _fn_index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            if not isinstance(key, str):
                raise _CallError(f"value has type {go_type(key)}; should be string")
            value = value.get(key)
        elif isinstance(value, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise _CallError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(value):
                raise _CallError(f"index out of range: {key}")
            value = value[key]
        else:
            raise _CallError(f"can't index item of type {go_type(value)}")
    return value


def _fn_join(items: Any, sep: Any) -> str:
    if not isinstance(items, (list, tuple)):
        raise _CallError(f"wrong type for value; expected []string; got {go_type(items)}")
    return str(sep).join(_go_value(v, False) for v in items)


def _fn_split(text: Any, sep: Any) -> list[str]:
    return str(text).split(str(sep)) if sep else list(str(text))


def _fn_len(value: Any) -> int:
    if isinstance(value, (str, list, tuple, Mapping)):
        return len(value)
    raise _CallError(f"len of type {go_type(value)}")


def _fn_truncate(text: Any, length: Any) -> str:
    return str(text)[: int(length)]


def _fn_pad(text: Any, before: Any, after: Any) -> str:
    return " " * int(before) + go_print(text) + " " * int(after)


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, min args, max args)
    "json": (_fn_json, 1, 1),
    "index": (_fn_index, 1, 64),
    "join": (_fn_join, 2, 2),
    "split": (_fn_split, 2, 2),
    "upper": (lambda s: go_print(s).upper(), 1, 1),
    "lower": (lambda s: go_print(s).lower(), 1, 1),
    "title": (lambda s: go_print(s).title(), 1, 1),
    "len": (_fn_len, 1, 1),
    "truncate": (_fn_truncate, 2, 2),
    "pad": (_fn_pad, 3, 3),
}


# --- execution ------------------------------------------------------------------------------


class Template:
    """A parsed template; `execute(data)` renders it, `header()` names its columns."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = parse(source)

    def _exec_error(self, pos: int, context: str, message: str) -> TemplateError:
        line = self.source.count("\n", 0, pos) + 1
        column = pos - (self.source.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: :{line}:{column}: executing "" at <{context}>: {message}')

    def execute(self, data: Any) -> str:
        parts: list[str] = []
        for node in self.nodes:
            if isinstance(node, str):
                parts.append(node)
            else:
                parts.append(go_print(self._pipeline(node, data)))
        return "".join(parts)

    def _pipeline(self, pipeline: Pipeline, dot: Any) -> Any:
        value: Any = None
        for i, command in enumerate(pipeline.commands):
            value = self._command(command, dot, (value,) if i else ())
        return value

    def _command(self, command: Command, dot: Any, piped: tuple[Any, ...]) -> Any:
        first = command.operands[0]
        if isinstance(first, FuncRef):
            args = [self._operand(op, dot) for op in command.operands[1:]]
            args.extend(piped)
            function, least, most = FUNCTIONS[first.name]
            if not least <= len(args) <= most:
                want = str(least) if least == most else f"at least {least}"
                raise self._exec_error(
                    command.pos,
                    command.text,
                    f"wrong number of args for {first.name}: want {want} got {len(args)}",
                )
            try:
                return function(*args)
            except (_CallError, ValueError, TypeError) as exc:
                raise self._exec_error(
                    command.pos, command.text, f"error calling {first.name}: {exc}"
                ) from None
        if len(command.operands) > 1 or piped:
            raise self._exec_error(
                command.pos,
                command.text,
                f"can't give argument to non-function {first_text(first)}",
            )
        return self._operand(first, dot)

    def _operand(self, operand: Operand, dot: Any) -> Any:
        if isinstance(operand, Literal):
            return operand.value
        if isinstance(operand, Field):
            return self._field(operand, dot)
        if isinstance(operand, SubPipeline):
            return self._pipeline(operand.pipeline, dot)
        # a function name used as an argument: Go calls it with no arguments
        function, least, _ = FUNCTIONS[operand.name]
        if least:
            raise self._exec_error(
                operand.pos,
                operand.name,
                f"wrong number of args for {operand.name}: want {least} got 0",
            )
        return function()

    def _field(self, field: Field, dot: Any) -> Any:
        value = dot
        for name in field.path:
            if isinstance(value, Mapping):
                if name in value:
                    value = value[name]
                elif _is_struct_like(value):
                    raise self._exec_error(
                        field.pos, field.text, f'map has no entry for key "{name}"'
                    )
                else:
                    return ""
            elif value is None:
                raise self._exec_error(
                    field.pos, field.text, f"nil pointer evaluating interface {{}}.{name}"
                )
            else:
                raise self._exec_error(
                    field.pos, field.text, f"can't evaluate field {name} in type {go_type(value)}"
                )
        return value

    def header(self, names: Mapping[str, str] | None = None) -> str:
        """The table header: each action replaced by the name of the field it shows."""
        parts: list[str] = []
        for node in self.nodes:
            if isinstance(node, str):
                parts.append(node)
                continue
            field = _first_field(node)
            if field is None or not field.path:
                parts.append("")
                continue
            key = field.path[-1]
            if names and key in names:
                parts.append(names[key])
            else:
                parts.append(header_name(key))
        return "".join(parts)


def _is_struct_like(value: Mapping[str, Any]) -> bool:
    return any(isinstance(key, str) and key[:1].isupper() for key in value)


def first_text(operand: Operand) -> str:
    return operand.name if isinstance(operand, FuncRef) else operand.text


def _first_field(pipeline: Pipeline) -> Field | None:
    for command in pipeline.commands:
        for operand in command.operands:
            if isinstance(operand, Field):
                return operand
            if isinstance(operand, SubPipeline):
                found = _first_field(operand.pipeline)
                if found is not None:
                    return found
    return None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def header_name(field: str) -> str:
    """`RepoTags` -> `REPO TAGS`, `ID` -> `ID`, as docker's column headers read."""
    return _CAMEL.sub(" ", field).upper()
