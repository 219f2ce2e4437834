"""The state the root group hands to every command: which daemon, debug or not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from berth.client.api import APIClient


class CliState:
    """(A plain class, not a dataclass: creating a dataclass costs start-up time.)"""

    __slots__ = ("debug", "host")

    def __init__(self, host: str | None = None, debug: bool = False) -> None:
        self.host = host
        self.debug = debug

    def api(self) -> APIClient:
        """A client of the daemon chosen by -H / BERTH_HOST / DOCKER_HOST / the default.

        On the default socket it may start berthd (as root, when nothing answers there).
        """
        from berth.client.api import APIClient
        from berth.client.hosts import Host, resolve_host

        def autostart(host: Host) -> None:  # imported only when nothing answers
            from berth.client.autostart import Autostarter

            Autostarter()(host)

        host = resolve_host(self.host)
        return APIClient(
            host,
            autostart=autostart if host.is_default else None,
            debug=self._debug_line if self.debug else None,
        )

    def _debug_line(self, text: str) -> None:
        click.echo(f"DEBU {text}", err=True)


pass_state = click.make_pass_decorator(CliState, ensure=True)
