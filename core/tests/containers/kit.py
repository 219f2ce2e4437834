"""Helpers of the container-model tests: a fixed host, containers made as create makes them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from berth.engine.containers import hostconfig, model
from berth.engine.containers.hostconfig import CAPABILITIES, DEFAULT_NET_SYSCTLS, HostFacts
from berth.engine.errors import BerthError

IS_ROOT = os.geteuid() == 0

#: A host like the CI machine: 2 CPUs, cgroup v1, no CAP_SYS_RESOURCE, nofile hard 20000.
HOST = HostFacts(
    ncpu=2,
    cpus="0-1",
    mems="0",
    cap_last_cap=40,
    bounding=frozenset(CAPABILITIES) - {"CAP_SYS_RESOURCE"},
    can_raise_rlimits=False,
    rlimit_hard={"nofile": 20000, "nproc": -1, "core": -1, "memlock": 8388608},
    cgroup_v2=False,
    swap_limit=True,
    arch="amd64",
    kernel=(6, 1),
    sysctls=frozenset(DEFAULT_NET_SYSCTLS),
    hostname="testhost",
)

IMAGE_CONFIG: dict[str, Any] = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["sh"],
}

CONTAINER_ID = "c0ffee" + "1" * 58


def make_container(
    config: Mapping[str, Any] | None = None,
    host_config: Mapping[str, Any] | None = None,
    image: Mapping[str, Any] | None = None,
    host: HostFacts = HOST,
    container_id: str = CONTAINER_ID,
) -> model.Container:
    """A container as create makes it: image config merged, HostConfig checked and completed."""
    merged = model.merge_image_config(
        {"Image": "busybox", **(config or {})}, IMAGE_CONFIG if image is None else image
    )
    complete, _ = hostconfig.prepare_create(container_id, merged, host_config, host)
    path, args = model.command_of(merged)
    return model.Container(
        id=container_id,
        name="/test",
        image="sha256:" + "a" * 64,
        config=merged,
        host_config=complete,
        path=path,
        args=args,
        driver="fake",
    )


def one_line(exc: pytest.ExceptionInfo[BerthError]) -> str:
    """The error's message, checked to be one line without a traceback."""
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text, text
    return text


def write_rootfs(root: Path, passwd: str, group: str) -> Path:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "passwd").write_text(passwd)
    (root / "etc" / "group").write_text(group)
    return root


PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
not a valid line
broken:x:notanumber:1::/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000:App,,,:/home/app:/bin/sh
"""

GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:app,root
audio:x:29:app
nogroup:x:65534:
app:x:1000:
"""
