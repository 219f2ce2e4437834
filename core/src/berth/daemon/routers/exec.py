"""Exec endpoints of the Docker Engine API: create, start (hijack or detached), resize,
inspect."""

from __future__ import annotations

from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.http import HijackResponse, Request, Response
from berth.daemon.routers.containers import MULTIPLEXED_STREAM, RAW_STREAM, _size
from berth.engine.containers.service import ContainerService
from berth.engine.core import Engine
from berth.engine.errors import BadParameter


def exec_router(engine: Engine) -> Router:
    router = Router()

    def service() -> ContainerService:
        return engine.container_service()

    async def create(request: Request) -> Response:
        containers = service()
        body = await request.json()
        if not isinstance(body, dict):
            raise BadParameter("exec configuration is missing: send a JSON object with Cmd")
        exec_id = await containers.exec_create(unquote(request.params["name"]), body)
        return Response.json({"Id": exec_id}, 201)

    async def start(request: Request) -> Response | HijackResponse:
        containers = service()
        body = await request.json()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise BadParameter("exec start options must be a JSON object")
        exec_id = unquote(request.params["id"])
        tty, handler = await containers.exec_start(exec_id, body)
        if handler is None:  # detached
            return Response(200, b"", "")
        return HijackResponse(handler, RAW_STREAM if tty else MULTIPLEXED_STREAM)

    async def resize(request: Request) -> Response:
        containers = service()
        height, width = _size(request, "h"), _size(request, "w")
        await containers.exec_resize(unquote(request.params["id"]), height, width)
        return Response(200, b"", "text/plain; charset=utf-8")

    async def inspect(request: Request) -> Response:
        containers = service()
        return Response.json(containers.exec_inspect(unquote(request.params["id"])))

    router.add("POST", "/containers/{name}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("POST", "/exec/{id}/resize", resize)
    router.add("GET", "/exec/{id}/json", inspect)
    return router
