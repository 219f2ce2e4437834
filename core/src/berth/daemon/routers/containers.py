"""Container endpoints of the Docker Engine API (v1.44 shapes and statuses).

create, list, inspect, start, stop, restart, kill, wait, remove, attach (hijack), logs,
resize, rename, pause, unpause, top, stats, changes, prune. The container service does the
work; this module parses queries and bodies and shapes the answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.http import HijackResponse, Request, Response, StreamResponse
from berth.engine.containers.attach import AttachOptions
from berth.engine.containers.logs import LogQuery, parse_api_time, parse_tail
from berth.engine.containers.service import ContainerService
from berth.engine.core import Engine
from berth.engine.errors import BadParameter, BerthError

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
WAIT_CONDITIONS = ("", "not-running", "next-exit", "removed")


class NotImplementedYet(BerthError):
    status = 501


def _ref(request: Request) -> str:
    return unquote(request.params["name"])


def _int_or_none(request: Request, name: str) -> int | None:
    value = request.arg(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}: {value!r} is not an integer") from None


def _size(request: Request, name: str) -> int:
    value = request.arg(name)
    if value is None or value == "":
        raise BadParameter(f"{name} is required: give the terminal's {name} as a number")
    try:
        number = int(value)
    except ValueError:
        raise BadParameter(f"invalid value for {name}: {value!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise BadParameter(f"invalid value for {name}: {number} is out of range (0-65535)")
    return number


def containers_router(engine: Engine) -> Router:
    router = Router()

    def service() -> ContainerService:
        return engine.container_service()

    async def create(request: Request) -> Response:
        containers = service()
        body = await request.json()
        if not isinstance(body, dict):
            raise BadParameter("config cannot be empty in order to create a container")
        name = request.arg("name") or ""
        result = await containers.create(name, body, request.arg("platform") or "")
        return Response.json(result, 201)

    async def list_containers(request: Request) -> Response:
        containers = service()
        limit = request.int_arg("limit", -1)
        data = await containers.list_containers(
            all_containers=request.bool_arg("all"),
            limit=limit if limit is not None else -1,
            size=request.bool_arg("size"),
            filters=request.filters_arg(),
        )
        return Response.json(data)

    async def inspect(request: Request) -> Response:
        containers = service()
        return Response.json(await containers.inspect(_ref(request), request.bool_arg("size")))

    async def start(request: Request) -> Response:
        containers = service()
        if request.arg("checkpoint"):
            raise BadParameter("checkpoints are not supported by berth")
        await request.drain()  # an old client may send a HostConfig: ignored, as Docker does
        started = await containers.start(_ref(request))
        return Response.empty(204 if started else 304)

    async def stop(request: Request) -> Response:
        containers = service()
        stopped = await containers.stop(
            _ref(request), _int_or_none(request, "t"), request.arg("signal") or ""
        )
        return Response.empty(204 if stopped else 304)

    async def restart(request: Request) -> Response:
        containers = service()
        await containers.restart(
            _ref(request), _int_or_none(request, "t"), request.arg("signal") or ""
        )
        return Response.empty(204)

    async def kill(request: Request) -> Response:
        containers = service()
        await containers.kill(_ref(request), request.arg("signal") or "")
        return Response.empty(204)

    async def wait(request: Request) -> StreamResponse:
        containers = service()
        condition = request.arg("condition") or ""
        if condition not in WAIT_CONDITIONS:
            raise BadParameter(f'invalid condition: "{condition}"')
        outcome = await containers.wait(_ref(request), condition or "not-running")

        async def body() -> AsyncIterator[bytes]:
            code, error = await outcome
            answer: dict[str, Any] = {"StatusCode": code, "Error": None}
            if error:
                answer["Error"] = {"Message": error}
            yield json.dumps(answer).encode() + b"\n"

        return StreamResponse(body())

    async def remove(request: Request) -> Response:
        containers = service()
        if request.bool_arg("link"):
            raise BadParameter("legacy links are not supported by berth")
        await containers.remove(_ref(request), request.bool_arg("force"), request.bool_arg("v"))
        return Response.empty(204)

    async def attach(request: Request) -> HijackResponse:
        containers = service()
        options = AttachOptions(
            stream=request.bool_arg("stream"),
            logs=request.bool_arg("logs"),
            stdin=request.bool_arg("stdin"),
            stdout=request.bool_arg("stdout"),
            stderr=request.bool_arg("stderr"),
            detach_keys=request.arg("detachKeys") or "",
        )
        tty, handler = await containers.attach(_ref(request), options)
        return HijackResponse(handler, RAW_STREAM if tty else MULTIPLEXED_STREAM)

    async def logs(request: Request) -> StreamResponse:
        containers = service()
        query = LogQuery(
            stdout=request.bool_arg("stdout"),
            stderr=request.bool_arg("stderr"),
            tail=parse_tail(request.arg("tail")),
            since_ns=parse_api_time(request.arg("since"), "since"),
            until_ns=parse_api_time(request.arg("until"), "until"),
            timestamps=request.bool_arg("timestamps"),
            follow=request.bool_arg("follow"),
        )
        if not (query.stdout or query.stderr):
            raise BadParameter("Bad parameters: you must choose at least one stream")
        tty, chunks = await containers.logs(_ref(request), query)
        return StreamResponse(chunks, content_type=RAW_STREAM if tty else MULTIPLEXED_STREAM)

    async def resize(request: Request) -> Response:
        containers = service()
        height, width = _size(request, "h"), _size(request, "w")
        await containers.resize(_ref(request), height, width)
        return Response(200, b"", "text/plain; charset=utf-8")

    async def rename(request: Request) -> Response:
        containers = service()
        await containers.rename(_ref(request), request.arg("name") or "")
        return Response.empty(204)

    async def pause(request: Request) -> Response:
        containers = service()
        await containers.pause(_ref(request))
        return Response.empty(204)

    async def unpause(request: Request) -> Response:
        containers = service()
        await containers.unpause(_ref(request))
        return Response.empty(204)

    async def top(request: Request) -> Response:
        containers = service()
        return Response.json(await containers.top(_ref(request), request.arg("ps_args") or ""))

    async def stats(request: Request) -> StreamResponse:
        containers = service()
        stream = request.bool_arg("stream", True)
        one_shot = request.bool_arg("one-shot")
        if one_shot and stream:
            raise BadParameter("cannot have stream=true and one-shot=true")
        samples = await containers.stats(_ref(request), stream, one_shot)

        async def chunks() -> AsyncIterator[bytes]:
            async for sample in samples:
                yield json.dumps(sample).encode() + b"\n"

        return StreamResponse(chunks())

    async def changes(request: Request) -> Response:
        containers = service()
        return Response.json(await containers.changes(_ref(request)))

    async def prune(request: Request) -> Response:
        containers = service()
        return Response.json(await containers.prune(request.filters_arg()))

    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", "/containers/{name}/json", inspect)
    router.add("POST", "/containers/{name}/start", start)
    router.add("POST", "/containers/{name}/stop", stop)
    router.add("POST", "/containers/{name}/restart", restart)
    router.add("POST", "/containers/{name}/kill", kill)
    router.add("POST", "/containers/{name}/wait", wait)
    router.add("POST", "/containers/{name}/attach", attach)
    router.add("GET", "/containers/{name}/logs", logs)
    router.add("POST", "/containers/{name}/resize", resize)
    router.add("POST", "/containers/{name}/rename", rename)
    router.add("POST", "/containers/{name}/pause", pause)
    router.add("POST", "/containers/{name}/unpause", unpause)
    router.add("GET", "/containers/{name}/top", top)
    router.add("GET", "/containers/{name}/stats", stats)
    router.add("GET", "/containers/{name}/changes", changes)
    router.add("DELETE", "/containers/{name}", remove)
    return router
