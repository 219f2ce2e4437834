"""Which daemon to talk to: `-H/--host`, else BERTH_HOST, else DOCKER_HOST, else the default."""

from __future__ import annotations

import os

from berth.client.errors import HostError

# typing (and the `re` it imports) costs ~9 ms of the client's start-up: types only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal

DEFAULT_SOCKET = "/run/berth/berth.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"
DEFAULT_TCP_PORT = 2375


class Host:
    """A parsed daemon address.

    `is_default` is true only when no address was given at all (flag nor environment): only
    then may the client start a daemon on demand. (A plain class, not a dataclass: creating a
    dataclass costs start-up time.)
    """

    __slots__ = ("hostname", "is_default", "path", "port", "scheme", "url")

    def __init__(
        self,
        url: str,
        scheme: Literal["unix", "tcp"],
        path: str = "",
        hostname: str = "",
        port: int = 0,
        is_default: bool = False,
    ) -> None:
        self.url = url
        self.scheme = scheme
        self.path = path
        self.hostname = hostname
        self.port = port
        self.is_default = is_default

    def __repr__(self) -> str:
        return f"Host({self.url!r}, is_default={self.is_default})"


def parse_host(url: str, *, is_default: bool = False) -> Host:
    """Parse `unix:///path` or `tcp://host[:port]`; raise HostError for anything else."""
    text = url.strip()
    if not text:
        raise HostError("empty daemon address: use unix:///path/to/socket or tcp://host:port")
    if text.startswith("unix://"):
        path = text[len("unix://") :]
        if not path.startswith("/"):
            raise HostError(
                f'invalid daemon address "{url}": a unix socket needs an absolute path, '
                "as in unix:///run/berth/berth.sock"
            )
        return Host(url=text, scheme="unix", path=path, is_default=is_default)
    if text.startswith("tcp://"):
        hostname, port = _host_and_port(text[len("tcp://") :].removesuffix("/"), url)
        return Host(url=text, scheme="tcp", hostname=hostname, port=port, is_default=is_default)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    what = f'unsupported scheme "{scheme}"' if scheme else "no scheme"
    raise HostError(
        f'invalid daemon address "{url}" ({what}): use unix:///path/to/socket or tcp://host:port'
    )


def _host_and_port(address: str, url: str) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` (the part after tcp://)."""
    usage = f'invalid daemon address "{url}": use tcp://host:port'
    if address.startswith("["):
        hostname, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise HostError(usage)
        port_text = rest[1:]
    else:
        hostname, _, port_text = address.partition(":")
    if not hostname or "/" in address or "@" in address:
        raise HostError(usage)
    if not port_text:
        return hostname, DEFAULT_TCP_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise HostError(f'invalid daemon address "{url}": bad port "{port_text}"')
    return hostname, int(port_text)


def resolve_host(flag: str | None, environ: Mapping[str, str] | None = None) -> Host:
    """The daemon address for this invocation, by precedence flag > BERTH_HOST > DOCKER_HOST."""
    env = os.environ if environ is None else environ
    for value in (flag, env.get("BERTH_HOST"), env.get("DOCKER_HOST")):
        if value:
            return parse_host(value)
    return parse_host(DEFAULT_HOST, is_default=True)
