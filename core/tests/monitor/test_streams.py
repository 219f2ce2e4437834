"""The monitor's streams: output to log and attached clients, input, terminals, many clients."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from berth.monitor import client

from .conftest import Box, log_entries, read_all, stream_bytes


def test_output_goes_to_the_log_and_to_an_attached_client(box: Box) -> None:
    box.spawn(["sh", "-c", "echo out; echo err >&2; printf 'no newline'"])
    attached = client.attach(box.state)
    client.start(box.state)
    got = read_all(attached)
    assert stream_bytes(got, 1) == b"out\nno newline"
    assert stream_bytes(got, 2) == b"err\n"
    logged = [(e["stream"], e["log"]) for e in log_entries(box.log)]
    assert sorted(logged) == sorted(
        [("stdout", "out\n"), ("stderr", "err\n"), ("stdout", "no newline")]
    )
    assert client.wait(box.state).exit_code == 0
    assert box.finished()


def test_order_is_kept_within_a_stream_and_across_streams_when_written_apart(box: Box) -> None:
    script = (
        "for i in $(seq 1 3000); do echo $i; done; "
        "echo A >&2; sleep 0.1; echo B; sleep 0.1; echo C >&2"
    )
    box.spawn(["sh", "-c", script])
    attached = client.attach(box.state)
    client.start(box.state)
    got = read_all(attached)
    numbers = "".join(f"{i}\n" for i in range(1, 3001))
    assert stream_bytes(got, 1) == (numbers + "B\n").encode()
    assert stream_bytes(got, 2) == b"A\nC\n"
    tail = [(s, p) for s, p in got if p in (b"A\n", b"B\n", b"C\n")]
    assert tail == [(2, b"A\n"), (1, b"B\n"), (2, b"C\n")]
    logged = [e["log"] for e in log_entries(box.log)]
    assert logged == [f"{i}\n" for i in range(1, 3001)] + ["A\n", "B\n", "C\n"]


def test_a_client_may_ask_for_one_stream_only(box: Box) -> None:
    box.spawn(["sh", "-c", "echo out; echo err >&2"])
    only_err = client.attach(box.state, stdout=False, stderr=True)
    client.start(box.state)
    assert read_all(only_err) == [(2, b"err\n")]


def test_many_clients_get_the_same_output(box: Box) -> None:
    box.spawn(["sh", "-c", "seq 1 20000; echo done >&2"])
    clients = [client.attach(box.state) for _ in range(20)]
    client.start(box.state)
    results: list[list[tuple[int, bytes]]] = [[] for _ in clients]

    def read(n: int) -> None:
        results[n] = read_all(clients[n])

    readers = [threading.Thread(target=read, args=(n,)) for n in range(len(clients))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    expected = "".join(f"{i}\n" for i in range(1, 20001)).encode()
    for got in results:
        assert stream_bytes(got, 1) == expected
        assert stream_bytes(got, 2) == b"done\n"
    assert box.finished()


def test_a_slow_client_holds_the_output_back_but_loses_nothing(box: Box) -> None:
    size = 8 << 20
    box.spawn(["sh", "-c", f"head -c {size} /dev/zero"], log_path="")
    attached = client.attach(box.state)
    client.start(box.state)
    time.sleep(1.0)  # the client reads nothing for a while: the process has to wait
    assert client.state(box.state)["status"] == "running"
    assert len(stream_bytes(read_all(attached), 1)) == size
    assert client.wait(box.state).exit_code == 0


def test_stdin_reaches_the_process_and_its_end_closes_it_with_stdin_once(box: Box) -> None:
    box.spawn(["sh", "-c", "wc -c; echo bye"], open_stdin=True, stdin_once=True)
    attached = client.attach(box.state, stdin=True)
    client.start(box.state)
    data = os.urandom(3 << 20)
    attached.sendall(data)
    attached.shutdown(socket.SHUT_WR)
    got = read_all(attached)
    assert stream_bytes(got, 1) == f"{len(data)}\nbye\n".encode()
    assert client.wait(box.state).exit_code == 0


def test_stdin_sent_before_start_is_kept(box: Box) -> None:
    box.spawn(["cat"], open_stdin=True, stdin_once=True)
    attached = client.attach(box.state, stdin=True)
    attached.sendall(b"early\n")
    attached.shutdown(socket.SHUT_WR)
    time.sleep(0.1)
    client.start(box.state)
    assert read_all(attached) == [(1, b"early\n")]


def test_without_stdin_once_the_input_stays_open_for_the_next_client(box: Box) -> None:
    box.spawn(["cat"], open_stdin=True, stdin_once=False)
    client.start(box.state)
    first = client.attach(box.state, stdin=True)
    first.sendall(b"one\n")
    first.shutdown(socket.SHUT_WR)
    first.close()
    second = client.attach(box.state, stdin=True)
    second.sendall(b"two\n")
    time.sleep(0.3)
    assert client.state(box.state)["status"] == "running"
    client.kill(box.state, 15)
    assert client.wait(box.state).exit_code == 143
    assert [e["log"] for e in log_entries(box.log)] == ["one\n", "two\n"]
    second.close()


def test_input_from_a_client_without_stdin_is_ignored(box: Box) -> None:
    box.spawn(["sh", "-c", "read line; echo got:$line"], open_stdin=True, stdin_once=True)
    quiet = client.attach(box.state, stdin=False)
    talker = client.attach(box.state, stdin=True)
    client.start(box.state)
    quiet.sendall(b"ignored\n")
    quiet.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    talker.sendall(b"hello\n")
    assert stream_bytes(read_all(talker), 1) == b"got:hello\n"
    assert stream_bytes(read_all(quiet), 1) == b"got:hello\n"


def test_closed_stdin_when_the_container_has_none(box: Box) -> None:
    box.spawn(["sh", "-c", "cat; echo eof"])
    attached = client.attach(box.state, stdin=True)
    client.start(box.state)
    # The container may be done (and its stream closed) before this arrives: then it fails.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        attached.sendall(b"dropped\n")
    assert read_all(attached) == [(1, b"eof\n")]


def test_a_terminal_echoes_input_and_takes_its_size(box: Box) -> None:
    script = "stty size; read line; echo got:$line; tty >/dev/null && echo is-a-tty; exit 4"
    box.spawn(["sh", "-c", script], tty=True, open_stdin=True, stdin_once=True)
    client.resize(box.state, 33, 111)
    attached = client.attach(box.state, stdin=True)
    client.start(box.state)
    time.sleep(0.2)
    attached.sendall(b"typed\n")
    got = read_all(attached)
    assert {s for s, _ in got} == {1}  # one stream with a terminal
    text = stream_bytes(got, 1)
    assert text.startswith(b"33 111\r\n")
    assert b"typed\r\n" in text  # the terminal's echo
    assert b"got:typed\r\nis-a-tty\r\n" in text
    assert client.wait(box.state).exit_code == 4
    assert "".join(e["log"] for e in log_entries(box.log)).encode() == text


def test_resize_needs_a_terminal_and_good_numbers(box: Box) -> None:
    box.spawn(["sleep", "10"])
    with pytest.raises(client.MonitorError, match="the process has no terminal"):
        client.resize(box.state, 10, 10)
    with pytest.raises(client.MonitorError, match="resize needs height and width"):
        client.resize(box.state, -1, 10)
    with pytest.raises(client.MonitorError, match="no such process to resize"):
        client.resize(box.state, 10, 10, exec_id="nope")


def test_log_rotation_while_running(box: Box) -> None:
    box.run(["sh", "-c", "seq 1 2000"], log_max_size=4096, log_max_file=3)
    names = sorted(p.name for p in box.log.parent.glob("ctr-json.log*"))
    assert names == ["ctr-json.log", "ctr-json.log.1", "ctr-json.log.2"]
    kept = []
    for name in reversed(names):
        kept += [int(e["log"]) for e in log_entries(box.log.parent / name)]
    assert kept == list(range(kept[0], 2001))
    for name in names[1:]:
        assert 4096 <= (box.log.parent / name).stat().st_size < 4096 + 100


def test_no_log_without_a_log_path(box: Box, tmp_path: Path) -> None:
    box.run(["echo", "hi"], log_path="")
    assert not list(tmp_path.rglob("*json.log*"))
