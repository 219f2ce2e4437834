"""What the lean commands (`berth.cli.fastpath`) share: a client of a daemon that answers, and
errors reported as the full CLI reports them."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.client.api import APIClient


def answering_api() -> APIClient | None:
    """A client of the daemon when one listens on its UNIX socket; None otherwise (the full
    CLI then starts it, or says why it cannot be reached)."""
    import _socket

    from berth.client.api import APIClient
    from berth.client.errors import ClientError
    from berth.client.hosts import resolve_host

    try:
        host = resolve_host(None)
    except ClientError:
        return None
    if host.scheme != "unix":
        return None
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.connect(host.path)
    except OSError:
        return None
    finally:
        probe.close()
    return APIClient(host)


def reported(work: Callable[[], None]) -> int:
    """Run ``work``: 0, or its error as the full CLI prints it (one line, status 1)."""
    from berth.cli.errors import CliError
    from berth.client.errors import ClientError

    try:
        work()
    except (ClientError, CliError) as exc:
        sys.stdout.flush()
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `berth cp C:/x - | head`: the reader left; say nothing more
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        sys.stderr.write(
            f"berth: unexpected error: {type(exc).__name__}: {exc} "
            "(run with -D for the traceback, and please report it)\n"
        )
        return 1
    return 0
