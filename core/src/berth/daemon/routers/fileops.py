"""Container file operations of the Docker Engine API: the archive endpoints (``GET``,
``HEAD`` and ``PUT /containers/{id}/archive``, what ``docker cp`` uses), ``GET
/containers/{id}/export`` and ``POST /commit``. :class:`~berth.engine.containers.fileops.FileOps`
does the work."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from berth.daemon.api import Router
from berth.daemon.bodyreader import body_file
from berth.daemon.http import Request, Response, StreamResponse
from berth.engine.containers.archive import STAT_HEADER, stat_header
from berth.engine.containers.commit import CommitOptions, split_changes
from berth.engine.containers.fileops import FileOps, parse_bool
from berth.engine.core import Engine
from berth.engine.errors import BadParameter

TAR = "application/x-tar"


def _ref(request: Request) -> str:
    return unquote(request.params["name"])


def _path(request: Request) -> str:
    path = request.arg("path")
    if not path:
        raise BadParameter("path is required: give ?path=PATH in the container")
    return path


def fileops_router(engine: Engine) -> Router:
    router = Router()

    def ops() -> FileOps:
        return FileOps(engine.container_service())

    async def head_archive(request: Request) -> Response:
        found = await ops().stat(_ref(request), _path(request))
        return Response(200, b"", "", [(STAT_HEADER, stat_header(found))])

    async def get_archive(request: Request) -> Response | StreamResponse:
        if request.method == "HEAD":
            return await head_archive(request)
        found, chunks = await ops().get_archive(_ref(request), _path(request))
        return StreamResponse(chunks, content_type=TAR, headers=[(STAT_HEADER, stat_header(found))])

    async def put_archive(request: Request) -> Response:
        ref, path = _ref(request), _path(request)
        no_overwrite = parse_bool(request.arg("noOverwriteDirNonDir"), False)
        copy_uid_gid = parse_bool(request.arg("copyUIDGID"), False)
        body = body_file(request.stream())
        try:
            await ops().put_archive(ref, path, body, no_overwrite, copy_uid_gid)
        finally:
            await asyncio.to_thread(body.close)
        return Response(200, b"", "")

    async def export(request: Request) -> StreamResponse:
        chunks = await ops().export(_ref(request))
        return StreamResponse(chunks, content_type=TAR)

    async def commit(request: Request) -> Response:
        ref = request.arg("container") or ""
        if not ref:
            raise BadParameter("container is required: give ?container=NAME")
        body = await request.json()
        if body is not None and not isinstance(body, dict):
            raise BadParameter("the container config in the request body must be a JSON object")
        options = CommitOptions(
            repo=request.arg("repo") or "",
            tag=request.arg("tag") or "",
            comment=request.arg("comment") or "",
            author=request.arg("author") or "",
            changes=split_changes(request.query.get("changes", [])),
            config=body or None,
            pause=parse_bool(request.arg("pause"), True),
        )
        image_id = await ops().commit(ref, options)
        return Response.json({"Id": image_id}, 201)

    router.add("GET", "/containers/{name}/archive", get_archive)
    router.add("HEAD", "/containers/{name}/archive", head_archive)
    router.add("PUT", "/containers/{name}/archive", put_archive)
    router.add("GET", "/containers/{name}/export", export)
    router.add("POST", "/commit", commit)
    return router
