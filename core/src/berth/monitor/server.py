"""The monitor's work: create the container's init, serve monitor.sock, log, wait, record the exit.

One thread, one ``poll`` loop. What it watches:

- the container's output (pipes, or a pty master): to the log and to every attached client,
  as frames (:mod:`berth.monitor.frames`); the output waits while a client is more than
  :data:`HIGH_WATER` behind (the log driver's "blocking" mode, Docker's default);
- the container's input: what attached clients send, in order, buffered while the pipe is full;
- ``monitor.sock``: one JSON request line per connection, one JSON reply line, then for attach
  and exec the connection carries the streams (the protocol is described in
  :mod:`berth.monitor.client`);
- SIGCHLD, through the wakeup fd: as the child subreaper the monitor is the parent of the init
  and of exec processes, and reaps them (and anything else orphaned in its tree).

When the init has exited and its output has ended (or :attr:`Options.grace` seconds after its
exit, whichever is first), the monitor asks the launcher to release the container, writes
``exit.json``, answers every ``wait``, closes the streams once delivered and exits.
"""

from __future__ import annotations

import _socket
import errno
import os
import select
import time

from berth.monitor import frames
from berth.monitor.jsonlite import dumps, loads
from berth.monitor.logfile import JsonFileLog
from berth.monitor.stdio import ProcessStdio
from berth.monitor.system import exit_code_of, remove, socket_address, timestamp, write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from types import ModuleType

    from berth.monitor.options import Options
else:
    import _signal  # what ``signal`` wraps, without its enums (1 MiB of memory)

READ_SIZE = 65536
#: A client this far behind holds back the output of the process it is attached to.
HIGH_WATER = 1 << 20
#: A request line longer than this is refused.
REQUEST_LIMIT = 1 << 20
#: After the exit, how long slow clients may take to receive the rest of the output.
FLUSH_LIMIT = 60.0
#: Finished execs (and exit codes) the monitor remembers; older ones are forgotten.
KEPT_EXECS = 32

POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
POLLGONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def docker_exit_code(message: str) -> int:
    """The exit code Docker gives a container whose process could not be created or started,
    read from the error's text as dockerd does: 127 not found, 126 not executable, else 128."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "not a directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text or "exec format error" in text:
        return 126
    return 128


def exec_failure_code(exc: BaseException) -> int:
    """The exit code of a program a launcher could not execute: its OSError's errno says it
    (ENOENT 127, any other 126, as the launcher protocol has it); other errors by their text."""
    if isinstance(exc, OSError) and exc.errno:
        return 127 if exc.errno == errno.ENOENT else 126
    return docker_exit_code(error_text(exc))


def error_text(exc: BaseException) -> str:
    """One line for a launcher's failure (an OSError's own text, without its errno prefix)."""
    if isinstance(exc, OSError) and exc.strerror and not exc.filename:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class Conn:
    """One connection on monitor.sock."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.out = bytearray()
        self.mode = "request"  # then "stream", "wait" or "done"
        self.session: Session | None = None
        self.streams: tuple[int, ...] = ()
        self.stdin = False
        self.reading = True
        self.closing = False
        self.broken = False
        self.wait_exec = ""

    def send(self, data: bytes) -> None:
        self.out += data
        self.flush()

    def reply(self, answer: dict[str, object], then_close: bool = True) -> None:
        self.send(dumps(answer).encode() + b"\n")
        if then_close:
            self.mode = "done"
            self.closing = True

    def flush(self) -> None:
        while self.out and not self.broken:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError:
                self.broken = True
                return
            del self.out[:sent]


class Session:
    """A process the monitor serves: the container's init, or an exec."""

    def __init__(self, stdio: ProcessStdio, stdin_once: bool, exec_id: str = "") -> None:
        self.stdio = stdio
        self.stdin_once = stdin_once
        self.exec_id = exec_id
        self.pid = 0
        self.clients: list[Conn] = []
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.exit_code: int | None = None
        self.deadline = 0.0
        self.done = False

    def throttled(self) -> bool:
        return any(len(client.out) > HIGH_WATER for client in self.clients)


class Monitor:
    def __init__(self, opts: Options, launcher: ModuleType) -> None:
        self.opts = opts
        self.launcher = launcher
        self.sock_path = os.path.join(opts.state_dir, "monitor.sock")
        self.poll = select.poll()
        self.registered: dict[int, int] = {}
        self.conns: dict[int, Conn] = {}
        self.by_fd: dict[int, Session] = {}
        self.by_pid: dict[int, Session] = {}
        self.execs: dict[str, Session] = {}
        self.exec_exits: dict[str, int] = {}
        self.exec_waiters: list[Conn] = []
        self.waiters: list[Conn] = []
        self.log: JsonFileLog | None = None
        self.init: Session | None = None
        self.started_at = ""
        self.start_error = ""
        self.start_code = 0
        self.finished_at = 0.0
        self.exit_record: dict[str, object] = {}
        self.listener: _socket.socket | None = None
        self.wake_r = self.wake_w = -1

    # --- set-up -------------------------------------------------------------------------

    def create(self) -> dict[str, object]:
        """Create the init; the readiness answer for the daemon. Raises when it cannot."""
        opts = self.opts
        wake_r, wake_w = os.pipe()
        self.wake_r, self.wake_w = wake_r, wake_w
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        _signal.signal(_signal.SIGCHLD, _on_sigchld)
        _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        if opts.log_path:
            self.log = JsonFileLog(opts.log_path, opts.log_max_size, opts.log_max_file)
        stdio = ProcessStdio(opts.tty, opts.open_stdin)
        init = Session(stdio, opts.stdin_once)
        try:
            pid = int(self.launcher.create(opts.bundle, opts.state_dir, stdio.child, stdio.console))
            stdio.launched()
        except BaseException:
            stdio.close()  # a failed create leaves nothing behind: the launcher's own rule
            raise
        init.pid = pid
        self.init = init
        self.by_pid[pid] = init
        for fd in stdio.outputs:
            self.by_fd[fd] = init
        if stdio.stdin >= 0:
            self.by_fd[stdio.stdin] = init
        try:
            self._listen()
            write_atomic(os.path.join(opts.state_dir, "monitor.pid"), f"{os.getpid()}\n".encode())
        except BaseException:
            # Nobody could reach the container: do not leave it behind.
            _kill(pid, _signal.SIGKILL)  # (reaped by init once the monitor has exited)
            stdio.close()
            self._release()
            raise
        return {"ok": True, "pid": os.getpid(), "init_pid": pid}

    def _listen(self) -> None:
        remove(self.sock_path)
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        address, dir_fd = socket_address(self.sock_path)
        try:
            listener.bind(address)
        finally:
            if dir_fd >= 0:
                os.close(dir_fd)
        os.chmod(self.sock_path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener

    def _release(self) -> None:
        """Ask the launcher to free what the container held (best effort)."""
        try:
            self.launcher.delete(self.opts.state_dir)
        except Exception as exc:
            _note(f"launcher.delete failed: {error_text(exc)}")

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> None:
        while not self._should_exit():
            self._sync_interest()
            for fd, events in self.poll.poll(self._timeout_ms()):
                try:
                    self._dispatch(fd, events)
                except Exception as exc:
                    # A bug must cost one connection at most, never the container's monitor.
                    _note(f"internal error on fd {fd}: {type(exc).__name__}: {exc}")
                    if fd in self.conns:
                        self.conns[fd].broken = True
            self._check_deadlines()
            self._sweep()
        self._shutdown()

    def _should_exit(self) -> bool:
        if not self.finished_at:
            return False
        if time.monotonic() - self.finished_at > FLUSH_LIMIT:
            return True
        return not self.conns and not any(not s.done for s in self.execs.values())

    def _timeout_ms(self) -> int:
        deadlines = [s.deadline for s in self._sessions() if s.exit_code is not None and not s.done]
        if self.finished_at:
            deadlines.append(self.finished_at + FLUSH_LIMIT)
        if not deadlines:
            return -1
        return max(0, int((min(deadlines) - time.monotonic()) * 1000) + 1)

    def _sessions(self) -> list[Session]:
        sessions = list(self.execs.values())
        if self.init is not None:
            sessions.append(self.init)
        return sessions

    def _sync_interest(self) -> None:
        wanted: dict[int, int] = {self.wake_r: POLLIN}
        if self.listener is not None:
            wanted[self.listener.fileno()] = POLLIN
        for session in self._sessions():
            if session.done:
                continue
            held = session.throttled()
            for fd in session.stdio.outputs:
                wanted[fd] = 0 if held else POLLIN
            stdin = session.stdio.stdin
            if stdin >= 0 and session.stdin_buf:
                wanted[stdin] = wanted.get(stdin, 0) | POLLOUT
        for conn in self.conns.values():
            mask = POLLOUT if conn.out else 0
            target = conn.session
            stdin_full = target is not None and len(target.stdin_buf) > HIGH_WATER
            if conn.reading and not stdin_full:
                mask |= POLLIN
            wanted[conn.fd] = mask
        for fd in [fd for fd in self.registered if fd not in wanted]:
            self.poll.unregister(fd)
            del self.registered[fd]
        for fd, mask in wanted.items():
            if fd not in self.registered:
                self.poll.register(fd, mask)
            elif self.registered[fd] != mask:
                self.poll.modify(fd, mask)
            self.registered[fd] = mask

    def _dispatch(self, fd: int, events: int) -> None:
        if fd == self.wake_r:
            _drain(fd)
            self._reap()
        elif self.listener is not None and fd == self.listener.fileno():
            self._accept()
        elif fd in self.conns:
            conn = self.conns[fd]
            if events & POLLOUT:
                conn.flush()
            if events & POLLIN:
                self._conn_readable(conn)
            elif events & POLLGONE:
                conn.broken = True
        elif fd in self.by_fd:
            session = self.by_fd[fd]
            if events & POLLOUT or (events & POLLGONE and fd == session.stdio.stdin):
                self._write_stdin(session)
            if fd in session.stdio.outputs and events & (POLLIN | POLLGONE):
                self._read_output(session, fd)

    def _sweep(self) -> None:
        """Close connections that broke, or that are done and have sent everything."""
        for conn in list(self.conns.values()):
            if conn.broken or (conn.closing and not conn.out):
                self._drop(conn)

    def _drop(self, conn: Conn) -> None:
        del self.conns[conn.fd]
        if conn.fd in self.registered:
            self.poll.unregister(conn.fd)
            del self.registered[conn.fd]
        session = conn.session
        if session is not None and conn in session.clients:
            session.clients.remove(conn)
            if conn.stdin and conn.reading:
                self._stdin_ended(session)
        for waiters in (self.waiters, self.exec_waiters):
            if conn in waiters:
                waiters.remove(conn)
        # Discard input nobody will read (stdin of a container without one): closing a UNIX
        # socket with unread data makes the peer's next read fail with ECONNRESET instead of
        # ending cleanly after the output it was sent.
        try:
            conn.sock.setblocking(False)
            while conn.sock.recv(65536):
                pass
        except OSError:
            pass
        conn.sock.close()

    # --- the processes' streams ---------------------------------------------------------

    def _read_output(self, session: Session, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: a pty whose other side is all closed
                _note(f"reading output failed: {exc}")
            data = b""
        if not data:
            self._close_output(session, fd)
            return
        stream = session.stdio.outputs[fd]
        if session is self.init and self.log is not None:
            self.log.write(stream, data)
        if session.clients:
            framed = frames.frame(stream, data)
            for client in session.clients:
                if stream in client.streams:
                    client.send(framed)

    def _close_output(self, session: Session, fd: int) -> None:
        self.by_fd.pop(fd, None)
        session.stdio.close_output(fd)
        self._maybe_done(session)

    def _write_stdin(self, session: Session) -> None:
        fd = session.stdio.stdin
        buf = session.stdin_buf
        while fd >= 0 and buf:
            try:
                written = os.write(fd, buf)
            except BlockingIOError:
                return
            except OSError:  # the process closed its stdin or is gone: the rest is dropped
                buf.clear()
                session.stdin_closing = True
                break
            del buf[:written]
        if fd < 0:
            buf.clear()
        if session.stdin_closing and not buf:
            self._drop_stdin(session)

    def _drop_stdin(self, session: Session) -> None:
        fd = session.stdio.stdin
        if fd >= 0 and fd not in session.stdio.outputs:
            self.by_fd.pop(fd, None)
        session.stdio.drop_stdin()

    def _stdin_ended(self, session: Session) -> None:
        """An attached client ended its input: close the process's stdin if that is the rule.
        A terminal's input is never closed (Docker's rule): a client that detached with the
        detach keys, or whose input ended, leaves it to the next ``attach``."""
        if session.stdin_once and not session.stdio.tty:
            session.stdin_closing = True
            self._write_stdin(session)

    # --- exits --------------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            session = self.by_pid.pop(pid, None)
            if session is not None:
                session.exit_code = exit_code_of(status)
                session.deadline = time.monotonic() + self.opts.grace
                self._maybe_done(session)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for session in self._sessions():
            if session.exit_code is not None and not session.done and now >= session.deadline:
                # Something else still holds the output open (a daemonised process outside a
                # PID namespace): take what is there and stop waiting.
                for fd in list(session.stdio.outputs):
                    while fd in session.stdio.outputs:
                        self._read_output(session, fd)
                        if fd in session.stdio.outputs and not _readable(fd):
                            self._close_output(session, fd)

    def _maybe_done(self, session: Session) -> None:
        if session.done or session.exit_code is None or session.stdio.outputs:
            return
        session.done = True
        for fd in [fd for fd, s in self.by_fd.items() if s is session]:
            del self.by_fd[fd]
        session.stdin_buf.clear()
        session.stdio.close()
        if session is self.init:
            self._finish_init(session.exit_code)
        else:
            self._finish_exec(session, session.exit_code)

    def _finish_exec(self, session: Session, code: int) -> None:
        self._forget_old_execs()
        self.exec_exits[session.exec_id] = code
        payload = frames.frame(frames.SYSTEM, dumps({"exit_code": code}).encode())
        for client in session.clients:
            client.send(payload)
            client.closing = True
            client.reading = False
        for waiter in list(self.exec_waiters):
            if waiter.wait_exec == session.exec_id:
                waiter.reply({"exit_code": code})
                self.exec_waiters.remove(waiter)

    def _forget_old_execs(self) -> None:
        """Keep the finished execs bounded (a healthcheck adds one every interval, for as
        long as the container runs): the oldest finished ones go first."""
        finished = [k for k, s in self.execs.items() if s.done]
        for exec_id in finished[: max(0, len(finished) - KEPT_EXECS)]:
            del self.execs[exec_id]
        for exec_id in list(self.exec_exits)[: max(0, len(self.exec_exits) - KEPT_EXECS)]:
            del self.exec_exits[exec_id]

    def _finish_init(self, code: int) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None
        oom = False
        oom_killed = getattr(self.launcher, "oom_killed", None)
        if oom_killed is not None:
            try:
                oom = bool(oom_killed(self.opts.state_dir))
            except Exception as exc:
                _note(f"launcher.oom_killed failed: {error_text(exc)}")
        self._release()
        record: dict[str, object] = {
            "exit_code": self.start_code if self.start_error else code,
            "oom_killed": oom,
            "finished_at": timestamp(),
            "pid": self.init.pid if self.init else 0,
        }
        if self.start_error:
            record["error"] = self.start_error
        try:
            write_atomic(os.path.join(self.opts.state_dir, "exit.json"), dumps(record).encode())
        except OSError as exc:  # the waiters still get it
            _note(f"cannot write exit.json: {exc}")
        self.exit_record = record
        self.finished_at = time.monotonic()
        for waiter in self.waiters:
            waiter.reply(record)
        self.waiters.clear()
        init = self.init
        for client in init.clients if init else []:
            client.closing = True
            client.reading = False
        for session in self.execs.values():
            if not session.done and session.pid in self.by_pid:
                # The container is gone; so are the processes that ran in it.
                _kill(session.pid, _signal.SIGKILL)

    def _shutdown(self) -> None:
        remove(self.sock_path)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for conn in list(self.conns.values()):
            self._drop(conn)
        for session in self._sessions():
            session.stdio.close()
        remove(os.path.join(self.opts.state_dir, "monitor.pid"))
        _signal.set_wakeup_fd(-1)
        os.close(self.wake_r)
        os.close(self.wake_w)

    # --- monitor.sock -------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                # _socket's socket has only the raw accept (socket.socket wraps it).
                fd, _addr = self.listener._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: keep serving the others
                _note(f"accept failed: {exc}")
                return
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
            sock.setblocking(False)
            self.conns[fd] = Conn(sock)

    def _conn_readable(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            conn.broken = True
            return
        if conn.mode == "request":
            if not data:
                conn.broken = True
                return
            conn.inbuf += data
            end = conn.inbuf.find(b"\n")
            if end < 0:
                if len(conn.inbuf) > REQUEST_LIMIT:
                    conn.reply({"ok": False, "error": "request line too long"})
                return
            line, rest = bytes(conn.inbuf[:end]), bytes(conn.inbuf[end + 1 :])
            conn.inbuf.clear()
            self._request(conn, line)
            if rest and conn.mode == "stream":
                self._stream_input(conn, rest)
            return
        if data:
            self._stream_input(conn, data)
            return
        conn.reading = False
        session = conn.session
        if session is not None and conn.stdin:
            self._stdin_ended(session)

    def _stream_input(self, conn: Conn, data: bytes) -> None:
        session = conn.session
        if session is None or not conn.stdin or session.done or session.stdin_closing:
            return
        if session.stdio.stdin < 0:
            return
        session.stdin_buf += data
        self._write_stdin(session)

    def _request(self, conn: Conn, line: bytes) -> None:
        try:
            request = loads(line)
        except ValueError as exc:
            conn.reply({"ok": False, "error": f"bad request: {exc}"})
            return
        if not isinstance(request, dict):
            conn.reply({"ok": False, "error": "bad request: not a JSON object"})
            return
        op = request.get("op")
        handler = _OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            conn.reply({"ok": False, "error": f"unknown op {op!r}"})
            return
        try:
            handler(self, conn, request)
        except Exception as exc:
            conn.reply({"ok": False, "error": error_text(exc)})

    def _running(self) -> Session | None:
        init = self.init
        if init is None or init.exit_code is not None or init.done or not self.started_at:
            return None
        return init

    def op_start(self, conn: Conn, request: dict[str, object]) -> None:
        init = self.init
        if init is None or init.exit_code is not None or init.done:
            conn.reply({"ok": False, "error": "the container has exited"})
            return
        if self.started_at:
            conn.reply({"ok": False, "error": "the container is already started"})
            return
        try:
            self.launcher.start(self.opts.state_dir)
        except Exception as exc:
            self.start_error = error_text(exc)
            self.start_code = code = exec_failure_code(exc)
            # The init cannot run: make sure it is gone (its exit finishes the monitor).
            _kill(init.pid, _signal.SIGKILL)
            conn.reply({"ok": False, "error": self.start_error, "exit_code": code})
            return
        self.started_at = timestamp()
        conn.reply({"ok": True, "pid": init.pid})

    def op_attach(self, conn: Conn, request: dict[str, object]) -> None:
        init = self.init
        conn.reply({"ok": True}, then_close=False)
        if init is None or init.done:
            conn.mode, conn.closing = "done", True
            return
        conn.mode = "stream"
        conn.session = init
        conn.stdin = request.get("stdin") is True and self.opts.open_stdin
        conn.streams = tuple(
            n for n, key in ((1, "stdout"), (2, "stderr")) if request.get(key, True) is True
        )
        init.clients.append(conn)

    def op_resize(self, conn: Conn, request: dict[str, object]) -> None:
        height, width = request.get("height"), request.get("width")
        if not _small_int(height) or not _small_int(width):
            conn.reply({"ok": False, "error": "resize needs height and width (0-65535)"})
            return
        exec_id = request.get("exec")
        session: Session | None = self.execs.get(exec_id) if isinstance(exec_id, str) else self.init
        if session is None or session.done:
            conn.reply({"ok": False, "error": "no such process to resize"})
            return
        if session.stdio.master < 0:
            conn.reply({"ok": False, "error": "the process has no terminal"})
            return
        _set_window_size(session.stdio.master, int(str(height)), int(str(width)))
        conn.reply({"ok": True})

    def op_wait(self, conn: Conn, request: dict[str, object]) -> None:
        exec_id = request.get("exec")
        if isinstance(exec_id, str):
            if exec_id in self.exec_exits:
                conn.reply({"exit_code": self.exec_exits[exec_id]})
            elif exec_id in self.execs:
                conn.mode, conn.wait_exec = "wait", exec_id
                self.exec_waiters.append(conn)
            else:
                conn.reply({"ok": False, "error": f"no exec {exec_id!r}"})
            return
        if self.exit_record:
            conn.reply(self.exit_record)
            return
        conn.mode = "wait"
        self.waiters.append(conn)

    def op_exec(self, conn: Conn, request: dict[str, object]) -> None:
        exec_id, process = request.get("id"), request.get("process")
        args = process.get("args") if isinstance(process, dict) else None
        if not isinstance(exec_id, str) or not exec_id or not isinstance(process, dict):
            conn.reply({"ok": False, "error": "exec needs an id and a process object"})
            return
        if not isinstance(args, list) or not args:
            conn.reply({"ok": False, "error": "exec needs process.args"})
            return
        if exec_id in self.execs:
            conn.reply({"ok": False, "error": f"exec {exec_id!r} exists already"})
            return
        if self._running() is None:
            conn.reply({"ok": False, "error": f"container {self.opts.container_id} is not running"})
            return
        tty, stdin = request.get("tty") is True, request.get("stdin") is True
        stdio = ProcessStdio(tty, stdin)
        try:
            pid = int(
                self.launcher.exec(
                    self.opts.bundle, self.opts.state_dir, process, stdio.child, stdio.console
                )
            )
            stdio.launched()
        except Exception as exc:
            stdio.close()
            conn.reply({"ok": False, "error": error_text(exc), "exit_code": exec_failure_code(exc)})
            return
        session = Session(stdio, stdin_once=True, exec_id=exec_id)
        session.pid = pid
        self.execs[exec_id] = session
        self.by_pid[pid] = session
        for fd in stdio.outputs:
            self.by_fd[fd] = session
        if stdio.stdin >= 0:
            self.by_fd[stdio.stdin] = session
        conn.reply({"ok": True, "pid": pid}, then_close=False)
        conn.mode, conn.session, conn.stdin, conn.streams = "stream", session, stdin, (1, 2)
        session.clients.append(conn)
        # It may have ended already (before its entry in by_pid existed).
        self._reap()

    def op_kill(self, conn: Conn, request: dict[str, object]) -> None:
        number = request.get("signal", _signal.SIGTERM)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 65:
            conn.reply({"ok": False, "error": f"invalid signal {number!r}"})
            return
        init = self.init
        if init is None or init.exit_code is not None or init.done:
            conn.reply({"ok": False, "error": f"container {self.opts.container_id} is not running"})
            return
        # The monitor is the parent of these processes: their PIDs cannot be reused before it
        # reaps them. ``all``: the exec'd processes too (every process of the container is
        # the runtime's kill(all=True), through its cgroup). ``exec``: that exec only.
        exec_id = request.get("exec")
        if isinstance(exec_id, str):
            target = self.execs.get(exec_id)
            if target is not None and target.pid in self.by_pid:
                _kill(target.pid, number)
            conn.reply({"ok": True})
            return
        os.kill(init.pid, number)
        if request.get("all") is True:
            for session in self.execs.values():
                if session.pid in self.by_pid:
                    _kill(session.pid, number)
        conn.reply({"ok": True})

    def op_state(self, conn: Conn, request: dict[str, object]) -> None:
        init = self.init
        if self.exit_record or init is None or init.exit_code is not None:
            status = "stopped"
        else:
            status = "running" if self.started_at else "created"
        answer: dict[str, object] = {
            "ok": True,
            "status": status,
            "pid": init.pid if init else 0,
            "started_at": self.started_at,
            "execs": sorted(k for k, s in self.execs.items() if not s.done),
        }
        if self.exit_record:
            answer["exit"] = self.exit_record
        conn.reply(answer)


_OPS = {
    "start": Monitor.op_start,
    "attach": Monitor.op_attach,
    "resize": Monitor.op_resize,
    "wait": Monitor.op_wait,
    "exec": Monitor.op_exec,
    "kill": Monitor.op_kill,
    "state": Monitor.op_state,
}


def _on_sigchld(signum: int, frame: object) -> None:
    """Nothing to do here: the wakeup fd tells the loop to reap."""


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _readable(fd: int) -> bool:
    probe = select.poll()
    probe.register(fd, POLLIN)
    return bool(probe.poll(0))


def _kill(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        return


def _small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF


def _set_window_size(fd: int, height: int, width: int) -> None:
    import fcntl
    import sys
    import termios

    size = b"".join(n.to_bytes(2, sys.byteorder) for n in (height, width, 0, 0))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def _note(message: str) -> None:
    """A line in the monitor's own log (its stderr, ``monitor.log`` in the state directory)."""
    try:
        os.write(2, f"{timestamp()} monitor: {message}\n".encode())
    except OSError:
        return
