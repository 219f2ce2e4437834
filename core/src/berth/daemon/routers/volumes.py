"""Volume endpoints of the Docker Engine API (v1.44 shapes and statuses): create, list,
inspect, remove, prune. The volume service does the work, in worker threads (drivers block)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.http import Request, Response
from berth.engine.core import Engine
from berth.engine.errors import BadParameter
from berth.engine.volumes.service import VolumeService


def _strings(body: Mapping[str, Any], key: str) -> dict[str, str]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadParameter(f"invalid {key}: it must be an object of strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def volumes_router(engine: Engine) -> Router:
    router = Router()

    def service() -> VolumeService:
        return engine.volume_service()

    async def create(request: Request) -> Response:
        volumes = service()
        body = await request.json()
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise BadParameter("invalid volume configuration: the body must be a JSON object")
        name = body.get("Name") or ""
        driver = body.get("Driver") or ""
        if not isinstance(name, str) or not isinstance(driver, str):
            raise BadParameter("invalid volume configuration: Name and Driver are strings")
        options = _strings(body, "DriverOpts")
        labels = _strings(body, "Labels")
        data = await asyncio.to_thread(volumes.create, name, driver, options, labels)
        return Response.json(data, 201)

    async def list_volumes(request: Request) -> Response:
        volumes = service()
        filters = request.filters_arg()
        return Response.json(await asyncio.to_thread(volumes.list_volumes, filters))

    async def inspect(request: Request) -> Response:
        volumes = service()
        name = unquote(request.params["name"])
        return Response.json(await asyncio.to_thread(volumes.inspect, name))

    async def remove(request: Request) -> Response:
        volumes = service()
        name = unquote(request.params["name"])
        await asyncio.to_thread(volumes.remove, name, request.bool_arg("force"))
        return Response.empty(204)

    async def prune(request: Request) -> Response:
        volumes = service()
        filters = request.filters_arg()
        report = await asyncio.to_thread(volumes.prune, filters, request.api_version)
        return Response.json(report)

    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes", list_volumes)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
    return router
