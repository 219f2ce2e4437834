"""The ``RegistryConfig`` of ``GET /info``, as Docker shows it: loopback and the configured
insecure CIDRs, one index entry per registry (Docker Hub with its mirrors, insecure hosts)."""

from __future__ import annotations

import ipaddress
from typing import Any

LOOPBACK_CIDRS = ["::1/128", "127.0.0.0/8"]


def registry_config(config: Any) -> dict[str, Any]:
    mirrors = list(config["registry-mirrors"])
    cidrs = list(LOOPBACK_CIDRS)
    indexes: dict[str, Any] = {
        "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True, "Official": True}
    }
    for entry in config["insecure-registries"]:
        name = str(entry).split("://", 1)[-1].rstrip("/")
        try:
            network = str(ipaddress.ip_network(name, strict=False))
        except ValueError:
            indexes[name] = {"Name": name, "Mirrors": [], "Secure": False, "Official": False}
            continue
        if network not in cidrs:
            cidrs.append(network)
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": mirrors,
    }
