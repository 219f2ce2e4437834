"""The HTTP client over a UNIX socket / TCP against the fake daemon: hosts, errors, streams."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from berth.client import system
from berth.client.api import APIClient
from berth.client.errors import CannotConnect, ClientError, DaemonError, HostError, ProtocolError
from berth.client.hosts import DEFAULT_HOST, parse_host, resolve_host

# --- hosts ----------------------------------------------------------------------------------


def test_host_precedence_flag_then_berth_host_then_docker_host_then_default() -> None:
    env = {"BERTH_HOST": "unix:///b.sock", "DOCKER_HOST": "tcp://docker:2375"}
    assert resolve_host("unix:///flag.sock", env).path == "/flag.sock"
    assert resolve_host(None, env).path == "/b.sock"
    assert resolve_host(None, {"DOCKER_HOST": "tcp://docker:2375"}).hostname == "docker"
    default = resolve_host(None, {})
    assert default.url == DEFAULT_HOST == "unix:///run/berth/berth.sock"
    assert default.is_default
    assert not resolve_host(None, {"BERTH_HOST": DEFAULT_HOST}).is_default
    assert not resolve_host(DEFAULT_HOST, {}).is_default


def test_parse_tcp_hosts() -> None:
    host = parse_host("tcp://127.0.0.1:2376")
    assert (host.scheme, host.hostname, host.port) == ("tcp", "127.0.0.1", 2376)
    assert parse_host("tcp://example.org").port == 2375
    assert parse_host("tcp://my-host.example:1/").hostname == "my-host.example"
    v6 = parse_host("tcp://[::1]:2377")
    assert (v6.hostname, v6.port) == ("::1", 2377)
    assert parse_host("tcp://[fe80::1]").port == 2375


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ssh://me@host", 'unsupported scheme "ssh"'),
        ("/run/berth/berth.sock", "no scheme"),
        ("unix://relative.sock", "absolute path"),
        ("tcp://host:notaport", 'bad port "notaport"'),
        ("tcp://host:70000", 'bad port "70000"'),
        ("tcp://host:1/path", "use tcp://host:port"),
        ("tcp://user@host", "use tcp://host:port"),
        ("tcp://[::1", "use tcp://host:port"),
        ("tcp://", "use tcp://host:port"),
        ("  ", "empty daemon address"),
    ],
)
def test_bad_hosts(url: str, message: str) -> None:
    with pytest.raises(HostError) as err:
        parse_host(url)
    assert message in str(err.value)


# --- requests -------------------------------------------------------------------------------


def client_for(daemon: Any, **kwargs: Any) -> APIClient:
    return APIClient(parse_host(daemon.url), **kwargs)


def test_paths_are_versioned_and_json_decoded(daemon: Any, fakes: ModuleType) -> None:
    api = client_for(daemon)
    assert system.version(api) == fakes.SAMPLE_VERSION
    assert system.info(api)["Driver"] == "overlay"
    assert system.plugins(api) == fakes.SAMPLE_PLUGINS
    assert system.ping(api) == "OK"
    targets = [r.target for r in daemon.requests]
    assert targets == ["/v1.44/version", "/v1.44/info", "/v1.44/berth/plugins", "/_ping"]
    assert daemon.requests[0].headers["user-agent"].startswith("Berth-Client/0.1.0")


def test_query_values_are_percent_encoded(daemon: Any) -> None:
    api = client_for(daemon)
    api.request("GET", "/version", query={"filters": '{"label": {"a=b c&d/é": true}}', "n": 2})
    assert daemon.requests[-1].query == {"filters": ['{"label": {"a=b c&d/é": true}}'], "n": ["2"]}
    assert "%26" in daemon.requests[-1].target and " " not in daemon.requests[-1].target


def test_post_json_sends_a_json_body(daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/echo")] = lambda req: fakes.Reply(201, json.loads(req.body))
    api = client_for(daemon)
    assert api.post_json("/echo", {"Image": "busybox"}, {"name": "x", "force": True}) == {
        "Image": "busybox"
    }
    request = daemon.requests[-1]
    assert request.headers["content-type"] == "application/json"
    assert request.query == {"name": ["x"], "force": ["1"]}


def test_tcp_transport(fakes: ModuleType) -> None:
    fake = fakes.FakeDaemon(None).start()
    try:
        api = APIClient(parse_host(fake.url))
        assert system.version(api)["ApiVersion"] == "1.44"
    finally:
        fake.stop()


@pytest.mark.parametrize(
    ("reply_args", "status", "message"),
    [
        ((404, {"message": "No such container: x"}), 404, "No such container: x"),
        ((409, {"message": "conflict", "other": 1}), 409, "conflict"),
        ((500, b"plain text failure"), 500, "plain text failure"),
        ((503, b""), 503, "503 Service Unavailable"),
    ],
)
def test_daemon_errors_keep_status_and_message(
    daemon: Any, fakes: ModuleType, reply_args: tuple[int, Any], status: int, message: str
) -> None:
    daemon.routes[("GET", "/info")] = fakes.Reply(*reply_args)
    with pytest.raises(DaemonError) as err:
        system.info(client_for(daemon))
    assert err.value.status == status
    assert err.value.message == message
    assert str(err.value) == f"Error response from daemon: {message}"


def test_invalid_json_answer(daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/version")] = fakes.Reply(200, b"{not json")
    with pytest.raises(ProtocolError, match="invalid JSON"):
        system.version(client_for(daemon))
    daemon.routes[("GET", "/berth/plugins")] = fakes.Reply(200, {"not": "a list"})
    with pytest.raises(ProtocolError, match="no list"):
        system.plugins(client_for(daemon))


def test_missing_socket_is_cannot_connect(short_tmp: Path) -> None:
    url = f"unix://{short_tmp}/absent.sock"
    with pytest.raises(CannotConnect) as err:
        system.version(APIClient(parse_host(url)))
    assert str(err.value) == f"Cannot connect to the berth daemon at {url}. Is berthd running?"


def test_refused_connection_is_cannot_connect(short_tmp: Path) -> None:
    path = short_tmp / "dead.sock"
    with socket.socket(socket.AF_UNIX) as dead:  # bound, never listening: ECONNREFUSED
        dead.bind(str(path))
        with pytest.raises(CannotConnect):
            system.ping(APIClient(parse_host(f"unix://{path}")))


def test_daemon_hanging_up_is_a_clear_error(short_tmp: Path) -> None:
    path = short_tmp / "rude.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(1)

        def hang_up() -> None:
            conn, _ = server.accept()
            conn.recv(1024)
            conn.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        with pytest.raises(ClientError) as err:
            system.version(APIClient(parse_host(f"unix://{path}")))
        thread.join(5)
    assert "error during connect: GET" in str(err.value)


# --- autostart hook (the spawning itself is tested in test_autostart.py) ---------------------


def test_autostart_is_never_used_for_an_explicit_host(short_tmp: Path) -> None:
    calls: list[object] = []
    host = parse_host(f"unix://{short_tmp}/absent.sock")
    with pytest.raises(CannotConnect):
        APIClient(host, autostart=calls.append).ping()
    assert calls == []


def test_autostart_runs_once_on_the_default_host_then_retries(
    short_tmp: Path, fakes: ModuleType
) -> None:
    socket_path = short_tmp / "berth.sock"
    host = parse_host(f"unix://{socket_path}", is_default=True)
    started: list[Any] = []

    def start(h: Any) -> None:
        started.append(fakes.FakeDaemon(h.path).start())

    try:
        api = APIClient(host, autostart=start)
        assert api.ping() == "OK"
        assert api.ping() == "OK"
        assert len(started) == 1
    finally:
        for fake in started:
            fake.stop()


def test_autostart_is_not_tried_when_the_socket_refuses_permission(short_tmp: Path) -> None:
    calls: list[object] = []
    host = parse_host(f"unix://{short_tmp}/absent.sock", is_default=True)

    def denied(_timeout: float | None) -> None:
        raise ClientError("permission denied while trying to connect")

    api = APIClient(host, autostart=calls.append)
    api._connect_once = denied  # type: ignore[assignment,method-assign]
    with pytest.raises(ClientError, match="permission denied"):
        api.ping()
    assert calls == []


# --- streams --------------------------------------------------------------------------------


def test_events_stream_query_and_values(daemon: Any, fakes: ModuleType) -> None:
    api = client_for(daemon)
    got = list(
        system.events(
            api,
            since="1700000000",
            until="1700000100.5",
            filters={"type": ["container"], "event": ["start", "die"]},
        )
    )
    assert got == fakes.SAMPLE_EVENTS
    query = daemon.requests[-1].query
    assert query["since"] == ["1700000000"] and query["until"] == ["1700000100.5"]
    assert json.loads(query["filters"][0]) == {
        "type": {"container": True},
        "event": {"start": True, "die": True},
    }


def test_stream_values_split_and_joined_across_chunks(daemon: Any, fakes: ModuleType) -> None:
    raw = [b'{"a": 1}\n{"b"', b": 2}\n\n", b'{"c": "\xc3', b'\xa9"}', b'{"d": 4}\n']
    daemon.routes[("GET", "/events")] = fakes.Stream(items=raw)
    assert list(system.events(client_for(daemon))) == [{"a": 1}, {"b": 2}, {"c": "é"}, {"d": 4}]


def test_stream_yields_each_value_as_it_arrives(daemon: Any, fakes: ModuleType) -> None:
    release = threading.Event()

    def before_each(index: int) -> None:
        if index == 1:
            release.wait(10)

    daemon.routes[("GET", "/events")] = fakes.Stream(
        items=fakes.SAMPLE_EVENTS, before_each=before_each
    )
    stream = system.events(client_for(daemon))
    start = time.monotonic()
    first = next(stream)
    assert first == fakes.SAMPLE_EVENTS[0]
    assert not release.is_set() and time.monotonic() - start < 5
    release.set()
    assert list(stream) == fakes.SAMPLE_EVENTS[1:]


def test_stream_cut_inside_a_value(daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/events")] = fakes.Stream(items=[b'{"a": 1}\n{"b": '])
    stream = system.events(client_for(daemon))
    assert next(stream) == {"a": 1}
    with pytest.raises(ProtocolError, match="ended inside a JSON value"):
        next(stream)


def test_stream_error_status_is_a_daemon_error(daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/events")] = fakes.Reply(400, {"message": "invalid filter 'nope'"})
    with pytest.raises(DaemonError, match="invalid filter 'nope'"):
        list(system.events(client_for(daemon), filters={"nope": ["x"]}))
