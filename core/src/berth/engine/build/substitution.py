"""Docker's variable substitution for Dockerfile words (``$var``, ``${var:-default}``, quotes).

It follows the shell-like lexer of Docker's builder: single quotes are literal, double quotes
allow ``$`` expansion and a few escapes, the escape character (``\\`` or the ``# escape=``
one) makes the next character literal, an unset variable expands to nothing, ``$`` not followed
by a name stays ``$``. Supported forms: ``$name``, ``${name}``, ``${name:-word}``,
``${name-word}``, ``${name:+word}``, ``${name+word}``, ``${name:?msg}``, ``${name?msg}``,
``${name#pat}``, ``${name##pat}``, ``${name%pat}``, ``${name%%pat}``, ``${name/pat/repl}`` and
``${name//pat/repl}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_SPECIAL_PARAMS = frozenset("*#@!?$-")


class SubstitutionError(ValueError):
    """A word whose substitution is malformed (``${``, bad modifier, ``${x:?}`` unset...)."""


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand one word: variables replaced, quotes and escapes removed, whitespace kept."""
    lexer = _Lexer(word, env, escape)
    text, _ = lexer.run(stop=None)
    return text


def expand_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand and split ``text`` into words as Docker does (unquoted whitespace separates)."""
    lexer = _Lexer(text, env, escape)
    _, words = lexer.run(stop=None)
    return words


class _Words:
    """Collects words: unquoted whitespace (literal or from an unquoted ``$var``) splits."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word:
                self.words.append("".join(self.current))
                self.current = []
                self.in_word = False
            return
        self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        if text:
            self.current.append(text)
            self.in_word = True

    def add_splitting(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.in_word:
            return [*self.words, "".join(self.current)]
        return list(self.words)


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def run(self, stop: str | None, raw_escapes: bool = False) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed) or the end; returns (text, words)."""
        result: list[str] = []
        words = _Words()
        while self.pos < len(self.text):
            ch = self.peek()
            if stop is not None and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "'":
                part = self._single_quoted()
                words.add_raw(part)
            elif ch == '"':
                part = self._double_quoted()
                words.add_raw(part)
            elif ch == "$":
                part = self._dollar()
                words.add_splitting(part)
            else:
                self.next()
                if ch == self.escape:
                    if raw_escapes:
                        result.append(ch)
                        words.add_raw(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                part = ch
            result.append(part)
        if stop is not None:
            raise SubstitutionError(f"syntax error: missing '{stop}'")
        return "".join(result), words.result()

    def _single_quoted(self) -> str:
        self.next()
        end = self.text.find("'", self.pos)
        if end < 0:
            raise SubstitutionError(
                "unexpected end of statement while looking for matching single-quote"
            )
        part = self.text[self.pos : end]
        self.pos = end + 1
        return part

    def _double_quoted(self) -> str:
        self.next()
        result: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise SubstitutionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(result)
            if ch == "$":
                result.append(self._dollar())
                continue
            self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            result.append(ch)

    def _name(self) -> str:
        first = self.peek()
        if first.isdigit():
            start = self.pos
            while self.peek().isdigit():
                self.next()
            return self.text[start : self.pos]
        if first and first in _SPECIAL_PARAMS:
            return self.next()
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.next()
        return self.text[start : self.pos]

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()
        if not self.peek():
            raise SubstitutionError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise SubstitutionError("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == "/":
            return self._replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if not ch:
            raise SubstitutionError("syntax error: missing '}'")
        if ch not in "+-?#%" or (null_is_unset and ch in "#%"):
            raise SubstitutionError(f"unsupported modifier ({modifier}) in substitution")
        word, _ = self.run(stop="}", raw_escapes=ch in "#%")
        value = self.env.get(name)
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else (value or "")
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        pattern = word[1:] if greedy else word
        return _trim(value or "", pattern, greedy, suffix=ch == "%")

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.run(stop="/", raw_escapes=True)
        except SubstitutionError:
            raise SubstitutionError("syntax error: missing '/' in ${}") from None
        replacement, _ = self.run(stop="}", raw_escapes=True)
        value = self.env.get(name, "")
        regex = _pattern_regex(pattern, self.escape, greedy=True)
        return regex.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


def _trim(value: str, pattern: str, greedy: bool, suffix: bool) -> str:
    """``${v#p}``/``${v##p}`` (prefix) and ``${v%p}``/``${v%%p}`` (suffix) removal."""
    regex = _pattern_regex(pattern, "\\", greedy)
    cuts = range(len(value) + 1)
    # Shortest match first unless greedy; a prefix ends at cut, a suffix starts at cut.
    order = list(cuts) if greedy == suffix else list(reversed(cuts))
    for cut in order:
        part = value[cut:] if suffix else value[:cut]
        if regex.fullmatch(part):
            return value[:cut] if suffix else value[cut:]
    return value


def _pattern_regex(pattern: str, escape: str, greedy: bool) -> re.Pattern[str]:
    """A shell glob (``*``, ``?``, ``[...]``, escapes) as a regex."""
    out: list[str] = []
    i = 0
    star = ".*" if greedy else ".*?"
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)
