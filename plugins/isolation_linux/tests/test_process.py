"""Finding the program (Go's exec.LookPath, for Docker's messages) and rlimit checks."""

from __future__ import annotations

import errno
import os
import resource
from pathlib import Path

import pytest
from berth_isolation_linux import process
from berth_isolation_linux.config import Rlimit


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    tool = directory / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    plain = directory / "plain"
    plain.write_text("data")
    plain.chmod(0o644)
    (directory / "subdir").mkdir()
    return directory


def test_found_on_the_path(bin_dir: Path) -> None:
    env = {"PATH": f"/nonexistent:{bin_dir}"}
    assert process.lookup("tool", env) == f"{bin_dir}/tool"


def test_not_on_the_path(bin_dir: Path) -> None:
    found = process.lookup("nope", {"PATH": str(bin_dir)})
    assert isinstance(found, process.Failure)
    assert found.message == 'exec: "nope": executable file not found in $PATH'
    assert (found.errno, found.exit_code) == (errno.ENOENT, 127)


def test_a_non_executable_file_on_the_path_is_skipped(bin_dir: Path) -> None:
    found = process.lookup("plain", {"PATH": str(bin_dir)})
    assert isinstance(found, process.Failure)
    assert "executable file not found" in found.message


def test_no_path_finds_nothing(bin_dir: Path) -> None:
    assert isinstance(process.lookup("tool", {}), process.Failure)


def test_an_empty_path_entry_is_the_working_directory(
    bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bin_dir)
    assert process.lookup("tool", {"PATH": "/nonexistent:"}) == "./tool"


@pytest.mark.parametrize(
    ("name", "message", "code"),
    [
        ("tool", None, 0),
        ("missing", 'exec: "{p}": stat {p}: no such file or directory', 127),
        ("subdir", 'exec: "{p}": is a directory', 126),
        ("plain", 'exec: "{p}": permission denied', 126),
    ],
)
def test_paths_with_a_slash(bin_dir: Path, name: str, message: str | None, code: int) -> None:
    path = str(bin_dir / name)
    found = process.lookup(path, {"PATH": ""})
    if message is None:
        assert found == path
    else:
        assert isinstance(found, process.Failure)
        assert found.message == message.format(p=path)
        assert found.exit_code == code


def test_home_comes_from_passwd(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n")
    assert process.home_of(1000, str(passwd)) == "/home/bob"
    assert process.home_of(0, str(passwd)) == "/root"
    assert process.home_of(4242, str(passwd)) == "/"
    assert process.home_of(0, str(tmp_path / "missing")) == "/"


def test_an_rlimit_above_the_hard_limit_is_explained() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NOFILE has no hard limit here")
    within = Rlimit("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, soft, hard)
    assert process.rlimit_problem(within) is None
    above = Rlimit("RLIMIT_NOFILE", resource.RLIMIT_NOFILE, hard + 1, hard + 1)
    has_cap = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("CapEff")
            ),
            16,
        )
        >> 24
        & 1
    )
    problem = process.rlimit_problem(above)
    if has_cap:
        assert problem is None
    else:
        assert problem is not None
        assert f"the hard limit here is {hard}" in problem
        assert f"--ulimit nofile={hard}:{hard}" in problem


def test_reset_signals_restores_defaults() -> None:
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
            process.reset_signals()
            ok = signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL and not signal.pthread_sigmask(
                signal.SIG_BLOCK, []
            )
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.close(read)
    os.waitpid(pid, 0)
