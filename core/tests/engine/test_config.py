from __future__ import annotations

import json
from pathlib import Path

import pytest
from berth.engine.config import load_config
from berth.engine.errors import ConfigError


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(data))
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config({}, write(tmp_path, {}), environ={})
    assert config["storage-driver"] == ""
    assert config.data_root == Path("/var/lib/berth")
    assert config.pidfile == Path("/run/berth/berthd.pid")
    assert not config.explicit("data-root")


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    path = write(tmp_path, {"data-root": "/file", "exec-root": "/file-exec", "debug": True})
    env = {"BERTHD_DATA_ROOT": "/env", "BERTHD_EXEC_ROOT": "/env-exec"}
    config = load_config({"data-root": "/flag"}, path, environ=env)
    assert config["data-root"] == "/flag" and config.sources["data-root"] == "flag"
    assert config["exec-root"] == "/env-exec" and config.sources["exec-root"] == "environment"
    assert config["debug"] is True and config.sources["debug"] == str(path)
    assert config["log-level"] == "info" and config.sources["log-level"] == "default"


def test_env_lists_and_objects(tmp_path: Path) -> None:
    env = {
        "BERTHD_REGISTRY_MIRRORS": "http://a, http://b",
        "BERTHD_PLUGINS": '{"disabled": ["bridge"]}',
        "BERTHD_MAX_CONCURRENT_DOWNLOADS": "7",
    }
    config = load_config({}, write(tmp_path, {}), environ=env)
    assert config["registry-mirrors"] == ["http://a", "http://b"]
    assert config["plugins"] == {"allow": [], "disabled": ["bridge"]}
    assert config["max-concurrent-downloads"] == 7


def test_default_file_may_be_missing_but_an_explicit_one_may_not(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, missing, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, None, environ={"BERTHD_CONFIG_FILE": str(missing)})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"nope": 1}, "unknown key 'nope'"),
        ({"debug": "maybe"}, "debug must be true or false"),
        ({"hosts": "unix:///x"}, None),  # a single string is accepted as a one-item list
        ({"hosts": ["tcp://127.0.0.1"]}, "needs a port"),
        ({"storage-opts": ["size"]}, "must be key=value"),
        ({"runtimes": {"runc": {}}}, 'needs {"path"'),
        ({"default-address-pools": [{"base": "10.0.0.0/8", "size": 4}]}, "size 4 must be"),
        ({"default-address-pools": [{"base": "banana", "size": 24}]}, "is not a CIDR"),
        ({"log-format": "xml"}, "log-format must be one of json, console"),
        ([1, 2], "must hold a JSON object"),
    ],
)
def test_bad_values(tmp_path: Path, data: object, message: str | None) -> None:
    path = write(tmp_path, data)
    if message is None:
        assert load_config({}, path, environ={})["hosts"] == ["unix:///x"]
        return
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("(", r"\(")):
        load_config({}, path, environ={})


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BERTHD_SHUTDOWN_TIMEOUT must be a non-negative"):
        load_config({}, write(tmp_path, {}), environ={"BERTHD_SHUTDOWN_TIMEOUT": "-3"})


def test_error_message_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true,\n "x": }')
    with pytest.raises(ConfigError) as caught:
        load_config({}, path, environ={})
    assert "\n" not in str(caught.value) and "line 2" in str(caught.value)
