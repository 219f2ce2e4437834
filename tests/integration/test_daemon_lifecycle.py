"""berthd's life: pid file, one daemon per data root, clean shutdown, config errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat

import pytest

from tests.integration.daemon import Daemon, make_daemon, ping, request
from tests.integration.test_plugin_host import refusal


def test_sigterm_stops_cleanly_and_removes_socket_and_pidfile(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    assert fresh_daemon.proc is not None
    pidfile = fresh_daemon.exec_root / "berthd.pid"
    assert pidfile.read_text().strip() == str(fresh_daemon.proc.pid)
    mode = stat.S_IMODE(fresh_daemon.sock.stat().st_mode)
    assert mode == 0o660
    assert fresh_daemon.stop(signal.SIGTERM) == 0
    assert not fresh_daemon.sock.exists()
    assert not pidfile.exists()
    assert '"daemon.stopped"' in fresh_daemon.log()


def test_sigint_stops_cleanly(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    assert fresh_daemon.stop(signal.SIGINT) == 0
    assert not fresh_daemon.sock.exists()


def test_second_daemon_on_same_data_root_is_refused(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    assert fresh_daemon.proc is not None
    other_sock = fresh_daemon.root / "other.sock"
    message = refusal(fresh_daemon, "-H", f"unix://{other_sock}")
    assert message == (
        f"berthd: another berthd (pid {fresh_daemon.proc.pid}) is using data root "
        f"{fresh_daemon.data_root}; stop it first, or give this one its own --data-root"
    )
    assert ping(fresh_daemon.sock), "the first daemon must keep serving"


def test_second_daemon_on_same_socket_is_refused(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    other = make_daemon()
    try:
        proc = other.spawn("-H", fresh_daemon.host)
        assert proc.wait(30) != 0
        assert f"another daemon is already listening on {fresh_daemon.sock}" in other.log()
        assert ping(fresh_daemon.sock)
    finally:
        other.cleanup()


def test_stale_socket_after_kill_is_replaced(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    fresh_daemon.stop(signal.SIGKILL)
    assert fresh_daemon.sock.exists()  # left behind by the killed daemon
    fresh_daemon.start()
    assert ping(fresh_daemon.sock)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"colour": "red"}, "unknown key 'colour' in "),
        ({"log-level": "loud"}, "log-level must be one of debug, info, warn, error, fatal"),
        ({"hosts": ["http://x"]}, "is not an address berthd can listen on"),
        ({"max-concurrent-downloads": "many"}, "must be a non-negative integer"),
        ({"plugins": {"allowed": []}}, "plugins: unknown key 'allowed'"),
        ({"default-address-pools": [{"base": "10.0.0.0/8"}]}, "each pool must be"),
    ],
)
def test_bad_config_is_one_clear_line(fresh_daemon: Daemon, config: dict, expected: str) -> None:  # type: ignore[type-arg]
    fresh_daemon.config_file.write_text(json.dumps(config))
    assert expected in refusal(fresh_daemon)


def test_config_that_is_not_json(fresh_daemon: Daemon) -> None:
    fresh_daemon.config_file.write_text("{ nope")
    assert "is not valid JSON" in refusal(fresh_daemon)


def test_missing_explicit_config_file(fresh_daemon: Daemon) -> None:
    fresh_daemon.config_file.unlink()
    assert refusal(fresh_daemon).endswith("does not exist")


def test_flag_beats_env_beats_file(fresh_daemon: Daemon) -> None:
    fresh_daemon.config_file.write_text(json.dumps({"labels": ["from=file"], "debug": False}))
    fresh_daemon.env["BERTHD_LABELS"] = "from=env"
    fresh_daemon.env["BERTHD_DEBUG"] = "true"
    fresh_daemon.start()
    info = json.loads(request(fresh_daemon.sock, "GET", "/info")[2])
    assert info["Labels"] == ["from=env"]
    assert info["Debug"] is True
    fresh_daemon.stop()
    fresh_daemon.args = ["--log-level", "info"]
    fresh_daemon.env["BERTHD_LOG_LEVEL"] = "error"
    fresh_daemon.start()
    # The flag's level (info) wins over the environment's (error): info lines are logged.
    assert '"daemon.started"' in fresh_daemon.log().split('"daemon.stopped"')[-1]


def test_http_errors_are_docker_shaped(berthd: Daemon) -> None:
    status, headers, body = request(berthd.sock, "GET", "/v1.44/nowhere")
    assert status == 404 and json.loads(body) == {"message": "page not found"}
    assert headers["api-version"] == "1.44"
    status, _, body = request(berthd.sock, "POST", "/v1.44/version")
    assert status == 405 and "not allowed" in json.loads(body)["message"]
    status, _, body = request(berthd.sock, "GET", "/v1.12/version")
    assert status == 400 and "too old" in json.loads(body)["message"]
    status, _, body = request(berthd.sock, "GET", "/v1.45/version")
    assert status == 400 and "too new" in json.loads(body)["message"]
    status, _, body = request(berthd.sock, "GET", '/events?filters={"type":["nope"]}')
    assert status == 400 and "invalid filter 'type=nope'" in json.loads(body)["message"]
    status, _, body = request(berthd.sock, "GET", "/events?since=yesterday")
    assert status == 400 and "invalid value for since" in json.loads(body)["message"]


def test_head_ping_has_headers_and_no_body(berthd: Daemon) -> None:
    status, headers, body = request(berthd.sock, "HEAD", "/_ping")
    assert status == 200 and body == b""
    for name in ("api-version", "builder-version", "ostype", "swarm", "server"):
        assert name in headers
    status, headers, body = request(berthd.sock, "GET", "/v1.30/_ping")
    assert body == b"OK"


def test_garbage_request_gets_400_and_daemon_survives(berthd: Daemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(5)
        conn.connect(str(berthd.sock))
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 400")
    assert ping(berthd.sock)


def test_no_leftover_files_in_exec_root_after_stop(fresh_daemon: Daemon) -> None:
    fresh_daemon.start()
    fresh_daemon.stop()
    assert not [p for p in os.listdir(fresh_daemon.exec_root) if p.endswith((".pid", ".sock"))]
