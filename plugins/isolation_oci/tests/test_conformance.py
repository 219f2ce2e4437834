"""Core's isolation conformance suite, for both entry points (crun's skip where its probe says
it cannot work here).

One check is replaced: runc looks the program up in ``create`` (runc 1.1 resolves it in its
init before it waits for ``start``), so a program that cannot run fails ``create`` — with
Docker's text and errno all the same, and nothing left behind. The engine starts a container
with create then start, so users see the same error and exit code. For a directory runc says
``permission denied`` (as Docker with runc does), not ``is a directory``.
"""

from __future__ import annotations

import errno

import pytest
from berth.testing.conformance import IsolationRuntimeSuite
from berth.testing.conformance.isolation import BoxFactory, cgroup_dirs
from berth.testing.launcher_harness import LaunchFailed


class OciSuite(IsolationRuntimeSuite):
    @pytest.mark.parametrize(
        ("program", "code", "message", "err"),
        [
            ("nope", 127, 'exec: "nope": executable file not found in $PATH', errno.ENOENT),
            ("/nope", 127, 'exec: "/nope": stat /nope: no such file or directory', errno.ENOENT),
            ("/etc", 126, 'exec: "/etc": permission denied', errno.EACCES),
            ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied', errno.EACCES),
        ],
    )
    def test_a_program_that_cannot_run_fails_start_with_dockers_text(
        self, box: BoxFactory, program: str, code: int, message: str, err: int
    ) -> None:
        b = box([program])
        with pytest.raises(LaunchFailed) as caught:
            b.create()
        assert caught.value.strerror == message
        assert caught.value.errno == err
        assert (127 if err == errno.ENOENT else 126) == code
        assert not cgroup_dirs(b.cgroups_path)


class TestRunc(OciSuite):
    name = "runc"
    distribution = "berth-isolation-oci"


class TestCrun(OciSuite):
    name = "crun"
    distribution = "berth-isolation-oci"
