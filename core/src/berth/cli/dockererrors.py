"""How the docker CLI reports errors of its own, with its exit statuses.

- A bad flag (unknown, missing its value, a value that does not parse) is a usage error:
  the message, the command's usage line and a hint, exit status 125.
- Too few or too many arguments: `berth: 'berth run' requires at least 1 argument`, the usage
  line and a hint, exit status 1.
- `run`/`create` say what is wrong with the options, or what the daemon answered, as
  `berth: <message>` and a hint, with 125 (or 126/127 when the container's command cannot be
  run, and the container's own exit status once it ran).

`DockerCommand` (a `GoFlagsCommand`) turns click's parsing errors into these, so that every
container command fails the way docker's does.
"""

from __future__ import annotations

from typing import IO, Any

import click

from berth.cli.exitstatus import BIN_NAME as BIN_NAME  # re-exported: their old home
from berth.cli.exitstatus import FlagError as FlagError
from berth.cli.exitstatus import with_help as with_help
from berth.cli.goflags import _FALSE, _TRUE, GoFlagsCommand

USAGE_ERROR = 125


class StatusError(click.ClickException):
    """Print `message` (when there is one) on stderr and exit with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: IO[Any] | None = None) -> None:
        if self.message:
            click.echo(self.message, err=True)


def flag_error(ctx: click.Context, message: str) -> StatusError:
    command = ctx.command
    use = getattr(command, "use", "[OPTIONS]")
    text = (
        f"{message}\n\nUsage:  {ctx.command_path} {use}\n\n"
        f"Run '{ctx.command_path} --help' for more information"
    )
    return StatusError(text, USAGE_ERROR)


def args_error(ctx: click.Context, message: str, hint: str = "Run") -> StatusError:
    use = getattr(ctx.command, "use", "[OPTIONS]")
    text = (
        f"{BIN_NAME}: '{ctx.command_path}' {message}\n\nUsage:  {ctx.command_path} {use}\n\n"
        f"{hint} '{ctx.command_path} --help' for more information"
    )
    return StatusError(text, 1)


def _plural(word: str, count: int) -> str:
    return word if count == 1 else word + "s"


class DockerCommand(GoFlagsCommand):
    """A command whose flag and argument errors read and exit like docker's.

    `use` is docker's usage after the command path; `min_args`/`max_args` bound the
    positional arguments (declare them as one `nargs=-1` argument).
    """

    def __init__(
        self,
        *args: Any,
        use: str = "[OPTIONS]",
        min_args: int = 0,
        max_args: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.use = use
        self.min_args = min_args
        self.max_args = max_args

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [self.use]

    def _value_options(self) -> dict[str, click.Option]:
        found: dict[str, click.Option] = {}
        for param in self.params:
            if isinstance(param, click.Option) and not param.is_flag:
                for name in param.opts:
                    found[name] = param
        return found

    def _flag_names(self) -> set[str]:
        names: set[str] = set()
        for param in self.params:
            if isinstance(param, click.Option) and param.is_flag:
                names.update(param.opts)
        return names

    def _rewrite(self, ctx: click.Context, args: list[str]) -> list[str]:
        """pflag's forms click reads otherwise: `-e=VALUE`, and `--flag=notabool` errors."""
        value_options = self._value_options()
        flags = self._flag_names()
        out: list[str] = []
        allow_after_positional = ctx.allow_interspersed_args
        for i, arg in enumerate(args):
            positional = arg == "--" or (not arg.startswith("-") and not allow_after_positional)
            if positional and (not out or out[-1] not in value_options):
                out.extend(args[i:])  # the rest is the container's command line
                break
            name, sep, value = arg.partition("=")
            if sep and len(name) == 2 and name.startswith("-") and name in value_options:
                out.extend((name, value))
                continue
            if sep and name in flags and value not in _TRUE and value not in _FALSE:
                raise flag_error(
                    ctx,
                    f'invalid argument "{value}" for "{_display_name(self, name)}" flag: '
                    f'strconv.ParseBool: parsing "{value}": invalid syntax',
                )
            out.append(arg)
        return out

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--help" in args[: args.index("--")] if "--" in args else "--help" in args:
            return super().parse_args(ctx, args)
        try:
            rest = super().parse_args(ctx, self._rewrite(ctx, args))
        except click.NoSuchOption as exc:
            name = exc.option_name
            if name.startswith("--"):
                raise flag_error(ctx, f"unknown flag: {name}") from None
            raise flag_error(ctx, f"unknown shorthand flag: '{name[1:]}' in {name}") from None
        except click.BadOptionUsage as exc:
            name = exc.option_name
            if "requires an argument" in exc.message or "requires" in exc.message:
                what = name if name.startswith("--") else f"'{name[1:]}' in {name}"
                raise flag_error(ctx, f"flag needs an argument: {what}") from None
            raise flag_error(ctx, exc.message) from None
        except click.BadParameter as exc:
            raise flag_error(ctx, exc.message) from None
        except click.UsageError as exc:
            raise flag_error(ctx, exc.message) from None
        count = len(ctx.params.get("args") or ())
        low, high = self.min_args, self.max_args
        if high == 0 and count:  # NoArgs
            raise args_error(ctx, "accepts no arguments")
        if high is not None and low == high and count != low:  # docker's ExactArgs
            raise args_error(ctx, f"requires {low} {_plural('argument', low)}")
        if high is not None and low and not low <= count <= high:  # RequiresRangeArgs
            raise args_error(
                ctx, f"requires at least {low} and at most {high} {_plural('argument', high)}"
            )
        if count < low:  # RequiresMinArgs
            raise args_error(ctx, f"requires at least {low} {_plural('argument', low)}", "See")
        if high is not None and count > high:  # RequiresMaxArgs
            raise args_error(ctx, f"requires at most {high} {_plural('argument', high)}")
        return rest


def _display_name(command: click.Command, name: str) -> str:
    """pflag's name of a flag in messages: `-m, --memory` or `--memory-swap`."""
    for param in command.params:
        if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
            return display_name(param)
    return name


def display_name(param: click.Option) -> str:
    longs = [o for o in param.opts if o.startswith("--")]
    shorts = [o for o in param.opts if not o.startswith("--")]
    long = longs[0] if longs else param.opts[0]
    return f"{shorts[0]}, {long}" if shorts else long


def invalid_argument(ctx: click.Context, option: str, value: str, error: str) -> StatusError:
    """pflag's `invalid argument "V" for "-m, --memory" flag: ERROR`, as a usage error."""
    name = option
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name == option:
            name = display_name(param)
    return flag_error(ctx, f'invalid argument "{value}" for "{name}" flag: {error}')
