"""RUN: the command in a real container made from the step's parent image, through the
container service (so the isolation runtime, the network mode and the storage driver are the
ones every container uses); its output goes to the build's stream as it comes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.engine.containers.attach import AttachOptions
from berth.engine.containers.service import ContainerService

Output = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class RunRequest:
    image_id: str
    cmd: Sequence[str]
    env: Sequence[str]  # build args, added to the image's environment
    network_mode: str
    #: Resource settings of the build (``--memory``, ``--add-host``, …) for the container.
    host_config: Mapping[str, Any] = field(default_factory=dict)


class _OutputClient:
    """The 'client' of the attachment: frames in, text out (stdout and stderr alike)."""

    def __init__(self, output: Output) -> None:
        self._output = output
        self._buffer = b""
        self._closed = asyncio.Event()

    async def read(self, n: int = 65536) -> bytes:
        await self._closed.wait()  # no stdin: wait until the run is over
        return b""

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 8:
            size = int.from_bytes(self._buffer[4:8], "big")
            if len(self._buffer) < 8 + size:
                break
            payload, self._buffer = self._buffer[8 : 8 + size], self._buffer[8 + size :]
            await self._output(payload.decode("utf-8", "replace"))

    def close(self) -> None:
        self._closed.set()


async def create_container(containers: ContainerService, request: RunRequest) -> str:
    body: dict[str, Any] = {
        "Image": request.image_id,
        "Cmd": list(request.cmd),
        "Entrypoint": [""],
        "Env": list(request.env),
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": {
            **request.host_config,
            "NetworkMode": request.network_mode or "default",
            "LogConfig": {"Type": "none", "Config": {}},
        },
    }
    created = await containers.create("", body)
    return str(created["Id"])


async def run_container(containers: ContainerService, container_id: str, output: Output) -> int:
    """Start the container, stream its output, wait for its exit; its exit code."""
    _, handler = await containers.attach(
        container_id, AttachOptions(stream=True, stdout=True, stderr=True)
    )
    client = _OutputClient(output)
    attached = asyncio.ensure_future(handler(client))
    try:
        exited = await containers.wait(container_id, "next-exit")
        await containers.start(container_id)
        code, _ = await exited
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(attached), 30)
    finally:
        client.close()
        if not attached.done():
            attached.cancel()
        with contextlib.suppress(BaseException):
            await attached
    return code
