"""A small HTTP/1.1 server on asyncio streams and h11, made for the Docker Engine API.

It supports what Docker's API needs and generic frameworks make hard: responses whose
headers go out before their body exists (``wait``), chunked JSON streams (events, pull,
build), streamed request bodies (build contexts, archives), and the hijack — ``101 UPGRADED``
followed by a raw, half-closable byte stream both ways (attach, exec).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from berth.daemon.requestbody import BodyError, RequestBody, StreamInput
from berth.engine.errors import BadParameter

READ_SIZE = 65536
MAX_HEADER_BYTES = 64 * 1024
MAX_BUFFERED_BODY = 64 * 1024 * 1024  # `body()` refuses more: stream it with `stream()`


class Request:
    """One request; its body is read on demand, so handlers can stream large uploads."""

    def __init__(self, event: h11.Request, body: RequestBody) -> None:
        self.method = event.method.decode("ascii").upper()
        self.target = event.target.decode("latin-1")
        split = urlsplit(self.target)
        self.path = split.path
        self.query: dict[str, list[str]] = parse_qs(split.query, keep_blank_values=True)
        self.headers: dict[str, str] = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in event.headers
        }
        self.api_version = ""
        self.params: dict[str, str] = {}
        self._body = body

    @property
    def body_done(self) -> bool:
        return self._body.done

    @property
    def wants_upgrade(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return "upgrade" in connection and "upgrade" in self.headers

    # --- query helpers --------------------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def bool_arg(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        if value is None:
            return default
        # Docker: "0", "false", "no" and "" are false, anything else true.
        return value.strip().lower() not in ("", "0", "false", "no")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise BadParameter(f"invalid value for {name}: {value!r} is not an integer") from None

    def filters_arg(self) -> dict[str, list[str]]:
        """Docker's ``filters``: ``{"key": ["v"]}``, or the old ``{"key": {"v": true}}``."""
        raw = self.arg("filters")
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise BadParameter(f"invalid filters: {raw!r} is not JSON") from None
        if not isinstance(data, dict):
            raise BadParameter("invalid filters: expected a JSON object")
        filters: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                filters[key] = [k for k, on in value.items() if on]
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                filters[key] = value
            else:
                raise BadParameter(f"invalid filters: bad value for {key!r}")
        return filters

    # --- body -----------------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive (at most 1 MiB each, never across a chunk)."""
        while (piece := await self._body.next_piece()) is not None:
            yield piece

    async def body(self, limit: int = MAX_BUFFERED_BODY) -> bytes:
        parts, size = [], 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise BadParameter(f"request body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def json(self) -> Any:
        data = await self.body()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise BadParameter(f"invalid JSON in request body: {exc.msg}") from None

    async def drain(self) -> None:
        async for _ in self.stream():
            pass


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data).encode() + b"\n")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status, b"", "")


@dataclass
class StreamResponse:
    """Headers go out at once; each chunk the iterator yields is sent as it comes."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


class RawStream:
    """The connection after a hijack: raw bytes both ways, half-close aware."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, initial: bytes
    ) -> None:
        self._reader, self._writer, self._initial = reader, writer, initial

    async def read(self, n: int = READ_SIZE) -> bytes:
        """The next bytes from the client; ``b""`` once it half-closed or went away."""
        if self._initial:
            data, self._initial = self._initial, b""
            return data
        try:
            return await self._reader.read(n)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    @property
    def closing(self) -> bool:
        return self._writer.is_closing()


@dataclass
class HijackResponse:
    """Answer ``101 UPGRADED`` (or 200 to a client that did not ask to upgrade) and hand the
    raw connection to ``handler``."""

    handler: Callable[[RawStream], Awaitable[None]]
    content_type: str = "application/vnd.docker.raw-stream"


Result = Response | StreamResponse | HijackResponse
App = Callable[[Request], Awaitable[Result]]
HeaderHook = Callable[[], list[tuple[str, str]]]


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class Connection:
    """Serves the requests of one client connection, one after another (keep-alive).

    h11 only parses each request's head (read exactly, up to its blank line) and frames the
    responses; request bodies are read off the stream directly (see requestbody). So h11 never
    sees a body's end: each request gets a fresh h11 state machine, and keep-alive follows the
    one that served the previous request (it closes on ``Connection: close`` or HTTP/1.0).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        app: App,
        common_headers: HeaderHook,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.input = StreamInput(reader)
        self.app = app
        self.common_headers = common_headers
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def _next_request(self) -> h11.Request | None:
        """The next request's head, parsed by a fresh h11; None once the client is gone."""
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        while True:
            try:
                head = await self.input.readuntil(b"\r\n\r\n", MAX_HEADER_BYTES)
            except asyncio.LimitOverrunError:
                raise h11.RemoteProtocolError("request header too long", 431) from None
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            self.h11.receive_data(head)
            event = self.h11.next_event()
            if isinstance(event, h11.Request):
                return event
            if event is not h11.NEED_DATA:
                return None

    def _body_of(self, event: h11.Request) -> RequestBody:
        """The body as h11 framed it (h11 already refused bad or conflicting framing)."""
        length: int | None = 0
        for name, value in event.headers:
            if name == b"transfer-encoding":
                length = None
                break
            if name == b"content-length":
                length = int(value)
        return RequestBody(self.input, length)

    async def _send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def _head(
        self, status: int, content_type: str, extra: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        headers = [("Date", email.utils.formatdate(usegmt=True)), *self.common_headers()]
        if content_type:
            headers.append(("Content-Type", content_type))
        return headers + extra

    async def serve(self) -> None:
        try:
            while True:
                event = await self._next_request()
                if event is None:
                    return
                body = self._body_of(event)
                request = Request(event, body)
                result = await self.app(request)
                if isinstance(result, HijackResponse):
                    await self._hijack(request, result)
                    return
                if isinstance(result, StreamResponse):
                    await self._stream(request, result)
                else:
                    await self._respond(request, result)
                if body.failed:
                    return  # where the next request would start is unknown
                await request.drain()
                if self.h11.our_state is not h11.DONE:
                    return  # MUST_CLOSE: the client or our response asked to close
        except h11.RemoteProtocolError as exc:
            await self._protocol_error(exc)
        except (ConnectionError, asyncio.IncompleteReadError, BodyError):
            pass
        finally:
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = json.dumps({"message": f"bad HTTP request: {exc}"}).encode()
        status = exc.error_status_hint or 400
        with contextlib.suppress(Exception):
            headers = self._head(status, "application/json", [("Content-Length", str(len(body)))])
            await self._send(
                h11.Response(status_code=status, headers=_encode(headers), reason=_reason(status))
            )
            await self._send(h11.Data(data=body))
            await self._send(h11.EndOfMessage())

    async def _respond(self, request: Request, response: Response) -> None:
        headers = self._head(response.status, response.content_type, response.headers)
        body = b"" if request.method == "HEAD" else response.body
        headers.append(("Content-Length", str(len(body))))
        await self._send(
            h11.Response(
                status_code=response.status,
                headers=_encode(headers),
                reason=_reason(response.status),
            )
        )
        if body:
            await self._send(h11.Data(data=body))
        await self._send(h11.EndOfMessage())

    async def _stream(self, request: Request, response: StreamResponse) -> None:
        headers = self._head(response.status, response.content_type, response.headers)
        headers.append(("Transfer-Encoding", "chunked"))
        await self._send(
            h11.Response(
                status_code=response.status,
                headers=_encode(headers),
                reason=_reason(response.status),
            )
        )
        # Notice a client that goes away while the stream is quiet (e.g. `events`); only
        # once the request body is read, so the watch never steals body bytes.
        gone: asyncio.Future[bytes] | None = None
        chunks = response.chunks.__aiter__()
        try:
            while True:
                if gone is None and request.body_done:
                    gone = asyncio.ensure_future(self.input.read(READ_SIZE))
                nxt = asyncio.ensure_future(chunks.__anext__())
                waiting: set[asyncio.Future[Any]] = {nxt} if gone is None else {nxt, gone}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:  # the client closed the connection
                    nxt.cancel()
                    with contextlib.suppress(BaseException):
                        await nxt
                    raise ConnectionResetError("client went away")
                try:
                    chunk = nxt.result()
                except StopAsyncIteration:
                    break
                if chunk:
                    await self._send(h11.Data(data=chunk))
            await self._send(h11.EndOfMessage())
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(BaseException):
                    await aclose()
            if gone is not None:
                if gone.done() and not gone.cancelled() and gone.exception() is None:
                    self.input.unread(gone.result())  # the next request's first bytes
                else:
                    gone.cancel()
                    with contextlib.suppress(BaseException):
                        await gone

    async def _hijack(self, request: Request, response: HijackResponse) -> None:
        await request.drain()
        # Written by hand: h11 never saw the request body end, so it would refuse the 101.
        if request.wants_upgrade:
            extra = [("Connection", "Upgrade"), ("Upgrade", "tcp")]
            status_line = "HTTP/1.1 101 UPGRADED"
            headers = self._head(101, response.content_type, extra)
        else:  # an old client: a 200 whose body is the raw stream, closed at the end
            status_line = "HTTP/1.1 200 OK"
            headers = self._head(200, response.content_type, [("Connection", "close")])
        head = status_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        self.writer.write(head.encode("latin-1"))
        await self.writer.drain()
        initial = self.input.take_pending()  # bytes that followed the request
        await response.handler(RawStream(self.reader, self.writer, initial))
        with contextlib.suppress(Exception):
            await self.writer.drain()
