"""System endpoints: ping, version, info, events, and berth's plugin inventory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from berth.daemon.api import Router
from berth.daemon.http import Request, Response, StreamResponse
from berth.engine.build.usage import build_cache_usage
from berth.engine.core import Engine
from berth.engine.errors import BadParameter
from berth.engine.events import parse_filters

PING_HEADERS = [
    ("Builder-Version", "1"),
    ("Swarm", "inactive"),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Pragma", "no-cache"),
]


def parse_event_time(name: str, value: str | None) -> int | None:
    """Docker's ``since``/``until``: unix seconds with optional fraction, or RFC 3339."""
    if value is None or value == "":
        return None
    try:
        seconds, _, fraction = value.partition(".")
        return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(
            f"invalid value for {name}: {value!r}; use unix seconds or an RFC 3339 time"
        ) from None
    return int(stamp.timestamp() * 1_000_000_000)


def system_router(engine: Engine) -> Router:
    router = Router()

    async def ping(request: Request) -> Response:
        response = Response(200, b"OK", "text/plain; charset=utf-8", list(PING_HEADERS))
        return response

    async def version(request: Request) -> Response:
        return Response.json(engine.version())

    async def info(request: Request) -> Response:
        return Response.json(engine.info())

    async def events(request: Request) -> StreamResponse:
        since = parse_event_time("since", request.arg("since"))
        until = parse_event_time("until", request.arg("until"))
        filters = parse_filters(request.filters_arg())
        if since is not None and until is not None and until < since:
            raise BadParameter("until must not be earlier than since")

        async def stream() -> AsyncIterator[bytes]:
            async for event in engine.events.subscribe(since, until, filters):
                yield json.dumps(event.to_docker()).encode() + b"\n"

        return StreamResponse(stream())

    async def disk_usage(request: Request) -> Response:
        kinds = set(request.query.get("type", [])) or {
            "container",
            "image",
            "volume",
            "build-cache",
        }
        unknown = kinds - {"container", "image", "volume", "build-cache"}
        if unknown:
            raise BadParameter(f"invalid type: {sorted(unknown)[0]}")
        data: dict[str, Any] = {}
        if "image" in kinds:
            images = engine.images
            found = (
                await asyncio.to_thread(images.df, request.api_version)
                if images is not None
                else {"LayersSize": 0, "Images": []}
            )
            data.update(found)
        if "container" in kinds:
            containers = engine.containers
            data["Containers"] = (
                await containers.list_containers(all_containers=True, size=True)
                if containers is not None
                else []
            )
        if "volume" in kinds:
            volumes = engine.volumes
            data["Volumes"] = await asyncio.to_thread(volumes.usage) if volumes is not None else []
        if "build-cache" in kinds:
            images_for_cache = engine.images
            data["BuildCache"] = (
                await asyncio.to_thread(build_cache_usage, images_for_cache)
                if images_for_cache is not None
                else []
            )
        return Response.json(data)

    async def plugins(request: Request) -> Response:
        return Response.json([r.to_json() for r in engine.plugins.all_records()])

    async def managed_plugins(request: Request) -> Response:
        # Docker's managed plugins (`docker plugin ls`): berth has none; its drivers are
        # Python packages, listed by GET /berth/plugins.
        return Response.json([])

    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
    router.add("GET", "/events", events)
    router.add("GET", "/system/df", disk_usage)
    router.add("GET", "/berth/plugins", plugins)
    router.add("GET", "/plugins", managed_plugins)
    return router
