"""Build endpoints of the Docker Engine API: ``POST /build`` (the classic builder, as the docker
CLI uses it with ``DOCKER_BUILDKIT=0`` and docker-py's ``images.build()``) and
``POST /build/prune``.

The context (the request body) is unpacked before the answer starts; bad parameters are a 400
then. After that the answer is Docker's JSON stream: ``{"stream": …}`` lines as the build goes,
``{"aux": {"ID": …}}`` at the end, and errors in-band with ``error`` and ``errorDetail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from berth.daemon.api import Router
from berth.daemon.bodyreader import body_file
from berth.daemon.http import Request, Response, StreamResponse
from berth.daemon.routers.distribution import distribution_service
from berth.engine.build.builder import BuildFailed, BuildOptions
from berth.engine.build.context import BuildContext
from berth.engine.build.service import BuildService
from berth.engine.core import Engine
from berth.engine.errors import BadParameter, BerthError
from berth.engine.images import platforms, reference
from berth.engine.images.errors import InvalidReference
from berth.engine.images.platforms import Platform
from berth.engine.images.reference import Reference

_END = object()


def _json_arg(request: Request, name: str) -> dict[str, Any]:
    text = request.arg(name) or ""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise BadParameter(f"invalid {name}: {text!r} is not JSON") from None
    if not isinstance(data, dict):
        raise BadParameter(f"invalid {name}: expected a JSON object")
    return data


def _tags(request: Request) -> list[Reference]:
    tags: list[Reference] = []
    for text in request.query.get("t", []):
        if not text:
            continue
        try:
            ref = reference.parse(text)
        except InvalidReference as exc:
            raise BadParameter(f"invalid tag {text!r}: {exc}") from None
        if ref.digest is not None:
            raise BadParameter(f"invalid tag {text!r}: refusing to create a tag with a digest")
        tags.append(ref.tag_or_latest())
    return tags


def _cache_from(request: Request) -> list[str]:
    text = request.arg("cachefrom") or ""
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [text]
    return [str(x) for x in data] if isinstance(data, list) else [str(data)]


#: Query parameters of POST /build that are HostConfig settings of the RUN containers.
_INT_SETTINGS = {
    "memory": "Memory",
    "memswap": "MemorySwap",
    "cpushares": "CpuShares",
    "cpuperiod": "CpuPeriod",
    "cpuquota": "CpuQuota",
    "shmsize": "ShmSize",
}


def _host_config(request: Request) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name, key in _INT_SETTINGS.items():
        value = request.int_arg(name)
        if value:
            settings[key] = value
    for name, key in (("cpusetcpus", "CpusetCpus"), ("cpusetmems", "CpusetMems")):
        if request.arg(name):
            settings[key] = request.arg(name)
    hosts = [h for value in request.query.get("extrahosts", []) for h in value.split(",") if h]
    if hosts:
        settings["ExtraHosts"] = hosts
    ulimits = request.arg("ulimits") or ""
    if ulimits:
        try:
            settings["Ulimits"] = json.loads(ulimits)
        except json.JSONDecodeError:
            raise BadParameter(f"invalid ulimits: {ulimits!r} is not JSON") from None
    return settings


def parse_options(request: Request) -> BuildOptions:
    if request.arg("remote"):
        raise BadParameter("remote build contexts are not supported: send the context as the body")
    build_args = {
        str(k): (None if v is None else str(v)) for k, v in _json_arg(request, "buildargs").items()
    }
    labels = {str(k): str(v) for k, v in _json_arg(request, "labels").items()}
    platform_text = request.arg("platform") or ""
    platform = platforms.parse(platform_text) if platform_text else None
    here = platforms.host()
    if platform is not None and (
        platform.os != "linux" or platform.architecture != here.architecture
    ):
        raise BadParameter(
            f"platform {platform_text!r} is not supported: berth builds for {here} only "
            "(RUN steps run on this host)"
        )
    return BuildOptions(
        tags=_tags(request),
        dockerfile=request.arg("dockerfile") or "",
        build_args=build_args,
        target=request.arg("target") or "",
        labels=labels,
        quiet=request.bool_arg("q"),
        no_cache=request.bool_arg("nocache"),
        pull=request.bool_arg("pull"),
        network_mode=request.arg("networkmode") or "",
        platform=platform,
        cache_from=_cache_from(request),
        remove=request.bool_arg("rm", True),
        force_remove=request.bool_arg("forcerm"),
        host_config=_host_config(request),
    )


def _error(message: str, code: int = 0) -> bytes:
    """Docker's in-band error; ``code`` (a failing RUN's exit status) only when set."""
    detail: dict[str, Any] = {"code": code, "message": message} if code else {"message": message}
    return json.dumps({"errorDetail": detail, "error": message}).encode() + b"\n"


def build_router(engine: Engine) -> Router:
    router = Router()
    services: list[BuildService] = []
    cleanups: set[asyncio.Future[None]] = set()  # contexts being removed (kept referenced)

    def pull(name: str, platform: Platform | None, emit: Callable[[dict[str, Any]], None]) -> None:
        distribution_service(engine).pull(name, "", platform, {}, emit)

    def service() -> BuildService:
        if not services:
            services.append(
                BuildService(
                    engine.image_service(),
                    engine.container_service(),
                    engine.config.data_root / "builder" / "tmp",
                    engine.log,
                    pull,
                )
            )
        return services[0]

    async def build(request: Request) -> StreamResponse:
        builds = service()
        options = parse_options(request)
        body = body_file(request.stream())
        try:
            context = await asyncio.to_thread(builds.unpack, body)
        finally:
            body.close()
        return StreamResponse(_run(builds, context, options))

    async def _run(
        builds: BuildService, context: BuildContext, options: BuildOptions
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def emit(message: dict[str, Any]) -> None:
            await queue.put(json.dumps(message).encode() + b"\n")

        async def work() -> None:
            try:
                await builds.build(context, options, emit)
            except BuildFailed as exc:
                await queue.put(_error(str(exc), exc.code))
            except BerthError as exc:
                await queue.put(_error(str(exc)))
            except Exception as exc:
                engine.log.exception("build.failed")
                await queue.put(_error(f"internal error in berthd: {type(exc).__name__}: {exc}"))
            finally:
                await queue.put(_END)

        task = asyncio.ensure_future(work())
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                parts = [item]
                while not queue.empty():  # what is already there goes in one chunk
                    more = queue.get_nowait()
                    if more is _END:
                        yield b"".join(parts)
                        return
                    parts.append(more)
                yield b"".join(parts)
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            # the unpacked context goes after the answer has ended: the client need not wait
            closing = asyncio.ensure_future(asyncio.to_thread(context.close))
            cleanups.add(closing)
            closing.add_done_callback(cleanups.discard)

    async def prune(request: Request) -> Response:
        builds = service()
        return Response.json(await asyncio.to_thread(builds.prune))

    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", prune)
    return router
