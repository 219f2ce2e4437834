"""`berth completion SHELL`: print the shell completion script (click's completion)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_BERTH_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  source <(berth completion bash)      (or save it in /etc/bash_completion.d/berth)
    zsh:   source <(berth completion zsh)
    fish:  berth completion fish > ~/.config/fish/completions/berth.fish
    """
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    if completion_class is None:  # click always has these three
        raise click.UsageError(f"no completion support for {shell}")
    root = ctx.find_root().command
    script = completion_class(root, {}, "berth", COMPLETE_VAR).source()
    click.echo(script, nl=not script.endswith("\n"))
