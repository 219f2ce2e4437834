"""The daemon's file operations on containers: path stat, archive get and put, export,
changes, commit (standard library only: the client stays light)."""

from __future__ import annotations

import binascii  # not base64, which loads `re`

from berth.client import jsonlite  # not json: `cp` and `commit` have a lean start (fastpath)
from berth.client.api import APIClient
from berth.client.errors import DaemonError, ProtocolError
from berth.client.paths import container_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any, BinaryIO

STAT_HEADER = "x-docker-container-path-stat"

#: Go's os.FileMode bits that the stat carries.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27


def _path_of(ref: str) -> str:
    return container_path(ref, "archive")


def _decode_stat(value: str) -> dict[str, Any]:
    try:
        data = jsonlite.loads(binascii.a2b_base64(value))
    except ValueError as exc:
        raise ProtocolError(f"the daemon sent a bad path stat: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("the daemon sent a bad path stat")
    return data


def stat_path(api: APIClient, ref: str, path: str) -> dict[str, Any] | None:
    """The stat of ``path`` in the container; None when it does not exist."""
    try:
        _, headers, _ = api.request("HEAD", _path_of(ref), query={"path": path})
    except DaemonError as exc:
        # A HEAD answer has no body: a 404 without a message is the path, not the container.
        if exc.status == 404 and "no such container" not in exc.message.lower():
            return None
        raise
    value = {k.lower(): v for k, v in headers.items()}.get(STAT_HEADER)
    if value is None:
        raise ProtocolError("the daemon sent no path stat")
    return _decode_stat(value)


def get_archive(api: APIClient, ref: str, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
    """The stat of ``path`` and the tar stream of it (read it to its end, or close it)."""
    conn, response = api.open("GET", _path_of(ref), query={"path": path})
    value = response.headers.get(STAT_HEADER)
    if value is None:
        conn.close()
        raise ProtocolError("the daemon sent no path stat")

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := response.read1(1 << 20):
                yield chunk
        except OSError as exc:
            raise ProtocolError(f"the daemon's archive broke off: {exc}") from exc
        finally:
            conn.close()

    return _decode_stat(value), chunks()


def put_archive(
    api: APIClient, ref: str, path: str, archive: BinaryIO, *, copy_uid_gid: bool = False
) -> None:
    """Unpack the tar ``archive`` into the directory ``path`` of the container."""
    query: dict[str, str | bool] = {
        "path": path,
        "noOverwriteDirNonDir": "true",
        "copyUIDGID": copy_uid_gid,
    }
    for _ in api.stream_json("PUT", _path_of(ref), query=query, upload=archive):
        pass


def export(api: APIClient, ref: str) -> Iterator[bytes]:
    return api.stream_bytes("GET", container_path(ref, "export"))


def changes(api: APIClient, ref: str) -> list[dict[str, Any]]:
    found = api.get_json(container_path(ref, "changes"))
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def commit(
    api: APIClient,
    ref: str,
    *,
    repo: str = "",
    tag: str = "",
    comment: str = "",
    author: str = "",
    changes: Sequence[str] = (),
    pause: bool = True,
) -> str:
    query: dict[str, str | bool | list[str] | None] = {
        "container": ref,
        "repo": repo or None,
        "tag": tag or None,
        "comment": comment or None,
        "author": author or None,
        "changes": list(changes) or None,
        "pause": pause,
    }
    answer = api.post_json("/commit", None, query=query)
    if not isinstance(answer, dict) or not isinstance(answer.get("Id"), str):
        raise ProtocolError("the daemon's answer to commit has no image ID")
    return str(answer["Id"])
