"""Boolean flags with a value, as the docker CLI (Go's pflag) takes them: `--no-trunc=true`,
`-q=false`, `-H=false`.

click's flags take no value, so a command of class `GoFlagsCommand` rewrites such words
before parsing: `=true` (or 1, t, T, TRUE, True) becomes the flag alone; `=false` (0, f, F,
FALSE, False) becomes its `--no-…` form where it has one, and nothing where it is off by default.
"""

from __future__ import annotations

import click

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class GoFlagsCommand(click.Command):
    def _flag_forms(self) -> dict[str, tuple[str, str | None]]:
        """flag spelling -> (its "on" spelling, its "off" spelling or None)."""
        forms: dict[str, tuple[str, str | None]] = {}
        for param in self.params:
            if not isinstance(param, click.Option) or not param.is_flag or param.multiple:
                continue
            off = param.secondary_opts[0] if param.secondary_opts else None
            for name in param.opts:
                forms[name] = (name, off)
        return forms

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        forms = self._flag_forms()
        rewritten: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[i:])
                break
            name, sep, value = arg.partition("=")
            if sep and name in forms and (value in _TRUE or value in _FALSE):
                on, off = forms[name]
                if value in _TRUE:
                    rewritten.append(on)
                elif off is not None:
                    rewritten.append(off)
                continue
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)
