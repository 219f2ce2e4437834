"""Opening the sockets berthd listens on: UNIX (mode 0660, group berth) and optional TCP/TLS."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import socket
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from berth.engine.config import DaemonConfig
from berth.engine.errors import BerthError

ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]


class ListenError(BerthError):
    pass


def _socket_in_use(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


async def listen_unix(path: Path, group: str, handler: ClientHandler, log: Any) -> asyncio.Server:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if _socket_in_use(path):
            raise ListenError(f"another daemon is already listening on {path}; stop it first")
        path.unlink()  # a stale socket from a daemon that was killed
    try:
        server = await asyncio.start_unix_server(handler, path=str(path), limit=2**20)
    except OSError as exc:
        raise ListenError(f"cannot listen on unix://{path}: {exc.strerror}") from None
    os.chmod(path, 0o660)
    try:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    except KeyError:
        log.info("listen.no_group", group=group, detail="socket stays root-only")
    except PermissionError:
        pass
    return server


def _tls_context(config: DaemonConfig) -> ssl.SSLContext | None:
    if not (config["tls"] or config["tlsverify"]):
        return None
    if not config["tlscert"] or not config["tlskey"]:
        raise ListenError("TLS needs --tlscert and --tlskey")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config["tlscert"], config["tlskey"])
        if config["tlsverify"]:
            if not config["tlscacert"]:
                raise ListenError("--tlsverify needs --tlscacert to verify clients with")
            context.load_verify_locations(config["tlscacert"])
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenError(f"cannot load TLS files: {exc}") from None
    return context


async def listen_tcp(
    address: str, config: DaemonConfig, handler: ClientHandler, log: Any
) -> asyncio.Server:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    context = _tls_context(config)
    if context is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "listen.insecure_tcp",
            address=address,
            detail="anyone who can reach this address controls the host; use --tlsverify",
        )
    try:
        return await asyncio.start_server(handler, host, int(port), ssl=context, limit=2**20)
    except OSError as exc:
        raise ListenError(f"cannot listen on tcp://{address}: {exc.strerror}") from None


async def open_listeners(
    config: DaemonConfig, handler: ClientHandler, log: Any
) -> tuple[list[asyncio.Server], list[Path]]:
    """Open every ``hosts`` entry; on failure close what was opened and raise."""
    servers: list[asyncio.Server] = []
    sockets: list[Path] = []
    try:
        for host in config["hosts"]:
            if host.startswith("unix://"):
                path = Path(host[len("unix://") :])
                servers.append(await listen_unix(path, config["group"], handler, log))
                sockets.append(path)
            else:
                servers.append(await listen_tcp(host[len("tcp://") :], config, handler, log))
    except BaseException:
        for server in servers:
            server.close()
        for path in sockets:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return servers, sockets
