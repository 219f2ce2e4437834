"""The API client: versioned paths, JSON requests, streamed JSON answers, Docker error shape."""

from __future__ import annotations

import codecs
import errno

from berth import __version__
from berth.client import jsonlite  # not json: its `re` and typing cost the client ~10 ms
from berth.client.errors import (
    CannotConnect,
    ClientError,
    DaemonError,
    ProtocolError,
    UploadError,
)
from berth.client.hosts import Host
from berth.client.transport import Connection, RawStream, Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any, BinaryIO, TypeAlias

API_VERSION = "1.44"
USER_AGENT = f"Berth-Client/{__version__} (linux)"

# strings at run time (only annotations use them): no typing import on the client's start-up
Query: TypeAlias = "Mapping[str, str | int | bool | list[str] | None]"
Autostart: TypeAlias = "Callable[[Host], None]"

# connect() errors meaning "nobody listens there" (as opposed to "not allowed", "bad address")
_NOT_LISTENING = (errno.ENOENT, errno.ECONNREFUSED)


def _encode_query(query: Query | None) -> str:
    if not query:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, list):  # a repeated parameter: names=a&names=b
            pairs.extend((key, item) for item in value)
        elif isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        else:
            pairs.append((key, str(value)))
    return "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs) if pairs else ""


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(text: str) -> str:
    """Percent-encode a query key or value (RFC 3986: all but the unreserved characters)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in text.encode())


def _error_message(status: int, reason: str, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = jsonlite.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return text or f"{status} {reason}".strip()


class APIClient:
    """Talks to one daemon. Each request opens its own connection (the CLI makes few)."""

    def __init__(
        self,
        host: Host,
        *,
        autostart: Autostart | None = None,
        timeout: float | None = None,
        debug: Callable[[str], None] | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self._autostart = autostart if host.is_default else None
        self._debug = debug

    # --- connections -------------------------------------------------------------------

    def _connect(self, timeout: float | None) -> Connection:
        try:
            return self._connect_once(timeout)
        except CannotConnect as exc:
            if self._autostart is None or not isinstance(exc.__cause__, OSError):
                raise
            if exc.__cause__.errno not in _NOT_LISTENING:
                raise
            autostart, self._autostart = self._autostart, None  # one attempt per client
            autostart(self.host)
            return self._connect_once(timeout)

    def _connect_once(self, timeout: float | None) -> Connection:
        conn = Connection(self.host, timeout=timeout)
        try:
            conn.connect()
        except PermissionError as exc:
            conn.close()
            raise ClientError(
                f"permission denied while trying to connect to the berth daemon socket at "
                f'{self.host.url}: run as root or as a member of the "berth" group'
            ) from exc
        except OSError as exc:
            conn.close()
            raise CannotConnect(self.host.url) from exc
        return conn

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        versioned: bool = True,
        timeout: float | None = None,
        upload: BinaryIO | None = None,
        content_type: str = "application/x-tar",
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[Connection, Response]:
        """Send one request. `body` is sent as JSON; `upload`, a stream, is sent chunked as is."""
        target = (f"/v{API_VERSION}" if versioned else "") + path + _encode_query(query)
        headers = {"User-Agent": USER_AGENT, **(extra_headers or {})}
        payload: bytes | BinaryIO | None = None
        if upload is not None:
            payload = upload
            headers["Content-Type"] = content_type
        elif body is not None:
            payload = jsonlite.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT"):
            payload = b""
        if self._debug is not None:
            self._debug(f"{method} {self.host.url}{target}")
        conn = self._connect(self.timeout if timeout is None else timeout)
        try:
            response = conn.request(method, target, headers, payload)
        except (OSError, ProtocolError) as exc:
            conn.close()
            failure = conn.upload_failure()
            if failure is not None:
                raise UploadError(failure) from exc
            raise ClientError(
                f"error during connect: {method} {self.host.url}{target}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        if response.status >= 400:
            try:
                data = response.read()
            except (OSError, ProtocolError):
                data = b""
            finally:
                conn.close()
            raise DaemonError(
                response.status, _error_message(response.status, response.reason, data)
            )
        return conn, response

    # --- requests ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        versioned: bool = True,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; return (status, headers, body). Error statuses raise DaemonError."""
        conn, response = self._send(
            method, path, query=query, body=body, versioned=versioned, timeout=timeout
        )
        try:
            data = response.read()
        except (OSError, ProtocolError) as exc:
            raise ProtocolError(
                f"the berth daemon at {self.host.url} cut its answer: {exc}"
            ) from exc
        finally:
            conn.close()
        return response.status, dict(response.headers), data

    def _json(self, method: str, path: str, query: Query | None, body: Any) -> Any:
        _, _, data = self.request(method, path, query=query, body=body)
        if not data.strip():
            return None
        try:
            return jsonlite.loads(data)
        except ValueError as exc:
            raise ProtocolError(
                f"the berth daemon answered {method} {path} with invalid JSON: {exc}"
            ) from exc

    def get_json(self, path: str, query: Query | None = None) -> Any:
        return self._json("GET", path, query, None)

    def post_json(self, path: str, body: Any = None, query: Query | None = None) -> Any:
        return self._json("POST", path, query, body)

    def stream_json(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: Any = None,
        upload: BinaryIO | None = None,
        content_type: str = "application/x-tar",
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """Yield each JSON value of a streamed answer (JSON lines, chunked or not) as it comes.

        `upload`, when given, is a stream sent as the request's body (chunked) while the answer
        is read. The stream has no timeout: it lasts until the daemon ends it or the caller
        stops. An answer that is not JSON (an old daemon's plain text) is yielded as
        {"stream": text}.
        """
        conn, response = self._send(
            method,
            path,
            query=query,
            body=body,
            timeout=None,
            upload=upload,
            content_type=content_type,
            extra_headers=headers,
        )
        if conn.sock is not None:
            conn.sock.settimeout(None)
        try:
            if "json" not in response.headers.get("content-type", "application/json"):
                while chunk := response.read1():
                    yield {"stream": chunk.decode("utf-8", "replace")}
            else:
                yield from _decode_json_stream(response, f"{method} {path}")
        except ProtocolError as exc:
            failure = conn.upload_failure()
            if failure is None:
                raise
            raise UploadError(failure) from exc
        finally:
            conn.close()

    def stream_bytes(
        self, method: str, path: str, *, query: Query | None = None
    ) -> Iterator[bytes]:
        """Yield the raw body of an answer (an archive) piece by piece as it arrives.

        An answer cut before its end raises ProtocolError: a partial archive is never taken
        for a whole one.
        """
        conn, response = self._send(method, path, query=query, timeout=None)
        if conn.sock is not None:
            conn.sock.settimeout(None)
        try:
            while True:
                try:
                    chunk = response.read1()
                except (OSError, ProtocolError) as exc:
                    raise ProtocolError(
                        f"the answer of the berth daemon to {method} {path} broke off: {exc}"
                    ) from exc
                if not chunk:
                    return
                yield chunk
        finally:
            conn.close()

    def open(
        self, method: str, path: str, *, query: Query | None = None, body: Any = None
    ) -> tuple[Connection, Response]:
        """Send a request and return as soon as the answer's head is in (its body comes later:
        `POST /containers/{id}/wait` answers at once and says the exit code at the exit).

        The caller reads the body and closes the connection. Error statuses raise DaemonError.
        """
        conn, response = self._send(method, path, query=query, body=body, timeout=None)
        if conn.sock is not None:
            conn.sock.settimeout(None)
        return conn, response

    def hijack(
        self, method: str, path: str, *, query: Query | None = None, body: Any = None
    ) -> RawStream:
        """A request answered by `101 UPGRADED` (attach, exec start): the raw stream after it.

        Error statuses raise DaemonError; any other answer than 101 is refused, as docker does.
        """
        upgrade = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if body is None:
            upgrade["Content-Type"] = "text/plain"
        conn, response = self._send(
            method, path, query=query, body=body, timeout=None, extra_headers=upgrade
        )
        if response.status != 101:
            conn.close()
            raise ProtocolError(f"unable to upgrade to tcp, received {response.status}")
        return conn.raw_stream(response.headers.get("content-type", ""))

    def ping(self, timeout: float | None = None) -> str:
        """`GET /_ping`: "OK" when the daemon is up."""
        _, _, data = self.request("GET", "/_ping", versioned=False, timeout=timeout)
        return data.decode("utf-8", "replace")


def _decode_json_stream(response: Response, what: str) -> Iterator[Any]:
    utf8 = codecs.getincrementaldecoder("utf-8")("replace")
    buffer = ""
    while True:
        try:
            chunk = response.read1(65536)
        except (OSError, ProtocolError) as exc:
            raise ProtocolError(f"the stream of {what} broke off: {exc}") from exc
        if not chunk:
            break
        buffer += utf8.decode(chunk)
        while True:
            buffer = buffer.lstrip()
            if not buffer:
                break
            try:
                value, end = jsonlite.raw_decode(buffer)
            except ValueError:
                break  # an incomplete value: wait for more
            yield value
            buffer = buffer[end:]
    buffer = (buffer + utf8.decode(b"", final=True)).strip()
    if buffer:
        raise ProtocolError(f"the stream of {what} ended inside a JSON value: {buffer[:80]!r}")
