"""Registry endpoints of the Docker Engine API: pull (``POST /images/create?fromImage=``),
push, ``POST /auth`` and ``GET /distribution/{name}/json``.

Pull and push run in a worker thread and answer with Docker's JSON progress stream. The
answer starts with the first progress message: a failure before it (unknown manifest,
refused credentials) is an ordinary error status, one after it an in-band error message.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.http import Request, Response, StreamResponse
from berth.engine.core import Engine
from berth.engine.distribution import authconfig, progress
from berth.engine.distribution.errors import from_registry
from berth.engine.distribution.service import DistributionService, build_client, settings_of
from berth.engine.errors import BadParameter, BerthError
from berth.engine.images import platforms
from berth.engine.images.platforms import Platform
from berth.plugins import RegistryError

Work = Callable[[progress.Emit], None]
_END = object()


def _platform(request: Request) -> Platform | None:
    text = request.arg("platform") or ""
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            found = Platform.from_json(json.loads(text))
        except json.JSONDecodeError:
            found = None
        if found is None or not found.architecture:
            raise BadParameter(f"invalid platform {text!r}")
        return found.normalized()
    return platforms.parse(text)


def _auth(request: Request) -> dict[str, str]:
    return authconfig.from_header(request.headers.get("x-registry-auth"))


def _as_error(exc: BaseException) -> BaseException:
    return from_registry(exc) if isinstance(exc, RegistryError) else exc


async def progress_stream(work: Work, log: Any) -> StreamResponse:
    """Run ``work`` in a thread; stream what it emits as JSON lines."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def emit(message: progress.Message) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, message)

    def run() -> None:
        try:
            work(emit)
        except BaseException as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        else:
            loop.call_soon_threadsafe(queue.put_nowait, _END)

    worker = asyncio.ensure_future(asyncio.to_thread(run))
    first = await queue.get()
    if isinstance(first, BaseException):
        await worker
        raise _as_error(first)

    async def chunks() -> AsyncIterator[bytes]:
        item = first
        while item is not _END:
            batch: list[bytes] = []
            while True:
                if isinstance(item, BaseException):
                    error = _as_error(item)
                    if not isinstance(error, BerthError):
                        log.error("distribution.failed", error=repr(error))
                    text = str(error) or type(error).__name__
                    batch.append(json.dumps(progress.error(text)).encode() + b"\n")
                    item = _END
                    break
                batch.append(json.dumps(item).encode() + b"\n")
                if queue.empty():
                    item = None
                    break
                item = queue.get_nowait()
                if item is _END:
                    break
            yield b"".join(batch)
            if item is None:
                item = await queue.get()
        await worker

    return StreamResponse(chunks())


_services: weakref.WeakKeyDictionary[Engine, DistributionService] = weakref.WeakKeyDictionary()


def distribution_service(engine: Engine) -> DistributionService:
    """The engine's distribution service, built on first use (it loads the registry plugin)."""
    found = _services.get(engine)
    if found is None:
        client = build_client(engine.plugins, settings_of(engine.config))
        found = DistributionService(engine.image_service(), client, engine.config, engine.log)
        _services[engine] = found
    return found


async def pull(engine: Engine, request: Request) -> StreamResponse:
    """``POST /images/create?fromImage=NAME&tag=TAG``: an empty tag on a name without one
    pulls every tag (``docker pull --all-tags``)."""
    name = request.arg("fromImage") or ""
    tag = request.arg("tag") or ""
    DistributionService.reference(name, tag)  # a bad name is a 400 before anything else
    platform = _platform(request)
    auth = _auth(request)
    distribution = distribution_service(engine)
    all_tags = not tag and ":" not in name.rsplit("/", 1)[-1] and "@" not in name
    await request.drain()

    def work(emit: progress.Emit) -> None:
        distribution.pull(name, tag, platform, auth, emit, all_tags=all_tags)

    return await progress_stream(work, engine.log)


def distribution_router(engine: Engine) -> Router:
    router = Router()

    async def push(request: Request) -> StreamResponse:
        distribution = distribution_service(engine)
        name = unquote(request.params["name"])
        tag = request.arg("tag") or ""
        auth = _auth(request)

        def work(emit: progress.Emit) -> None:
            distribution.push(name, tag, auth, emit)

        return await progress_stream(work, engine.log)

    async def login(request: Request) -> Response:
        distribution = distribution_service(engine)
        auth = authconfig.from_object(await request.json())
        status = await asyncio.to_thread(distribution.login, auth)
        return Response.json({"Status": status, "IdentityToken": ""})

    async def inspect(request: Request) -> Response:
        distribution = distribution_service(engine)
        name = unquote(request.params["name"])
        data = await asyncio.to_thread(distribution.inspect, name, _auth(request))
        return Response.json(data)

    router.add("POST", "/images/{name:path}/push", push)
    router.add("POST", "/auth", login)
    router.add("GET", "/distribution/{name:path}/json", inspect)
    return router
