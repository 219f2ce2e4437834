"""Routing for the Docker Engine API: version prefixes, path patterns, Docker's error shape."""

from __future__ import annotations

import re
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from berth.daemon.http import Request, Response, Result
from berth.engine.core import API_VERSION, MIN_API_VERSION
from berth.engine.errors import BerthError

Handler = Callable[[Request], Awaitable[Result]]
_VERSION_PREFIX = re.compile(r"^/v(?P<version>[0-9][0-9.]*)(?P<rest>/.*)$")
_PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<kind>path))?\}")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def error(status: int, message: str) -> Response:
    return Response.json({"message": message}, status)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


class Router:
    """A set of routes for one kind of object; routers are mounted on the :class:`Api`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        def to_regex(match: re.Match[str]) -> str:
            body = ".+" if match.group("kind") == "path" else "[^/]+"
            return f"(?P<{match.group('name')}>{body})"

        pattern = re.compile("^" + _PARAM.sub(to_regex, template) + "$")
        self.routes.append(Route(method, pattern, handler))

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler

        return decorator


class Api:
    def __init__(self, log: Any) -> None:
        self.routes: list[Route] = []
        self.log = log

    def mount(self, router: Router) -> None:
        self.routes.extend(router.routes)

    async def __call__(self, request: Request) -> Result:
        try:
            return await self._dispatch(request)
        except BerthError as exc:
            return error(exc.status, str(exc))
        except Exception as exc:  # a bug: say so in one line, keep the details in the log
            self.log.error(
                "api.internal_error",
                method=request.method,
                path=request.path,
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            return error(500, f"internal error in berthd: {type(exc).__name__}: {exc}")

    async def _dispatch(self, request: Request) -> Result:
        path = request.path
        request.api_version = API_VERSION
        prefixed = _VERSION_PREFIX.match(path)
        if prefixed:
            version = prefixed.group("version").rstrip(".")
            try:
                wanted = _version_tuple(version)
            except ValueError:
                return error(400, f"invalid API version {version!r}")
            if wanted > _version_tuple(API_VERSION):
                return error(
                    400,
                    f"client version {version} is too new. "
                    f"Maximum supported API version is {API_VERSION}",
                )
            if wanted < _version_tuple(MIN_API_VERSION):
                return error(
                    400,
                    f"client version {version} is too old. Minimum supported "
                    f"API version is {MIN_API_VERSION}, please upgrade your client "
                    "to a newer version",
                )
            request.api_version = version
            path = prefixed.group("rest")
        method = "GET" if request.method == "HEAD" else request.method
        path_matched = False
        for route in self.routes:
            match = route.pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route.method == method or route.method == request.method:
                request.params = match.groupdict()
                return await route.handler(request)
        if path_matched:
            return error(405, f"method {request.method} is not allowed on {path}")
        return error(404, "page not found")
