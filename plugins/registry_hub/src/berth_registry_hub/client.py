"""The hub client: the Registry HTTP API v2 / OCI distribution protocol.

Every call goes through :meth:`HubClient._call`: it authorizes the request from the last
challenge of its endpoint (fetching a Bearer token for the call's scope when needed), answers
a 401 by taking the new challenge and trying once more, and retries dropped connections and
5xx answers with a growing pause. Blobs are streamed (:class:`BlobStream`, resumable);
uploads are monolithic up to ``chunk_size`` and chunked above, after a cross-repository
mount is tried when the engine names a source repository.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, cast
from urllib.parse import quote, urlencode, urljoin, urlsplit

from berth.plugins import (
    Endpoint,
    Manifest,
    RegistryAuthError,
    RegistryClient,
    RegistryContentError,
    RegistryError,
    RegistrySettings,
    RegistryUnavailable,
    ResolvedReference,
)

from berth_registry_hub import challenge, errors, names
from berth_registry_hub.auth import TokenCache
from berth_registry_hub.blobstream import BlobStream
from berth_registry_hub.transport import NETWORK_ERRORS, Response, Transport

USER_AGENT = "berth/0.1 (registry_hub)"
Body = bytes | Callable[[], Any] | None


def _digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class HubClient(RegistryClient):
    def __init__(self, settings: RegistrySettings | None = None) -> None:
        self.settings = settings or RegistrySettings()
        self.transport = Transport(self.settings, USER_AGENT)
        self.tokens = TokenCache(self.transport)

    def configure(self, settings: RegistrySettings) -> None:
        self.transport.close()
        self.settings = settings
        self.transport = Transport(settings, USER_AGENT)
        self.tokens = TokenCache(self.transport)

    # --- where ------------------------------------------------------------------------

    def endpoints(self, registry: str) -> list[Endpoint]:
        found: list[Endpoint] = []
        if registry == names.HUB:
            found.extend(Endpoint(m.rstrip("/"), mirror=True) for m in self.settings.mirrors)
        found.append(Endpoint(names.registry_endpoint(registry)))
        return found

    def resolve(self, reference: str) -> ResolvedReference:
        return names.resolve(reference)

    def _base(self, ref: ResolvedReference | str) -> str:
        if isinstance(ref, str):
            url = names.registry_endpoint(ref)
        else:
            url = ref.endpoint or names.registry_endpoint(ref.registry)
        return self.transport.base_url(url)

    # --- one call ---------------------------------------------------------------------

    def _call(
        self,
        base: str,
        method: str,
        path: str,
        scope: str,
        auth: Mapping[str, str] | None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        what: str = "",
        retry: bool = True,
    ) -> Response:
        url = path if path.startswith(("http://", "https://")) else base + path
        what = what or f"{method} {url}"
        attempts = max(self.settings.attempts, 1)
        challenged = False
        failure: BaseException | None = None
        attempt = 0
        while attempt < attempts:
            sent = dict(headers or {})
            authorization = self.tokens.header(base, scope, auth)
            if authorization:
                sent["Authorization"] = authorization
            payload = body() if callable(body) else body
            try:
                response = self.transport.request(method, url, sent, payload)
            except NETWORK_ERRORS as exc:
                failure = exc
                attempt += 1
                if not retry or isinstance(exc, socket.gaierror):  # no such host: final
                    break
                time.sleep(min(0.2 * 2**attempt, 3.0))
                continue
            if response.status == 401 and not challenged:
                found = challenge.parse(response.header("WWW-Authenticate"))
                response.read(1 << 20)
                if found is not None:
                    challenged = True
                    self.tokens.challenges[base] = found
                    if found.scheme == "bearer" and authorization:
                        self.tokens.header(base, scope, auth, fresh=True)
                    continue
                raise RegistryAuthError(f"{what}: unauthorized, and the registry sent no challenge")
            if response.status >= 500 and retry and attempt + 1 < attempts:
                response.read(1 << 20)
                attempt += 1
                time.sleep(min(0.2 * 2**attempt, 3.0))
                continue
            return response
        detail = str(failure) or type(failure).__name__ if failure else "no answer"
        if isinstance(failure, TimeoutError):
            detail = f"no answer within {self.settings.stall_timeout:g} s"
        elif isinstance(failure, socket.gaierror):
            host = urlsplit(url).hostname or url
            detail = f"lookup {host}: no such host"
        raise RegistryUnavailable(f"{what}: cannot reach the registry: {detail}")

    def _expect(self, response: Response, ok: tuple[int, ...], what: str) -> Response:
        if response.status in ok:
            return response
        body = response.read(1 << 20) if response.status != 204 else b""
        raise errors.for_status(response.status, what, body)

    @staticmethod
    def _scope(repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    # --- login ------------------------------------------------------------------------

    def authenticate(self, registry: str, credentials: Mapping[str, str] | None) -> str:
        base = self._base(registry)
        response = self._call(base, "GET", "/v2/", "", credentials, what=f"login to {registry}")
        if response.status in (401, 403):
            response.read()
            raise RegistryAuthError(
                f"login to {registry} failed: unauthorized: incorrect username or password"
            )
        self._expect(response, (200,), f"login to {registry}").read()
        return "Login Succeeded"

    # --- manifests --------------------------------------------------------------------

    def _manifest_path(self, ref: ResolvedReference) -> str:
        target = ref.digest or ref.tag or "latest"
        return f"/v2/{ref.repository}/manifests/{quote(target, safe=':')}"

    def get_manifest(
        self, ref: ResolvedReference, accept: tuple[str, ...], auth: Mapping[str, str] | None
    ) -> Manifest:
        base = self._base(ref)
        what = f"manifest for {ref}"
        headers = {"Accept": ", ".join(accept)} if accept else {}
        response = self._call(
            base,
            "GET",
            self._manifest_path(ref),
            self._scope(ref.repository),
            auth,
            headers,
            what=what,
        )
        if response.status == 404:
            body = response.read()
            raise errors.for_status(404, what, body)
        if response.status in (401, 403):
            response.read()
            raise RegistryAuthError(
                f"pull access denied for {ref.registry}/{ref.repository}, repository does not "
                "exist or may require 'berth login': denied: requested access to the resource "
                "is denied"
            )
        data = self._expect(response, (200,), what).read(8 << 20)
        digest = _digest_of(data)
        if ref.digest is not None and digest != ref.digest:
            raise RegistryContentError(
                f"{what}: the registry sent content with digest {digest}, not {ref.digest}"
            )
        media_type = response.header("Content-Type").split(";")[0].strip()
        return Manifest(media_type, digest, data)

    def put_manifest(
        self, ref: ResolvedReference, manifest: Manifest, auth: Mapping[str, str] | None
    ) -> str:
        base = self._base(ref)
        what = f"manifest upload to {ref}"
        response = self._call(
            base,
            "PUT",
            self._manifest_path(ref),
            self._scope(ref.repository, "pull,push"),
            auth,
            {"Content-Type": manifest.media_type},
            manifest.content,
            what=what,
        )
        self._expect(response, (200, 201, 202), what).read()
        return _digest_of(manifest.content)

    def list_tags(self, ref: ResolvedReference, auth: Mapping[str, str] | None) -> list[str]:
        import json

        base = self._base(ref)
        what = f"tags of {ref.registry}/{ref.repository}"
        path = f"/v2/{ref.repository}/tags/list"
        tags: list[str] = []
        while path:
            response = self._call(base, "GET", path, self._scope(ref.repository), auth, what=what)
            data = self._expect(response, (200,), what).read()
            try:
                tags.extend(str(t) for t in json.loads(data).get("tags") or [])
            except (ValueError, AttributeError) as exc:
                raise RegistryContentError(f"{what}: not valid JSON: {exc}") from None
            link = response.header("Link")
            path = ""
            if 'rel="next"' in link:
                path = urljoin(base + "/", link.split(";")[0].strip("<> "))
        return tags

    # --- blobs ------------------------------------------------------------------------

    def blob_exists(
        self, ref: ResolvedReference, digest: str, auth: Mapping[str, str] | None
    ) -> bool:
        base = self._base(ref)
        scope = self._scope(ref.repository, "pull,push")
        what = f"blob {digest} in {ref.registry}/{ref.repository}"
        response = self._call(
            base, "HEAD", f"/v2/{ref.repository}/blobs/{digest}", scope, auth, what=what
        )
        response.read()
        if response.status == 404:
            return False
        if response.status in (200, 307):
            return True
        raise errors.for_status(response.status, what, b"")

    def open_blob(
        self, ref: ResolvedReference, digest: str, auth: Mapping[str, str] | None
    ) -> BinaryIO:
        base = self._base(ref)
        scope = self._scope(ref.repository)
        path = f"/v2/{ref.repository}/blobs/{digest}"
        what = f"blob {digest[:19]} of {ref.registry}/{ref.repository}"

        def opener(offset: int) -> Response:
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            response = self._call(base, "GET", path, scope, auth, headers, what=what)
            return self._expect(response, (200, 206), what)

        first = opener(0)
        stream = BlobStream(opener, first, max(self.settings.attempts, 1), what)
        return cast(BinaryIO, stream)

    def put_blob(
        self,
        ref: ResolvedReference,
        digest: str,
        data: BinaryIO,
        size: int,
        auth: Mapping[str, str] | None,
        mount_from: str | None = None,
    ) -> bool:
        base = self._base(ref)
        scope = self._scope(ref.repository, "pull,push")
        if mount_from:
            scope += " " + self._scope(mount_from)
        what = f"upload of blob {digest[:19]} to {ref.registry}/{ref.repository}"
        path = f"/v2/{ref.repository}/blobs/uploads/"
        if mount_from:
            path += "?" + urlencode({"mount": digest, "from": mount_from})
        response = self._call(
            base, "POST", path, scope, auth, {"Content-Length": "0"}, b"", what=what
        )
        if response.status == 201:  # mounted: nothing to send
            response.read()
            return True
        self._expect(response, (202,), what).read()
        location = self._location(base, response, what)
        start = data.tell() if data.seekable() else 0
        if size <= self.settings.chunk_size:
            self._finish(base, location, scope, auth, digest, data, size, start, what)
            return False
        sent = 0
        while sent < size:
            chunk = data.read(min(self.settings.chunk_size, size - sent))
            if not chunk:
                raise RegistryContentError(f"{what}: the local blob ended early")
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{sent}-{sent + len(chunk) - 1}",
                "Content-Length": str(len(chunk)),
            }
            response = self._call(
                base, "PATCH", location, scope, auth, headers, chunk, what=what, retry=False
            )
            self._expect(response, (202, 204), what).read()
            location = self._location(base, response, what)
            sent += len(chunk)
        self._finish(base, location, scope, auth, digest, None, 0, 0, what)
        return False

    def _finish(
        self,
        base: str,
        location: str,
        scope: str,
        auth: Mapping[str, str] | None,
        digest: str,
        data: BinaryIO | None,
        size: int,
        start: int,
        what: str,
    ) -> None:
        joiner = "&" if "?" in location else "?"
        url = location + joiner + urlencode({"digest": digest})

        def body() -> Any:
            if data is None:
                return b""
            if data.seekable():
                data.seek(start)
            return data

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        retry = data is None or data.seekable()
        response = self._call(base, "PUT", url, scope, auth, headers, body, what=what, retry=retry)
        if response.status == 400:
            detail = errors.describe(400, response.read())
            raise RegistryContentError(f"{what}: the registry refused it: {detail}")
        self._expect(response, (201, 204), what).read()

    @staticmethod
    def _location(base: str, response: Response, what: str) -> str:
        location = response.header("Location")
        if not location:
            raise RegistryError(f"{what}: the registry gave no upload location")
        return urljoin(base + "/", location)

    def close(self) -> None:
        self.transport.close()
