"""A minimal HTTP/1.1 client connection over a UNIX socket or TCP (standard library only).

Why not `http.client`: importing it costs as much start-up time as click itself (it pulls in
`email.parser` and `ssl`), and the daemon's answers come in a few shapes only (Content-Length,
chunked, or until the connection closes). Later, attach/exec need the raw socket after a
`101 UPGRADED`, which a plain socket gives directly. The UNIX-socket path uses `_socket`, the
C module under `socket`: importing `socket` itself costs several milliseconds of enum set-up.

A request body is bytes (sent with a Content-Length) or a readable binary stream (a file,
stdin): that one is sent with chunked transfer encoding, a piece at a time, from a thread of its
own, while the caller reads the answer — so an archive is never held in memory whole, and a
daemon that answers (progress, or an error) before it has read everything cannot deadlock us.

After `101 UPGRADED` (attach, exec start) the connection is a `RawStream`: raw bytes both ways,
half-closable (the end of stdin), readable from one thread while another writes.
"""

from __future__ import annotations

import _socket
import io

from berth.client.errors import ProtocolError
from berth.client.hosts import Host

# typing (and the `re` it imports) costs ~9 ms of the client's start-up: types only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

MAX_LINE = 65536
MAX_HEADERS = 200
READ_SIZE = 65536
UPLOAD_CHUNK = 1 << 20


def _shutdown_quietly(sock: Any, how: int) -> None:
    """shutdown(2), where an already closed or reset peer is no error (no contextlib: start-up)."""
    try:
        sock.shutdown(how)
    except OSError:
        return


class Response:
    """The status, headers and body of one answer; the body is read with `read1`/`read`."""

    def __init__(self, reader: BinaryIO, method: str) -> None:
        self._reader = reader
        self.status, self.reason = self._status_line()
        self.headers = self._headers()
        self._chunked = False
        self._remaining: int | None = None  # bytes left (Content-Length or current chunk)
        self._done = False
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._done = True
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = True
            self._remaining = 0
        elif "content-length" in self.headers:
            try:
                self._remaining = int(self.headers["content-length"])
            except ValueError:
                raise ProtocolError(
                    f"bad Content-Length in the daemon's answer: {self.headers['content-length']!r}"
                ) from None
            if self._remaining < 0:
                raise ProtocolError("negative Content-Length in the daemon's answer")
            self._done = self._remaining == 0

    def _line(self) -> bytes:
        line = self._reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("a line of the daemon's answer is too long")
        return line

    def _status_line(self) -> tuple[int, str]:
        line = self._line()
        if not line:
            raise ProtocolError("the daemon closed the connection without answering")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP answer: {line[:80]!r}")
        return int(parts[1]), parts[2] if len(parts) > 2 else ""

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        last = ""
        for _ in range(MAX_HEADERS):
            line = self._line().decode("latin-1")
            if line in ("\r\n", "\n", ""):
                return headers
            if line[0] in " \t" and last:  # obsolete line folding
                headers[last] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line in the daemon's answer: {line[:80]!r}")
            last = name.strip().lower()
            value = value.strip()
            headers[last] = f"{headers[last]}, {value}" if last in headers else value
        raise ProtocolError("too many headers in the daemon's answer")

    def _next_chunk(self) -> None:
        line = self._line()
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size in the daemon's answer: {line[:40]!r}") from None
        if size == 0:
            while self._line() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            self._done = True
        self._remaining = size

    def read1(self, size: int = READ_SIZE) -> bytes:
        """Some of the body, as soon as any is there; b"" at its end."""
        if self._done:
            return b""
        if self._chunked and self._remaining == 0:
            self._next_chunk()
            if self._done:
                return b""
        want = size if self._remaining is None else min(size, self._remaining)
        data = self._reader.read1(want)  # type: ignore[attr-defined]
        if self._remaining is None:  # until the connection closes
            self._done = not data
            return bytes(data)
        if not data:
            raise ProtocolError("the daemon's answer ended early")
        self._remaining -= len(data)
        if self._remaining == 0:
            if self._chunked:
                if self._line() not in (b"\r\n", b"\n"):
                    raise ProtocolError("a chunk of the daemon's answer is not terminated")
            else:
                self._done = True
        return bytes(data)

    def read(self) -> bytes:
        """The whole (rest of the) body."""
        parts = []
        while chunk := self.read1():
            parts.append(chunk)
        return b"".join(parts)


class _SocketIO(io.RawIOBase):
    """A readable raw stream over a socket, to put an ``io.BufferedReader`` on."""

    def __init__(self, sock: Any) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return int(self._sock.recv_into(buffer))


class _Upload:
    """Sends a stream as the chunked body of a request, from a thread, until its end.

    `source_error` is set when reading the stream failed (the socket is then shut down, so
    that the request fails rather than hangs); `send_error` when the daemon stopped reading
    (it answered early, or went away): the answer says why, so that one is not an error here.
    """

    def __init__(self, sock: Any, source: BinaryIO) -> None:
        # _thread, not threading: threading's imports cost a short command (`berth build`)
        # milliseconds. `running` is held while the thread runs (its join).
        import _thread

        self.sock = sock
        self.source = source
        self.sent = 0
        self.source_error: OSError | None = None
        self.send_error: OSError | None = None
        self.running = _thread.allocate_lock()
        self.running.acquire()
        _thread.start_new_thread(self._run, ())

    def _run(self) -> None:
        try:
            if self._send_file() and self._send_stream():
                self.sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            self.send_error = exc
        finally:
            self.running.release()

    def _failed_source(self, exc: OSError) -> bool:
        self.source_error = exc
        self.shutdown()
        return False

    def _send_stream(self) -> bool:
        """Read and send pieces until the end; False when reading failed."""
        read = getattr(self.source, "read1", None) or self.source.read
        while True:
            try:
                data = read(UPLOAD_CHUNK)
            except OSError as exc:
                return self._failed_source(exc)
            if not data:
                return True
            self._send_chunk(data)
            self.sent += len(data)

    def _send_chunk(self, data: bytes) -> None:
        """One chunk of the body, gathered by the kernel (sendmsg): the data is not copied
        into a framed string first (that copy was a fifth of a large `cp`'s client time)."""
        pieces = [memoryview(b"%x\r\n" % len(data)), memoryview(data), memoryview(b"\r\n")]
        while pieces:
            sent = self.sock.sendmsg(pieces)
            while pieces and sent >= len(pieces[0]):
                sent -= len(pieces.pop(0))
            if pieces and sent:
                pieces[0] = pieces[0][sent:]

    def _send_file(self) -> bool:
        """A regular file's bytes from where it stands, zero-copy (os.sendfile) in chunks,
        leaving the file at the end of what was sent; False when reading failed. Anything
        else (a pipe, stdin, a socket with a timeout) is left to `_send_stream`."""
        import os
        import stat

        try:
            fd = self.source.fileno()
            size = os.fstat(fd).st_size if stat.S_ISREG(os.fstat(fd).st_mode) else -1
            offset = self.source.tell()
        except (OSError, ValueError):  # no file descriptor, not seekable
            return True
        if size < 0 or self.sock.gettimeout() is not None:
            return True
        out = self.sock.fileno()
        while offset < size:
            count = min(UPLOAD_CHUNK, size - offset)
            self.sock.sendall(b"%x\r\n" % count)
            end = offset + count
            while offset < end:
                try:
                    sent = os.sendfile(out, fd, offset, end - offset)
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except OSError as exc:
                    return self._failed_source(exc)
                if sent == 0:  # the file shrank under us: the chunk cannot be completed
                    return self._failed_source(OSError(5, "the file shrank while being sent"))
                offset += sent
                self.sent += sent
            self.sock.sendall(b"\r\n")
        try:
            self.source.seek(offset)
        except OSError as exc:
            return self._failed_source(exc)
        return True

    def shutdown(self) -> None:
        _shutdown_quietly(self.sock, _socket.SHUT_RDWR)

    def stop(self, timeout: float = 1.0) -> None:
        """Wake the thread if it is blocked on a daemon that no longer reads, and wait for it."""
        if self.running.locked():
            self.shutdown()
            if self.running.acquire(timeout=timeout):
                self.running.release()


class Connection:
    """One HTTP/1.1 connection to the daemon: `connect()`, then one `request()`."""

    def __init__(self, host: Host, timeout: float | None = None) -> None:
        self.host = host
        self.timeout = timeout
        self.sock: Any = None  # a `_socket.socket` (UNIX) or a `socket.socket` (TCP)
        self._reader: BinaryIO | None = None
        self.upload: _Upload | None = None

    def connect(self) -> None:
        if self.host.scheme == "unix":
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.host.path)
            except BaseException:
                sock.close()
                raise
        else:
            import socket

            sock = socket.create_connection((self.host.hostname, self.host.port), self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self._reader = io.BufferedReader(_SocketIO(sock), READ_SIZE)

    def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | BinaryIO | None
    ) -> Response:
        """Send the request; return the answer once its head is in.

        A stream body is sent chunked by a thread; when reading it fails, that error (an
        OSError) is raised here, or later from `upload_failure()`.
        """
        if self.sock is None or self._reader is None:
            raise RuntimeError("connect() first")
        host = "localhost" if self.host.scheme == "unix" else self.host.hostname
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is None or isinstance(body, bytes):
            if body is not None:
                lines.append(f"Content-Length: {len(body)}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            self._send_head(head + (body or b""))
            return Response(self._reader, method)
        lines.append("Transfer-Encoding: chunked")
        if not self._send_head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")):
            return Response(self._reader, method)
        self.upload = _Upload(self.sock, body)
        try:
            return Response(self._reader, method)
        except (OSError, ProtocolError):
            failure = self.upload_failure()
            if failure is not None:
                raise failure from None
            raise

    def _send_head(self, data: bytes) -> bool:
        """Send; False when the daemon already stopped reading (it may have answered first,
        e.g. an early error: the caller reads that answer rather than report a broken pipe)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def upload_failure(self) -> OSError | None:
        """The error that stopped reading the request's body stream, if that happened."""
        return None if self.upload is None else self.upload.source_error

    def raw_stream(self, content_type: str = "") -> RawStream:
        """The connection after a `101 UPGRADED` head: raw bytes both ways from now on.

        The stream owns the connection (closing it closes the connection)."""
        if self.sock is None or self._reader is None:
            raise RuntimeError("connect() first")
        self.sock.settimeout(None)
        return RawStream(self, self.sock, self._reader, content_type)

    def close(self) -> None:
        if self.upload is not None:
            self.upload.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class RawStream:
    """A hijacked connection: the container's output comes in, its stdin goes out.

    Bytes the daemon sent right behind the 101 head are already in the connection's buffer:
    `recv` returns those first. `recv` may block in one thread while another `sendall`s;
    `close()` from any thread wakes a blocked `recv` (which then returns b"").
    """

    def __init__(self, connection: Connection, sock: Any, reader: BinaryIO, content_type: str):
        self._connection = connection
        self._sock = sock
        self._reader = reader
        self.content_type = content_type
        self._closed = False

    @property
    def multiplexed(self) -> bool:
        """Output comes in 8-byte-header frames (no TTY) rather than as raw bytes."""
        return "multiplexed" in self.content_type

    def recv(self, size: int = READ_SIZE) -> bytes:
        """Some output, as soon as any is there; b"" at the end (or once closed)."""
        if self._closed:
            return b""
        try:
            return bytes(self._reader.read1(size))  # type: ignore[attr-defined]
        except (OSError, ValueError):  # reset, or closed by another thread
            if self._closed:
                return b""
            raise

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the daemon reads the end of stdin; output keeps coming."""
        _shutdown_quietly(self._sock, _socket.SHUT_WR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _shutdown_quietly(self._sock, _socket.SHUT_RDWR)  # wakes a reader blocked in recv
        self._connection.close()
