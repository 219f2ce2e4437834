"""The JSON shapes of the images API (Docker Engine API v1.44): summary, inspect, history."""

from __future__ import annotations

from typing import Any

from berth.engine.images.reference import Reference
from berth.engine.images.store import Image

ZERO_TIME = "0001-01-01T00:00:00Z"

#: The fields Docker's container.Config always carries (others are omitted when empty).
_CONFIG_DEFAULTS: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def container_config(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {**_CONFIG_DEFAULTS, **value}


def api_at_least(version: str, wanted: str) -> bool:
    try:
        have = tuple(int(p) for p in version.split("."))
    except ValueError:
        return True
    return have >= tuple(int(p) for p in wanted.split("."))


def summary(
    image: Image,
    tags: list[Reference],
    repo_digests: list[Reference],
    api_version: str,
    shared_size: int = -1,
    containers: int = -1,
) -> dict[str, Any]:
    config = image.config
    repo_tags = [r.familiar for r in tags]
    digest_names = [r.familiar for r in repo_digests]
    if not api_at_least(api_version, "1.43"):
        repo_tags = repo_tags or ["<none>:<none>"]
        digest_names = digest_names or ["<none>@<none>"]
    data: dict[str, Any] = {
        "Containers": containers,
        "Created": config.created_unix,
        "Id": image.id,
        "Labels": config.container_config.get("Labels"),
        "ParentId": image.parent,
        "RepoDigests": digest_names,
        "RepoTags": repo_tags,
        "SharedSize": shared_size,
        "Size": image.size,
    }
    if not api_at_least(api_version, "1.44"):
        data["VirtualSize"] = image.size
    return data


def inspect(
    image: Image,
    refs: list[Reference],
    driver_name: str,
    driver_data: dict[str, str] | None,
    api_version: str,
) -> dict[str, Any]:
    config = image.config
    doc = config.doc
    data: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": [r.familiar for r in refs if r.tag is not None],
        "RepoDigests": [r.familiar for r in refs if r.digest is not None],
        "Parent": image.parent,
        "Comment": config.text("comment"),
        "Created": config.created,
        "Container": config.text("container"),
        "ContainerConfig": container_config(doc.get("container_config")) or dict(_CONFIG_DEFAULTS),
        "DockerVersion": config.text("docker_version"),
        "Author": config.text("author"),
        "Config": container_config(doc.get("config")),
        "Architecture": config.text("architecture"),
        "Os": config.text("os"),
        "Size": image.size,
        "GraphDriver": {"Name": driver_name, "Data": driver_data},
        "RootFS": {"Type": "layers"},
        "Metadata": {"LastTagTime": image.last_tag_time or ZERO_TIME},
    }
    if config.text("variant"):
        data["Variant"] = config.text("variant")
    if config.text("os.version"):
        data["OsVersion"] = config.text("os.version")
    if config.diff_ids:
        data["RootFS"]["Layers"] = list(config.diff_ids)
    if not api_at_least(api_version, "1.44"):
        data["VirtualSize"] = image.size
    if api_at_least(api_version, "1.45"):  # pragma: no cover - v1.44 is the newest served
        del data["Container"], data["ContainerConfig"]
    return data


def history(
    image: Image,
    tags: list[Reference],
    layer_sizes: list[int],
) -> list[dict[str, Any]]:
    """Newest first; the top entry carries the image ID and tags, the others ``<missing>``."""
    from berth.engine.images.imageconfig import parse_time

    entries = image.config.history
    out: list[dict[str, Any]] = []
    layer_index = 0
    for entry in entries:
        size = 0
        if not entry.get("empty_layer"):
            if layer_index < len(layer_sizes):
                size = layer_sizes[layer_index]
            layer_index += 1
        stamp = parse_time(str(entry.get("created", "")))
        out.append(
            {
                "Id": "<missing>",
                "Created": int(stamp) if stamp is not None else 0,
                "CreatedBy": str(entry.get("created_by", "")),
                "Tags": None,
                "Size": size,
                "Comment": str(entry.get("comment", "")),
            }
        )
    out.reverse()
    if out:
        out[0]["Id"] = image.id
        out[0]["Tags"] = [r.familiar for r in tags] or None
    return out
