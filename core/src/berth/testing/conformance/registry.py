"""Conformance suite of registry clients (entry-point group ``berth.registry.v1``).

Beyond the registration checks every plugin passes (:class:`DriverRegistrationSuite`), the
behaviour of the :class:`RegistryClient` contract against a real registry — Debian's
``docker-registry`` started on 127.0.0.1 for the test class (skipped where it is missing):
reference normalisation (a clear ``ValueError`` for bad ones), blobs pushed (monolithic and
chunked), checked and read back, a cross-repository mount, manifests by tag and digest with
their digests, tags listed, and failures — an unknown manifest, refused credentials — as
:class:`RegistryError` subclasses of one line.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from berth.plugins import (
    AnySpec,
    DriverKind,
    Manifest,
    PluginContext,
    ProbeResult,
    RegistryAuthError,
    RegistryClient,
    RegistryClientSpec,
    RegistryNotFound,
    RegistrySettings,
    ResolvedReference,
)
from berth.testing.conformance.registration import DriverRegistrationSuite
from berth.testing.registry import LocalRegistry, registry_unavailable, start_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USERS = {"conformance": "correct-horse"}


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _NoRead(io.BytesIO):
    """A blob that must not be read: the upload is expected to be a mount."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the blob was uploaded although it could be mounted")


class RegistryClientSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "registry"
    spec_type: ClassVar[type[AnySpec]] = RegistryClientSpec
    contract: ClassVar[type] = RegistryClient

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def local_registry(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
        missing = registry_unavailable()
        if missing:
            pytest.skip(missing)
        registry = start_registry(tmp_path_factory.mktemp("conformance-registry"))
        yield registry
        registry.cleanup()

    @pytest.fixture(scope="class")
    @classmethod
    def locked_registry(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
        missing = registry_unavailable()
        if missing:
            pytest.skip(missing)
        registry = start_registry(tmp_path_factory.mktemp("conformance-locked"), users=USERS)
        yield registry
        registry.cleanup()

    @pytest.fixture
    def client(
        self, spec: RegistryClientSpec, context: PluginContext, probe_result: ProbeResult
    ) -> RegistryClient:
        if not probe_result.supported:
            pytest.skip(f"registry client {self.name!r} cannot run here: {probe_result.reason}")
        client = spec.factory(context)
        client.configure(RegistrySettings(stall_timeout=10.0, chunk_size=4096))
        return client

    def ref(self, registry: LocalRegistry, repository: str, tag: str | None = None) -> Any:
        return ResolvedReference(registry.host, repository, tag)

    def push_blob(self, client: RegistryClient, ref: ResolvedReference, data: bytes) -> str:
        digest = _digest(data)
        client.put_blob(ref, digest, io.BytesIO(data), len(data), None)
        return digest

    # --- references ----------------------------------------------------------------------

    def test_resolve_normalises_like_docker(self, client: RegistryClient) -> None:
        assert client.resolve("busybox") == ResolvedReference(
            "docker.io", "library/busybox", "latest"
        )
        assert client.resolve("me/app:1") == ResolvedReference("docker.io", "me/app", "1")
        digest = "sha256:" + "a" * 64
        found = client.resolve(f"127.0.0.1:5000/a/b@{digest}")
        assert (found.registry, found.repository, found.digest) == ("127.0.0.1:5000", "a/b", digest)

    @pytest.mark.parametrize("bad", ["Upper", "a:b:c", "", "x@sha256:short", "a/-b"])
    def test_resolve_refuses_bad_references(self, client: RegistryClient, bad: str) -> None:
        with pytest.raises(ValueError) as caught:
            client.resolve(bad)
        assert str(caught.value) and "\n" not in str(caught.value)

    # --- blobs ---------------------------------------------------------------------------

    def test_blob_push_exists_and_read_back(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        ref = self.ref(local_registry, "conformance/blobs")
        data = b"conformance blob " * 100
        digest = _digest(data)
        assert not client.blob_exists(ref, digest, None)
        self.push_blob(client, ref, data)
        assert client.blob_exists(ref, digest, None)
        with client.open_blob(ref, digest, None) as stream:
            assert stream.read() == data

    def test_large_blob_goes_in_chunks(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        ref = self.ref(local_registry, "conformance/chunks")
        data = bytes(range(256)) * 70  # over the 4096-byte chunk size set above
        digest = self.push_blob(client, ref, data)
        with client.open_blob(ref, digest, None) as stream:
            assert stream.read() == data

    def test_a_blob_with_a_wrong_digest_is_refused(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        from berth.plugins import RegistryError

        ref = self.ref(local_registry, "conformance/wrong")
        data = b"not what the digest says"
        wrong = _digest(b"something else")
        with pytest.raises(RegistryError) as caught:
            client.put_blob(ref, wrong, io.BytesIO(data), len(data), None)
        assert "\n" not in str(caught.value)
        assert not client.blob_exists(ref, wrong, None)

    def test_cross_repository_mount(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        source = self.ref(local_registry, "conformance/mount-from")
        data = b"mount me"
        digest = self.push_blob(client, source, data)
        target = self.ref(local_registry, "conformance/mount-to")
        client.put_blob(target, digest, _NoRead(), len(data), None, mount_from=source.repository)
        assert client.blob_exists(target, digest, None)

    # --- manifests -----------------------------------------------------------------------

    def _manifest(self, client: RegistryClient, ref: ResolvedReference) -> Manifest:
        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        ).encode()
        config_digest = self.push_blob(client, ref, config)
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
        content = json.dumps(doc).encode()
        return Manifest(OCI_MANIFEST, _digest(content), content)

    def test_manifest_by_tag_and_digest(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        ref = self.ref(local_registry, "conformance/manifests", "v1")
        manifest = self._manifest(client, ref)
        assert client.put_manifest(ref, manifest, None) == manifest.digest
        by_tag = client.get_manifest(ref, (OCI_MANIFEST,), None)
        assert (by_tag.digest, by_tag.content, by_tag.media_type) == (
            manifest.digest,
            manifest.content,
            OCI_MANIFEST,
        )
        pinned = ResolvedReference(ref.registry, ref.repository, None, manifest.digest)
        assert client.get_manifest(pinned, (OCI_MANIFEST,), None).content == manifest.content
        assert "v1" in client.list_tags(ref, None)

    def test_unknown_manifest_is_not_found(
        self, client: RegistryClient, local_registry: LocalRegistry
    ) -> None:
        ref = self.ref(local_registry, "conformance/none", "missing")
        with pytest.raises(RegistryNotFound) as caught:
            client.get_manifest(ref, (OCI_MANIFEST,), None)
        assert "\n" not in str(caught.value)

    # --- authentication ------------------------------------------------------------------

    def test_login_with_right_and_wrong_credentials(
        self, client: RegistryClient, locked_registry: LocalRegistry
    ) -> None:
        good = {"username": "conformance", "password": USERS["conformance"]}
        assert client.authenticate(locked_registry.host, good) == "Login Succeeded"
        with pytest.raises(RegistryAuthError) as caught:
            client.authenticate(locked_registry.host, {**good, "password": "wrong"})
        assert "\n" not in str(caught.value)
        ref = self.ref(locked_registry, "conformance/locked")
        with pytest.raises(RegistryAuthError):
            client.blob_exists(ref, _digest(b"x"), None)
        assert not client.blob_exists(ref, _digest(b"x"), good)
