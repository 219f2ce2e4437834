"""The local end of an attached container: the terminal, stdin/stdout over the hijacked
connection, detach keys, window size and signals — as the docker CLI's hijackedIOStreamer,
MonitorTtySize and ForwardAllSignals do it.

- `Terminal`: the input terminal in raw mode (moby's MakeRaw), restored exactly once, whatever
  ends the session (the output's end, stdin's end, detaching, an error, a forced exit).
- `EscapeProxy`: watches stdin for the detach keys (ctrl-p ctrl-q by default) with a TTY;
  the keys typed so far are held back, and let through when the sequence breaks.
- `Streamer`: output (raw with a TTY, else Docker's frames split into stdout and stderr) and
  input (half-closed at its end) on threads; `run()` returns when docker's stream() would.
- `SignalProxy`: the signals this process receives become `kill` requests for the container
  (not SIGCHLD, SIGPIPE, SIGWINCH, nor those that stop a background job on reads and writes);
  SIGWINCH becomes a resize; a third SIGINT/SIGTERM forces the exit, as docker's does.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any, BinaryIO

from berth.client.containers import STDERR, STDIN, STDOUT, SYSTEMERR, FrameReader
from berth.client.transport import RawStream

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
READ_SIZE = 32 * 1024

_CTRL = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
]  # fmt: skip


def detach_key_bytes(keys: str) -> bytes:
    """moby's term.ToBytes: `ctrl-p,ctrl-q`, `a,b`, `DEL`; ValueError names a bad key."""
    codes = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            codes += key.encode("latin-1", "replace")[:1]
        elif key in _CTRL:
            codes.append(_CTRL.index(key))
        elif key == "DEL":
            codes.append(127)
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class EscapeProxy:
    """Finds the detach sequence in typed input; `feed` returns (bytes to send, detached)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._matched]:
                self._matched += 1
                if self._matched == len(self.keys):
                    self._matched = 0
                    return bytes(out), True
                continue
            if self._matched:  # the sequence broke: what was held goes through first
                out += self.keys[: self._matched]
                self._matched = 0
            out.append(byte)
        return bytes(out), False


# --- the terminal --------------------------------------------------------------------------------


def fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def is_terminal(stream: Any) -> bool:
    fd = fileno(stream)
    return fd is not None and os.isatty(fd)


def terminal_size(stream: Any) -> tuple[int, int]:
    """(rows, columns) of the terminal behind `stream`; (0, 0) when it is not one."""
    fd = fileno(stream)
    if fd is None or not os.isatty(fd):
        return 0, 0
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return 0, 0
    rows, columns = struct.unpack("HHHH", packed)[:2]
    return rows, columns


class Terminal:
    """A terminal file descriptor put in raw mode and restored exactly once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None
        self._lock = threading.Lock()

    def make_raw(self) -> None:
        """moby's MakeRaw (cfmakeraw): no echo, no line editing, no signals from keys."""
        import termios

        if os.environ.get("NORAW"):
            return
        with self._lock:
            saved = termios.tcgetattr(self.fd)
            mode = list(saved)
            mode[0] &= ~(
                termios.IGNBRK
                | termios.BRKINT
                | termios.PARMRK
                | termios.ISTRIP
                | termios.INLCR
                | termios.IGNCR
                | termios.ICRNL
                | termios.IXON
            )
            mode[1] &= ~termios.OPOST
            mode[3] &= ~(
                termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN
            )
            mode[2] &= ~(termios.CSIZE | termios.PARENB)
            mode[2] |= termios.CS8
            mode[6] = list(mode[6])
            mode[6][termios.VMIN] = 1
            mode[6][termios.VTIME] = 0
            termios.tcsetattr(self.fd, termios.TCSANOW, mode)
            self._saved = saved

    def restore(self) -> None:
        import termios

        with self._lock:
            saved, self._saved = self._saved, None
            if saved is not None:
                with contextlib.suppress(termios.error, OSError):
                    termios.tcsetattr(self.fd, termios.TCSANOW, saved)


# --- the streams ---------------------------------------------------------------------------------


class DETACHED:
    """`Streamer.run()`'s answer when the user typed the detach keys."""


class CANCELLED:
    """`Streamer.run()`'s answer when it was cancelled."""


Outcome = type[DETACHED] | type[CANCELLED] | BaseException | None


class StreamError(Exception):
    """The daemon reported an error inside the stream (a system frame)."""


class _Input:
    """Reads stdin: a file descriptor through select (so that it can be woken and stopped),
    or any binary file object."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        fd = fileno(stream)
        self.fd = fd
        self._wake_r, self._wake_w = os.pipe() if fd is not None else (-1, -1)

    def read(self) -> bytes | None:
        """Some bytes; b"" at the end; None when stopped."""
        if self.fd is None:
            reader = getattr(self.stream, "read1", None) or self.stream.read
            return bytes(reader(READ_SIZE))
        import select

        while True:
            try:
                ready, _, _ = select.select([self.fd, self._wake_r], [], [])
            except InterruptedError:
                continue
            except (OSError, ValueError):
                return None
            if self._wake_r in ready:
                return None
            try:
                return os.read(self.fd, READ_SIZE)
            except InterruptedError:
                continue
            except BlockingIOError:
                continue
            except OSError:
                return b""

    def stop(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1


def _write(out: IO[bytes], data: bytes) -> None:
    out.write(data)
    out.flush()


class Streamer:
    """Copies between the local streams and a hijacked connection until docker's stream()
    would return: the output ended (its error, if any), stdin ended and then the output did,
    the detach keys were typed (DETACHED), or `cancel()` was called (CANCELLED)."""

    def __init__(
        self,
        raw: RawStream,
        *,
        stdin: BinaryIO | None,
        stdout: IO[bytes] | None,
        stderr: IO[bytes] | None,
        tty: bool,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
    ) -> None:
        self.raw = raw
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.detach_keys = detach_keys
        self.terminal: Terminal | None = None
        self._events: queue.SimpleQueue[tuple[str, BaseException | None]] = queue.SimpleQueue()
        self._input: _Input | None = None
        self._input_thread: threading.Thread | None = None

    # -- set-up and tear-down

    def _setup_input(self) -> None:
        if self.stdin is None or not self.tty:
            return
        fd = fileno(self.stdin)
        if fd is not None and os.isatty(fd):
            self.terminal = Terminal(fd)
            self.terminal.make_raw()

    def restore(self) -> None:
        if self.terminal is not None:
            self.terminal.restore()

    def cancel(self) -> None:
        """Stop streaming now (docker's context cancellation)."""
        self._events.put(("cancel", None))

    # -- the threads

    def _output(self) -> None:
        try:
            if self.tty and self.stdout is not None:
                while data := self.raw.recv():
                    _write(self.stdout, data)
                self.restore()  # as soon as the connection ends: later messages print normally
            else:
                self._demultiplex()
        except BaseException as exc:  # reported to run(), which decides
            self._events.put(("output", exc))
            return
        self._events.put(("output", None))

    def _demultiplex(self) -> None:
        frames = FrameReader()
        while data := self.raw.recv():
            for stream, payload in frames.feed(data):
                if stream in (STDIN, STDOUT):
                    if self.stdout is not None:
                        _write(self.stdout, payload)
                elif stream == STDERR:
                    if self.stderr is not None:
                        _write(self.stderr, payload)
                elif stream == SYSTEMERR:
                    text = payload.decode("utf-8", "replace")
                    raise StreamError(f"error from daemon in stream: {text}")

    def _input_loop(self) -> None:
        source = self._input
        proxy = EscapeProxy(self.detach_keys) if self.tty else None
        if source is not None:
            while True:
                data = source.read()
                if data is None:  # stopped: the session is over
                    return
                if not data:
                    break
                if proxy is not None:
                    data, detached = proxy.feed(data)
                    if detached:
                        if data:
                            with contextlib.suppress(OSError):
                                self.raw.sendall(data)
                        self.restore()
                        self._events.put(("detached", None))
                        return
                if data:
                    try:
                        self.raw.sendall(data)
                    except OSError:
                        break
            self.restore()
        self.raw.close_write()
        self._events.put(("input", None))

    def run(self) -> Outcome:
        """Stream until done (see the class); the terminal is restored when this returns."""
        self._setup_input()
        try:
            attached_output = self.stdout is not None or self.stderr is not None
            if attached_output:
                threading.Thread(target=self._output, name="berth-output", daemon=True).start()
            if self.stdin is not None:
                self._input = _Input(self.stdin)
            self._input_thread = threading.Thread(
                target=self._input_loop, name="berth-input", daemon=True
            )
            self._input_thread.start()
            input_done = False
            while True:
                kind, error = self._events.get()
                if kind == "output":
                    return error
                if kind == "detached":
                    return DETACHED
                if kind == "cancel":
                    return CANCELLED
                if kind == "input" and not input_done:
                    input_done = True
                    if not attached_output:
                        return None
        finally:
            self.restore()
            self._stop_input()

    def _stop_input(self) -> None:
        if self._input is None:
            return
        self._input.stop()
        if self._input_thread is not None:
            self._input_thread.join(1.0)
            if self._input_thread.is_alive():
                return  # stuck in a read of a non-selectable stdin: the process exit ends it
        self._input.close()


# --- signals and the window size -----------------------------------------------------------------

#: Signals forwarded to the container (docker forwards every signal it can catch but SIGCHLD,
#: SIGPIPE and SIGURG). Not here: SIGWINCH (the TTY's resize carries it), SIGTTIN/SIGTTOU
#: (caught, they would loop a background client), and the synchronous fault signals.
FORWARDED = (
    "HUP", "INT", "QUIT", "TRAP", "ABRT", "USR1", "USR2", "ALRM", "TERM", "STKFLT", "CONT",
    "TSTP", "XCPU", "XFSZ", "VTALRM", "PROF", "IO", "PWR", "SYS",
)  # fmt: skip
TERMINATION = ("INT", "TERM")
FORCED_EXIT_MESSAGE = "\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n"


class SignalProxy:
    """Installs the handlers of an attached session and runs their work on a thread.

    `forward(name)` sends a signal to the container (None: signals are not proxied);
    `resize()` follows the terminal's size (None: no TTY to follow); `restore()` puts the
    terminal back before a forced exit. Use as a context manager (main thread only).
    """

    def __init__(
        self,
        forward: Callable[[str], None] | None,
        *,
        resize: Callable[[], None] | None = None,
        restore: Callable[[], None] | None = None,
    ) -> None:
        self.forward = forward
        self.resize = resize
        self.restore = restore
        self._tasks: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._saved: dict[int, Any] = {}
        self._terminations = 0
        self._thread: threading.Thread | None = None

    def _handler(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name.removeprefix("SIG")
        if name == "WINCH":
            self._tasks.put(("resize", ""))
            return
        if name in TERMINATION:
            self._terminations += 1
            if self._terminations >= 3:
                self._force_exit()
        if self.forward is not None:
            self._tasks.put(("kill", name))

    def _force_exit(self) -> None:
        with contextlib.suppress(OSError):
            os.write(2, FORCED_EXIT_MESSAGE.encode())
        if self.restore is not None:
            self.restore()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(1)

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            kind, name = task
            with contextlib.suppress(Exception):  # docker logs these at debug level only
                if kind == "kill" and self.forward is not None:
                    self.forward(name)
                elif kind == "resize" and self.resize is not None:
                    self.resize()

    def _install(self, names: Iterable[str]) -> None:
        for name in sorted(names):
            signum = getattr(signal, "SIG" + name, None)
            if signum is None or signum in self._saved:
                continue
            with contextlib.suppress(OSError, ValueError):
                self._saved[signum] = signal.signal(signum, self._handler)

    def watch_resize(self) -> None:
        """From now on SIGWINCH calls `resize` (set it first)."""
        self._install(["WINCH"])

    def __enter__(self) -> SignalProxy:
        names = set(TERMINATION)
        if self.forward is not None:
            names.update(FORWARDED)
        if self.resize is not None:
            names.add("WINCH")
        self._install(names)
        self._thread = threading.Thread(target=self._work, name="berth-signals", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._saved.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, handler)
        self._saved.clear()
        self._tasks.put(None)
        if self._thread is not None:
            self._thread.join(2.0)


def initial_resize(resize: Callable[[], None], warn: Callable[[str], None]) -> None:
    """docker's initTtySize: resize now; when that fails, retry 10 times in the background
    (10 ms, 20 ms, ...), then say the default size is used."""
    try:
        resize()
        return
    except Exception:
        pass

    def retry() -> None:
        import time

        for attempt in range(10):
            time.sleep((attempt + 1) * 0.01)
            try:
                resize()
                return
            except Exception:
                continue
        warn("failed to resize tty, using default size")

    threading.Thread(target=retry, name="berth-resize", daemon=True).start()
