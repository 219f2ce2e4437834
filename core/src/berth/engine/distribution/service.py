"""The distribution service: pull, push, login and registry inspection for the API, over the
registry client plugin the daemon has (the first usable one of ``berth.registry.v1``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.engine.distribution import authconfig, progress
from berth.engine.distribution.errors import DistributionError, from_registry
from berth.engine.distribution.pull import ACCEPT, Puller, pull_all_tags, remote_ref
from berth.engine.distribution.push import Pusher
from berth.engine.errors import BadParameter
from berth.engine.images import manifests, reference
from berth.engine.images.manifests import Index
from berth.engine.images.platforms import Platform
from berth.engine.images.reference import Reference
from berth.engine.images.service import ImageService
from berth.engine.pluginhost import ACTIVE, READY, PluginHost
from berth.plugins import RegistryClient, RegistryError, RegistrySettings


def settings_of(config: Any) -> RegistrySettings:
    return RegistrySettings(
        mirrors=tuple(config["registry-mirrors"]),
        insecure_registries=tuple(config["insecure-registries"]),
        certs_dir=Path(config["certs-dir"]),
        stall_timeout=float(config["registry-timeout"]),
    )


def build_client(host: PluginHost, settings: RegistrySettings) -> RegistryClient:
    """The first registry client plugin that can work here, configured."""
    reasons = []
    for name in host.names("registry"):
        record = host.load_and_probe("registry", name)
        if record.status in (READY, ACTIVE):
            client: RegistryClient = host.build(record)
            client.configure(settings)
            return client
        reasons.append(f"{name}: {record.reason}")
    detail = "; ".join(reasons) or "no registry plugin is installed (berth-registry-hub)"
    raise DistributionError(f"registries cannot be used: {detail}", 503)


class DistributionService:
    def __init__(self, images: ImageService, client: RegistryClient, config: Any, log: Any) -> None:
        self.images = images
        self.client = client
        self.config = config
        self.log = log
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # Docker's max-concurrent-downloads and -uploads are the daemon's, not each pull's
        self._download_slots = threading.BoundedSemaphore(
            max(1, int(config["max-concurrent-downloads"]))
        )
        self._upload_slots = threading.BoundedSemaphore(
            max(1, int(config["max-concurrent-uploads"]))
        )

    def _lock_for(self, name: str) -> threading.Lock:
        """One pull of a reference at a time (a second one waits and finds it stored)."""
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    @staticmethod
    def reference(name: str, tag: str = "") -> Reference:
        ref = reference.parse(name)
        if tag:
            if tag.startswith("sha256:"):
                ref = Reference(ref.domain, ref.path, None, tag)
            else:
                ref = ref.with_tag(tag)
        return ref

    def pull(
        self,
        name: str,
        tag: str,
        platform: Platform | None,
        auth: Mapping[str, str],
        emit: progress.Emit,
        all_tags: bool = False,
    ) -> None:
        ref = self.reference(name, tag)
        reporter = progress.Reporter(emit)
        puller = Puller(
            self.images,
            self.client,
            reporter,
            int(self.config["max-concurrent-downloads"]),
            self.log,
            self._download_slots,
        )
        creds = authconfig.credentials(auth)
        if all_tags and ref.name_only:
            for line in pull_all_tags(puller, ref, platform, creds):
                reporter.send(progress.status(line))
            return
        ref = ref.tag_or_latest()
        with self._lock_for(str(ref)):
            line = puller.pull(ref, platform, creds)
        reporter.send(progress.status(line))

    def push(self, name: str, tag: str, auth: Mapping[str, str], emit: progress.Emit) -> None:
        ref = self.reference(name, tag)
        if ref.digest is not None:
            raise BadParameter("cannot push a digest reference")
        reporter = progress.Reporter(emit)
        pusher = Pusher(
            self.images,
            self.client,
            reporter,
            int(self.config["max-concurrent-uploads"]),
            self._upload_slots,
        )
        pusher.push(ref, authconfig.credentials(auth))

    def login(self, auth: Mapping[str, str]) -> str:
        registry = authconfig.registry_of_server(auth.get("serveraddress", ""))
        try:
            return self.client.authenticate(registry, authconfig.credentials(auth))
        except RegistryError as exc:
            raise from_registry(exc) from None

    def inspect(self, name: str, auth: Mapping[str, str]) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor the reference names and the
        platforms it has."""
        ref = self.reference(name).tag_or_latest()
        try:
            raw = self.client.get_manifest(
                remote_ref(ref, self.client.endpoints(ref.domain)[-1].url),
                ACCEPT,
                authconfig.credentials(auth),
            )
        except RegistryError as exc:
            raise from_registry(exc) from None
        doc = manifests.parse(raw.content, raw.media_type)
        platforms: list[dict[str, str]] = []
        if isinstance(doc, Index):
            for entry in manifests.image_entries(doc):
                if entry.platform is not None:
                    item = {"architecture": entry.platform.architecture, "os": entry.platform.os}
                    if entry.platform.variant:
                        item["variant"] = entry.platform.variant
                    platforms.append(item)
        return {
            "Descriptor": {
                "mediaType": raw.media_type,
                "digest": raw.digest,
                "size": len(raw.content),
            },
            "Platforms": platforms,
        }
