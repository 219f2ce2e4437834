"""Container calls of the API: create, start, attach, wait, stop, kill, remove, list, inspect,
logs, stats, top, exec, resize, rename, pause, prune — Docker's paths and query parameters.

Attach and exec start answer `101 UPGRADED` and give a `RawStream`; `Wait` sends its request
and returns once the answer's head is in (the exit code comes with its body, at the exit), as
the docker CLI needs before it starts a container. `FrameReader` splits the 8-byte-header
frames of a stream without a TTY into stdout, stderr and the daemon's own error frames.
"""

from __future__ import annotations

import _socket
import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from berth.client.api import APIClient, Query
from berth.client.errors import DaemonError, ProtocolError
from berth.client.paths import container_path, exec_path
from berth.client.system import encode_filters
from berth.client.transport import Connection, RawStream, Response

JSONObject = dict[str, Any]

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
FRAME_HEADER = 8


def _object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
    return value


def _objects(value: Any, what: str) -> list[JSONObject]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError(f"the berth daemon answered {what} with no list of objects")
    return value


def _flag(value: bool) -> str | None:
    """Docker's client sends a true boolean as "1" and leaves a false one out."""
    return "1" if value else None


# --- lifecycle ---------------------------------------------------------------------------------


def create(
    api: APIClient, body: Mapping[str, Any], *, name: str = "", platform: str = ""
) -> JSONObject:
    """`POST /containers/create`: {"Id": ..., "Warnings": [...]}."""
    query = {"name": name or None, "platform": platform or None}
    return _object(api.post_json("/containers/create", body, query), "POST /containers/create")


def start(api: APIClient, ref: str) -> None:
    api.request("POST", container_path(ref, "start"))


def stop(api: APIClient, ref: str, *, signal: str = "", timeout: int | None = None) -> None:
    query: Query = {"signal": signal or None, "t": timeout}
    api.request("POST", container_path(ref, "stop"), query=query)


def restart(api: APIClient, ref: str, *, signal: str = "", timeout: int | None = None) -> None:
    query: Query = {"signal": signal or None, "t": timeout}
    api.request("POST", container_path(ref, "restart"), query=query)


def kill(api: APIClient, ref: str, signal: str = "") -> None:
    api.request("POST", container_path(ref, "kill"), query={"signal": signal or None})


def remove(
    api: APIClient, ref: str, *, force: bool = False, volumes: bool = False, links: bool = False
) -> None:
    query = {"v": _flag(volumes), "link": _flag(links), "force": _flag(force)}
    api.request("DELETE", container_path(ref), query=query)


def pause(api: APIClient, ref: str) -> None:
    api.request("POST", container_path(ref, "pause"))


def unpause(api: APIClient, ref: str) -> None:
    api.request("POST", container_path(ref, "unpause"))


def rename(api: APIClient, ref: str, new_name: str) -> None:
    api.request("POST", container_path(ref, "rename"), query={"name": new_name})


def resize(api: APIClient, ref: str, height: int, width: int) -> None:
    api.request("POST", container_path(ref, "resize"), query={"h": height, "w": width})


def prune(api: APIClient, filters: Mapping[str, Sequence[str]]) -> JSONObject:
    """`POST /containers/prune`: {"ContainersDeleted": [...], "SpaceReclaimed": N}."""
    query = {"filters": encode_filters(filters)} if filters else None
    value = api.post_json("/containers/prune", query=query)
    return {} if value is None else _object(value, "POST /containers/prune")


# --- reading -----------------------------------------------------------------------------------


def list_containers(
    api: APIClient,
    *,
    all_containers: bool = False,
    limit: int = -1,
    size: bool = False,
    filters: Mapping[str, Sequence[str]] | None = None,
) -> list[JSONObject]:
    """`GET /containers/json`: container summaries, newest first."""
    query: dict[str, str | int | None] = {
        "all": _flag(all_containers),
        "limit": limit if limit > 0 else None,
        "size": _flag(size),
    }
    if filters:
        query["filters"] = encode_filters(filters)
    return _objects(api.get_json("/containers/json", query), "GET /containers/json")


def inspect(api: APIClient, ref: str, *, size: bool = False) -> JSONObject:
    """`GET /containers/{ref}/json`."""
    path = container_path(ref, "json")
    return _object(api.get_json(path, {"size": _flag(size)}), f"GET {path}")


def top(api: APIClient, ref: str, ps_args: Sequence[str] = ()) -> JSONObject:
    """`GET /containers/{ref}/top`: {"Titles": [...], "Processes": [[...], ...]}."""
    path = container_path(ref, "top")
    query = {"ps_args": " ".join(ps_args) or None}
    return _object(api.get_json(path, query), f"GET {path}")


def logs(
    api: APIClient,
    ref: str,
    *,
    follow: bool = False,
    since: str = "",
    until: str = "",
    timestamps: bool = False,
    tail: str = "all",
    details: bool = False,
) -> Iterator[bytes]:
    """`GET /containers/{ref}/logs`: the raw body (frames without a TTY), piece by piece."""
    query = {
        "stdout": "1",
        "stderr": "1",
        "since": since or None,
        "until": until or None,
        "timestamps": _flag(timestamps),
        "follow": _flag(follow),
        "tail": tail,
        "details": _flag(details),
    }
    return api.stream_bytes("GET", container_path(ref, "logs"), query=query)


def stats(api: APIClient, ref: str, *, stream: bool) -> Iterator[JSONObject]:
    """`GET /containers/{ref}/stats`: one stats object, or one per second while streaming."""
    path = container_path(ref, "stats")
    query = {"stream": "1" if stream else "0"}
    for value in api.stream_json("GET", path, query=query):
        yield _object(value, f"GET {path}")


# --- attach, wait ------------------------------------------------------------------------------


def attach(
    api: APIClient,
    ref: str,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    detach_keys: str = "",
    logs: bool = False,
) -> RawStream:
    """`POST /containers/{ref}/attach?stream=1...`, answered by 101: the raw stream."""
    query = {
        "stream": "1",
        "stdin": _flag(stdin),
        "stdout": _flag(stdout),
        "stderr": _flag(stderr),
        "detachKeys": detach_keys or None,
        "logs": _flag(logs),
    }
    return api.hijack("POST", container_path(ref, "attach"), query=query)


class Wait:
    """`POST /containers/{ref}/wait?condition=...`, sent at once: the constructor returns when
    the answer's head is in (the daemon is then waiting for us); `result()` blocks until the
    body says how the container ended.

    Conditions: "" (not-running), "next-exit", "removed".
    """

    def __init__(self, api: APIClient, ref: str, condition: str = "") -> None:
        self.path = container_path(ref, "wait")
        self._conn: Connection | None
        self._response: Response | None
        query = {"condition": condition or None}
        self._conn, self._response = api.open("POST", self.path, query=query)

    def result(self) -> tuple[int, str]:
        """(exit code, error message or ""). A cut answer raises ProtocolError."""
        if self._conn is None or self._response is None:
            raise RuntimeError("result() was already read")
        try:
            data = self._response.read()
        except OSError as exc:
            raise ProtocolError(f"the answer to POST {self.path} broke off: {exc}") from exc
        finally:
            self.close()
        try:
            value = _object(json.loads(data), f"POST {self.path}")
        except ValueError as exc:
            raise ProtocolError(
                f"the berth daemon answered POST {self.path} with {data!r}"
            ) from exc
        error = value.get("Error")
        message = error.get("Message") if isinstance(error, dict) else None
        code = value.get("StatusCode")
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError(f"the berth daemon answered POST {self.path} with no StatusCode")
        return code, message if isinstance(message, str) else ""

    def close(self) -> None:
        """Stop waiting (closes the connection; a blocked `result()` then fails)."""
        conn, self._conn, self._response = self._conn, None, None
        if conn is not None:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(_socket.SHUT_RDWR)
            conn.close()


# --- exec --------------------------------------------------------------------------------------


def exec_create(api: APIClient, ref: str, config: Mapping[str, Any]) -> str:
    """`POST /containers/{ref}/exec`: the new exec's ID."""
    path = container_path(ref, "exec")
    value = _object(api.post_json(path, config), f"POST {path}")
    exec_id = value.get("Id")
    if not isinstance(exec_id, str) or not exec_id:
        raise ProtocolError("exec ID empty")
    return exec_id


def _exec_start_body(detach: bool, tty: bool, console_size: Sequence[int] | None) -> JSONObject:
    body: JSONObject = {"Detach": detach, "Tty": tty}
    if console_size is not None:
        body["ConsoleSize"] = list(console_size)
    return body


def exec_start(
    api: APIClient, exec_id: str, *, tty: bool, console_size: Sequence[int] | None = None
) -> None:
    """`POST /exec/{id}/start` with Detach: the command runs on its own."""
    body = _exec_start_body(True, tty, console_size)
    api.request("POST", exec_path(exec_id, "start"), body=body)


def exec_attach(
    api: APIClient, exec_id: str, *, tty: bool, console_size: Sequence[int] | None = None
) -> RawStream:
    """`POST /exec/{id}/start`, answered by 101: the command's raw stream."""
    body = _exec_start_body(False, tty, console_size)
    return api.hijack("POST", exec_path(exec_id, "start"), body=body)


def exec_resize(api: APIClient, exec_id: str, height: int, width: int) -> None:
    api.request("POST", exec_path(exec_id, "resize"), query={"h": height, "w": width})


def exec_inspect(api: APIClient, exec_id: str) -> JSONObject:
    path = exec_path(exec_id, "json")
    return _object(api.get_json(path), f"GET {path}")


# --- the multiplexed stream --------------------------------------------------------------------


class FrameError(ProtocolError):
    """The stream is not made of Docker's frames."""


class FrameReader:
    """Splits Docker's multiplexed stream: `[stream][0 0 0][size: u32 big-endian][bytes]`.

    `feed(data)` returns the complete frames in `data` (and what was left from before) as
    (stream, bytes) pairs; `leftover()` says whether a frame was cut at the end.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buffer) >= FRAME_HEADER:
            stream = self._buffer[0]
            if stream not in (STDIN, STDOUT, STDERR, SYSTEMERR):
                raise FrameError(f"Unrecognized input header: {stream}")
            size = int.from_bytes(self._buffer[4:8], "big")
            if len(self._buffer) < FRAME_HEADER + size:
                break
            frames.append((stream, bytes(self._buffer[FRAME_HEADER : FRAME_HEADER + size])))
            del self._buffer[: FRAME_HEADER + size]
        return frames

    def leftover(self) -> bool:
        return bool(self._buffer)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, DaemonError) and exc.status == 404
