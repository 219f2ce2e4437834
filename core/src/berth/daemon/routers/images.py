"""Image endpoints of the Docker Engine API: list, inspect, history, tag, remove, prune,
save (get), load and import (create with fromSrc).

The image service blocks (disk, storage driver), so every call runs in a worker thread;
uploads are read from the request as a stream and saves are sent as one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.bodyreader import body_file
from berth.daemon.http import Request, Response, StreamResponse
from berth.engine.core import Engine
from berth.engine.errors import BadParameter, BerthError
from berth.engine.images import platforms
from berth.engine.images.platforms import Platform
from berth.engine.images.service import ImageService

SAVE_BATCH = 1 << 20


class NotImplementedYet(BerthError):
    status = 501


def _name(request: Request) -> str:
    return unquote(request.params["name"])


def _platform(request: Request) -> Platform | None:
    text = request.arg("platform") or ""
    if not text:
        return None
    if text.lstrip().startswith("{"):  # API 1.48+: a JSON OCI platform
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise BadParameter(f"invalid platform {text!r}") from None
        found = Platform.from_json(data)
        if found is None or not found.architecture:
            raise BadParameter(f"invalid platform {text!r}")
        return found.normalized()
    return platforms.parse(text)


def _json_stream(messages: list[dict[str, Any]]) -> StreamResponse:
    """A finished operation's messages as Docker's chunked JSON stream (docker-py reads a
    chunked answer as a stream of messages, an unchunked one as a single JSON value)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"".join(json.dumps(m).encode() + b"\n" for m in messages)

    return StreamResponse(chunks())


def _batches(stream: Iterator[bytes]) -> bytes:
    """The next ~1 MiB of a save (b"" at the end), read in the worker thread."""
    parts: list[bytes] = []
    size = 0
    for chunk in stream:
        parts.append(chunk)
        size += len(chunk)
        if size >= SAVE_BATCH:
            break
    return b"".join(parts)


def images_router(engine: Engine) -> Router:
    router = Router()

    def service() -> ImageService:
        return engine.image_service()

    async def list_images(request: Request) -> Response:
        images = service()
        data = await asyncio.to_thread(
            images.list_images,
            request.bool_arg("all"),
            request.filters_arg(),
            request.api_version,
            request.bool_arg("shared-size"),
        )
        return Response.json(data)

    async def inspect(request: Request) -> Response:
        images = service()
        data = await asyncio.to_thread(images.inspect, _name(request), request.api_version)
        return Response.json(data)

    async def history(request: Request) -> Response:
        images = service()
        return Response.json(await asyncio.to_thread(images.history, _name(request)))

    async def tag(request: Request) -> Response:
        images = service()
        await asyncio.to_thread(
            images.tag, _name(request), request.arg("repo") or "", request.arg("tag") or ""
        )
        return Response.empty(201)

    async def remove(request: Request) -> Response:
        images = service()
        records = await asyncio.to_thread(
            images.remove,
            _name(request),
            request.bool_arg("force"),
            not request.bool_arg("noprune"),
        )
        return Response.json(records)

    async def prune(request: Request) -> Response:
        images = service()
        return Response.json(await asyncio.to_thread(images.prune, request.filters_arg()))

    async def save(names: list[str]) -> StreamResponse:
        images = service()
        stream = await asyncio.to_thread(images.save, names)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while batch := await asyncio.to_thread(_batches, stream):
                    yield batch
            finally:
                await asyncio.to_thread(stream.close)

        return StreamResponse(chunks(), content_type="application/x-tar")

    async def save_one(request: Request) -> StreamResponse:
        return await save([_name(request)])

    async def save_many(request: Request) -> StreamResponse:
        names = [n for n in request.query.get("names", []) if n]
        if not names:
            raise BadParameter("no image names given: use ?names=NAME (repeatable)")
        return await save(names)

    async def load(request: Request) -> StreamResponse:
        images = service()
        platform = _platform(request)
        body = body_file(request.stream())
        try:
            messages = await asyncio.to_thread(images.load, body, platform)
        finally:
            body.close()
        return _json_stream([{"stream": m + "\n"} for m in messages])

    async def create(request: Request) -> StreamResponse:
        images = service()
        if request.arg("fromImage"):
            from berth.daemon.routers.distribution import pull

            return await pull(engine, request)
        source = request.arg("fromSrc")
        if source is None:
            raise BadParameter("fromImage or fromSrc is required")
        if source != "-":
            raise BadParameter(
                f"importing from {source!r} is not supported: send the tarball as the request "
                "body with fromSrc=-"
            )
        platform = _platform(request)
        changes = [c for c in request.query.get("changes", []) if c.strip()]
        body = body_file(request.stream())
        try:
            image_id = await asyncio.to_thread(
                images.import_image,
                body,
                request.arg("repo") or "",
                request.arg("tag") or "",
                request.arg("message") or "",
                changes,
                platform,
            )
        finally:
            body.close()
        return _json_stream([{"status": image_id}])

    router.add("GET", "/images/json", list_images)
    router.add("GET", "/images/get", save_many)
    router.add("POST", "/images/load", load)
    router.add("POST", "/images/create", create)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/{name:path}/json", inspect)
    router.add("GET", "/images/{name:path}/history", history)
    router.add("GET", "/images/{name:path}/get", save_one)
    router.add("POST", "/images/{name:path}/tag", tag)
    router.add("DELETE", "/images/{name:path}", remove)
    return router
