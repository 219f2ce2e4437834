"""Network endpoints of the Docker Engine API: list, inspect, create, remove, prune, connect,
disconnect. The network service does the work (in threads: it talks to the kernel)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.http import Request, Response
from berth.engine.core import Engine
from berth.engine.errors import BadParameter, BerthError


class Unavailable(BerthError):
    status = 503


def _ref(request: Request) -> str:
    return unquote(request.params["name"])


async def _object(request: Request) -> Mapping[str, Any]:
    body = await request.json()
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise BadParameter("the request body must be a JSON object")
    return body


def networks_router(engine: Engine) -> Router:
    router = Router()

    def networking() -> Any:
        containers = engine.container_service()
        if containers.networking is None:
            raise Unavailable("networks are unavailable: see the daemon's warnings")
        return containers, containers.networking

    @router.route("GET", "/networks")
    async def list_networks(request: Request) -> Response:
        service = engine.network_service()
        return Response.json(await asyncio.to_thread(service.list_networks, request.filters_arg()))

    @router.route("GET", "/networks/{name}")
    async def inspect(request: Request) -> Response:
        service = engine.network_service()
        return Response.json(await asyncio.to_thread(service.inspect, _ref(request)))

    @router.route("POST", "/networks/create")
    async def create(request: Request) -> Response:
        service = engine.network_service()
        body = await _object(request)
        return Response.json(await asyncio.to_thread(service.create, body), 201)

    @router.route("DELETE", "/networks/{name}")
    async def remove(request: Request) -> Response:
        service = engine.network_service()
        await asyncio.to_thread(service.remove, _ref(request))
        return Response.empty(204)

    @router.route("POST", "/networks/prune")
    async def prune(request: Request) -> Response:
        service = engine.network_service()
        removed = await asyncio.to_thread(service.prune, request.filters_arg())
        return Response.json({"NetworksDeleted": removed})

    @router.route("POST", "/networks/{name}/connect")
    async def connect(request: Request) -> Response:
        body = await _object(request)
        ref = str(body.get("Container") or "")
        if not ref:
            raise BadParameter("no container given to connect")
        containers, hooks = networking()
        container = containers.store.lookup(ref)
        config = body.get("EndpointConfig") or {}
        if not isinstance(config, Mapping):
            raise BadParameter("EndpointConfig must be an object")

        def save() -> None:
            containers.store.save(container)

        await asyncio.to_thread(hooks.connect, container, _ref(request), config, save)
        return Response.empty(200)

    @router.route("POST", "/networks/{name}/disconnect")
    async def disconnect(request: Request) -> Response:
        body = await _object(request)
        ref = str(body.get("Container") or "")
        if not ref:
            raise BadParameter("no container given to disconnect")
        containers, hooks = networking()
        container = containers.store.lookup(ref)

        def save() -> None:
            containers.store.save(container)

        force = bool(body.get("Force"))
        await asyncio.to_thread(hooks.disconnect, container, _ref(request), force, save)
        return Response.empty(200)

    return router
