"""How the image commands print, in the docker CLI's shapes: the rows of `images`, `history`
and `system df`, human sizes and times, and inspect's indented JSON.

Each row is a dict with the fields docker's formatter offers (so `--format '{{.Size}}'` and
`--format json` give what docker gives), keys in sorted order as Go's JSON writes them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from berth.cli.jsonmessage import human_size
from berth.client.reference import ReferenceError, parse_normalized
from berth.humanize import human_duration

# typing and json (with the `re` they import) only where needed: `images` is budgeted
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.client.api import APIClient

NONE = "<none>"
SHORT_ID = 12
CREATED_BY_WIDTH = 45

# --- formats ----------------------------------------------------------------------------------

IMAGE_TABLE = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_TABLE_DIGESTS = (
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
IMAGE_RAW = (
    "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\n"
    "created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
)
IMAGE_RAW_DIGESTS = (
    "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\n"
    "created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
)
IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}

HISTORY_TABLE = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_TABLE_NOT_HUMAN = "{{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}

DF_TABLE = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
DF_IMAGES_TABLE = (
    "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
    "\t{{.UniqueSize}}\t{{.Containers}}"
)
DF_CONTAINERS_TABLE = (
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
    "\t{{.Status}}\t{{.Names}}"
)
DF_CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "LocalVolumes": "LOCAL VOLUMES",
    "Size": "SIZE",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Names": "NAMES",
}
DF_VOLUMES_TABLE = "{{.Name}}\t{{.Links}}\t{{.Size}}"
DF_VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
DF_CACHE_TABLE = (
    "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
    "\t{{.UsageCount}}\t{{.Shared}}"
)
DF_CACHE_HEADERS = {
    "ID": "CACHE ID",
    "CacheType": "CACHE TYPE",
    "Size": "SIZE",
    "CreatedSince": "CREATED",
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "Shared": "SHARED",
}

# --- sizes, times, IDs --------------------------------------------------------------------------


def short_size(size: float) -> str:
    """The 3-digit size docker prints in tables: 4.26MB."""
    return human_size(size, 3)


def since(created: int, now: float | None = None) -> str:
    """`2 weeks ago`."""
    moment = time.time() if now is None else now
    return human_duration(moment - created) + " ago"


def go_time(created: int) -> str:
    """Go's time.String() in local time: `2026-11-28 10:36:19 +0000 UTC`.

    (With the `time` module: importing `datetime` costs start-up time.)"""
    moment = time.localtime(created)
    zone = time.strftime("%Z", moment) or time.strftime("%z", moment)
    return time.strftime(f"%Y-%m-%d %H:%M:%S %z {zone}", moment)


def rfc3339(created: int) -> str:
    """Go's RFC 3339 in local time: `2026-11-28T10:36:19Z` or `...T11:36:19+01:00`."""
    moment = time.localtime(created)
    offset = time.strftime("%z", moment)
    zone = "Z" if offset in ("+0000", "-0000", "") else f"{offset[:3]}:{offset[3:]}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + zone


def plain_table(
    fields: Sequence[str], headers: Mapping[str, str], rows: Sequence[Mapping[str, str]]
) -> str:
    """A default table without the template engine (the common case, kept fast): the same
    text as `ListFormat` gives for `table {{.A}}\t{{.B}}...`."""
    from berth.cli.tabwriter import tabwrite

    lines = ["\t".join(headers[field] for field in fields)]
    lines += ["\t".join(row[field] for field in fields) for row in rows]
    return "".join(line + "\n" for line in tabwrite(lines, minwidth=10, padding=3))


def default_fields(layout: str) -> list[str] | None:
    """The fields of a plain `table {{.A}}\t{{.B}}` layout; None for anything fancier."""
    import re

    if not layout.startswith("table "):
        return None
    cells = layout[len("table ") :].split("\t")
    fields = [re.fullmatch(r"\{\{\.([A-Za-z]+)\}\}", cell) for cell in cells]
    if not all(fields):
        return None
    return [match.group(1) for match in fields if match]


def truncate_id(ident: str) -> str:
    """`sha256:bb7ba331993d42…` -> `bb7ba331993d`."""
    return ident.partition(":")[2][:SHORT_ID] if ":" in ident else ident[:SHORT_ID]


def ellipsis(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"


def _number(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return int(value)
    return default


# --- images ---------------------------------------------------------------------------------


def image_format(option: str | None, *, quiet: bool, digests: bool) -> str:
    """docker's NewImageFormat: which template `images` uses for these flags."""
    if not option or option == "table":
        if quiet:
            return "{{.ID}}"
        return "table " + (IMAGE_TABLE_DIGESTS if digests else IMAGE_TABLE)
    if option == "raw":
        if quiet:
            return "image_id: {{.ID}}"
        return IMAGE_RAW_DIGESTS if digests else IMAGE_RAW
    text = option
    stripped = text.strip()
    is_table = stripped == "table" or stripped.startswith("table ")
    if is_table and digests and "{{.Digest}}" not in text:
        text += "\t{{.Digest}}"
    return text


def is_dangling(image: Mapping[str, Any]) -> bool:
    tags = image.get("RepoTags") or []
    digests = image.get("RepoDigests") or []
    if not tags and not digests:
        return True
    return tags == ["<none>:<none>"] and digests == ["<none>@<none>"]


def _image_row(
    image: Mapping[str, Any], repo: str, tag: str, digest: str, trunc: bool, now: float | None
) -> dict[str, str]:
    ident = str(image.get("Id") or "")
    size = _number(image.get("Size"))
    shared = _number(image.get("SharedSize"), -1)
    containers = _number(image.get("Containers"), -1)
    created = _number(image.get("Created"))
    return {
        "Containers": "N/A" if containers == -1 else str(containers),
        "CreatedAt": go_time(created),
        "CreatedSince": since(created, now),
        "Digest": digest,
        "ID": truncate_id(ident) if trunc else ident,
        "Repository": repo,
        "SharedSize": "N/A" if shared == -1 else human_size(shared),
        "Size": short_size(size),
        "Tag": tag,
        "UniqueSize": "N/A" if size == -1 or shared == -1 else human_size(size - shared),
        "VirtualSize": human_size(size),
    }


def image_rows(
    images: Sequence[Mapping[str, Any]],
    *,
    trunc: bool,
    show_digests: bool,
    need_digests: bool,
    now: float | None = None,
) -> list[dict[str, str]]:
    """One row per repository:tag of each image (docker's imageFormatTaggedAndDigest)."""
    rows: list[dict[str, str]] = []
    for image in images:
        if is_dangling(image):
            rows.append(_image_row(image, NONE, NONE, NONE, trunc, now))
            continue
        repo_tags: dict[str, list[str]] = {}
        repo_digests: dict[str, list[str]] = {}
        for text in image.get("RepoTags") or []:
            try:
                ref = parse_normalized(str(text))
            except ReferenceError:
                continue
            if ref.tag:
                repo_tags.setdefault(ref.familiar_name, []).append(ref.tag)
        for text in image.get("RepoDigests") or []:
            try:
                ref = parse_normalized(str(text))
            except ReferenceError:
                continue
            if ref.digest:
                repo_digests.setdefault(ref.familiar_name, []).append(ref.digest)
        for repo, tags in repo_tags.items():
            digests = repo_digests.pop(repo, [])
            if not need_digests:
                digests = []
            for tag in tags:
                if not digests:
                    rows.append(_image_row(image, repo, tag, NONE, trunc, now))
                for digest in digests:
                    rows.append(_image_row(image, repo, tag, digest, trunc, now))
        for repo, digests in repo_digests.items():
            if show_digests:
                for digest in digests:
                    rows.append(_image_row(image, repo, NONE, digest, trunc, now))
            else:
                rows.append(_image_row(image, repo, NONE, "", trunc, now))
    return rows


# --- history ----------------------------------------------------------------------------------


def history_format(option: str | None, *, quiet: bool, human: bool) -> str:
    if not option or option == "table":
        if quiet:
            return "{{.ID}}"
        return "table " + (HISTORY_TABLE if human else HISTORY_TABLE_NOT_HUMAN)
    return option


def history_rows(
    layers: Sequence[Mapping[str, Any]], *, trunc: bool, human: bool, now: float | None = None
) -> list[dict[str, str]]:
    rows = []
    for layer in layers:
        ident = str(layer.get("Id") or "")
        created = _number(layer.get("Created"))
        created_by = str(layer.get("CreatedBy") or "").replace("\t", " ")
        size = _number(layer.get("Size"))
        rows.append(
            {
                "Comment": str(layer.get("Comment") or ""),
                "CreatedAt": rfc3339(created),
                "CreatedBy": ellipsis(created_by, CREATED_BY_WIDTH) if trunc else created_by,
                "CreatedSince": since(created, now) if human else rfc3339(created),
                "ID": truncate_id(ident) if trunc else ident,
                "Size": short_size(size) if human else str(size),
            }
        )
    return rows


# --- inspect ----------------------------------------------------------------------------------

_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def indented_json(values: Sequence[Any]) -> str:
    """inspect's default output: a JSON array indented by 4 spaces, as Go's json.Indent."""
    if not values:
        return "[]\n"
    import json

    text = json.dumps(list(values), indent=4, ensure_ascii=False)
    return text.translate(_HTML_ESCAPES) + "\n"


def compact_json(values: Sequence[Any]) -> str:
    """inspect's `--format json`: the same array on one line."""
    import json

    text = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return text.translate(_HTML_ESCAPES) + "\n"


# --- system df --------------------------------------------------------------------------------


def _percent_of(part: int, total: int) -> str:
    if total > 0:
        return f"{human_size(part)} ({part * 100 // total}%)"
    return human_size(part)


def df_summary_rows(usage: Mapping[str, Any]) -> list[dict[str, str]]:
    images = [i for i in usage.get("Images") or [] if isinstance(i, Mapping)]
    containers = [c for c in usage.get("Containers") or [] if isinstance(c, Mapping)]
    volumes = [v for v in usage.get("Volumes") or [] if isinstance(v, Mapping)]
    cache = [b for b in usage.get("BuildCache") or [] if isinstance(b, Mapping)]

    layers_size = _number(usage.get("LayersSize"))
    used = 0
    for image in images:
        size, shared = _number(image.get("Size"), -1), _number(image.get("SharedSize"), -1)
        if _number(image.get("Containers")) != 0 and size != -1 and shared != -1:
            used += size - shared

    def active(container: Mapping[str, Any]) -> bool:
        state = str(container.get("State") or "")
        return any(word in state for word in ("running", "paused", "restarting"))

    rw_total = sum(_number(c.get("SizeRw")) for c in containers)
    rw_idle = sum(_number(c.get("SizeRw")) for c in containers if not active(c))

    def volume_size(volume: Mapping[str, Any]) -> int:
        data = volume.get("UsageData")
        size = _number(data.get("Size"), -1) if isinstance(data, Mapping) else -1
        return max(size, 0)

    def volume_refs(volume: Mapping[str, Any]) -> int:
        data = volume.get("UsageData")
        return _number(data.get("RefCount")) if isinstance(data, Mapping) else 0

    volumes_total = sum(volume_size(v) for v in volumes)
    volumes_idle = sum(volume_size(v) for v in volumes if volume_refs(v) == 0)
    # As the docker CLI: the records not shared with images (BuilderSize is gone since 1.42).
    builder_size = sum(_number(b.get("Size")) for b in cache if not b.get("Shared"))
    cache_in_use = sum(
        _number(b.get("Size")) for b in cache if b.get("InUse") and not b.get("Shared")
    )
    rows = [
        {
            "Active": str(sum(1 for i in images if _number(i.get("Containers")) > 0)),
            "Reclaimable": _percent_of(layers_size - used, layers_size),
            "Size": human_size(layers_size),
            "TotalCount": str(len(images)),
            "Type": "Images",
        },
        {
            "Active": str(sum(1 for c in containers if active(c))),
            "Reclaimable": _percent_of(rw_idle, rw_total),
            "Size": human_size(rw_total),
            "TotalCount": str(len(containers)),
            "Type": "Containers",
        },
        {
            "Active": str(sum(1 for v in volumes if volume_refs(v) > 0)),
            "Reclaimable": _percent_of(volumes_idle, volumes_total),
            "Size": human_size(volumes_total),
            "TotalCount": str(len(volumes)),
            "Type": "Local Volumes",
        },
        {
            "Active": str(sum(1 for b in cache if b.get("InUse"))),
            "Reclaimable": human_size(builder_size - cache_in_use),
            "Size": human_size(builder_size),
            "TotalCount": str(len(cache)),
            "Type": "Build Cache",
        },
    ]
    return rows


def df_image_rows(
    usage: Mapping[str, Any],
    *,
    trunc: bool = True,
    digest: str | None = None,
    now: float | None = None,
) -> list[dict[str, str]]:
    """`system df -v`: one row per image, its first tag only."""
    rows = []
    for image in usage.get("Images") or []:
        if not isinstance(image, Mapping):
            continue
        repo = tag = NONE
        tags = image.get("RepoTags") or []
        if tags and not is_dangling(image):
            try:
                ref = parse_normalized(str(tags[0]))
            except ReferenceError:
                ref = None
            if ref is not None and ref.tag:
                repo, tag = ref.familiar_name, ref.tag
        rows.append(_image_row(image, repo, tag, NONE if digest is None else digest, trunc, now))
    return rows


def df_container_rows(usage: Mapping[str, Any], now: float | None = None) -> list[dict[str, str]]:
    rows = []
    for container in usage.get("Containers") or []:
        if not isinstance(container, Mapping):
            continue
        names = [str(n).lstrip("/") for n in container.get("Names") or []]
        mounts = [m for m in container.get("Mounts") or [] if isinstance(m, Mapping)]
        command = str(container.get("Command") or "")
        rows.append(
            {
                "Command": f'"{ellipsis(command, 20)}"',
                "ID": truncate_id(str(container.get("Id") or "")),
                "Image": str(container.get("Image") or ""),
                "LocalVolumes": str(sum(1 for m in mounts if m.get("Driver") == "local")),
                "Names": ",".join(names),
                "RunningFor": since(_number(container.get("Created")), now),
                "Size": human_size(_number(container.get("SizeRw"))),
                "Status": str(container.get("Status") or ""),
            }
        )
    return rows


def df_volume_rows(usage: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for volume in usage.get("Volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        data = volume.get("UsageData")
        data = data if isinstance(data, Mapping) else {}
        size = _number(data.get("Size"), -1)
        refs = _number(data.get("RefCount"), -1)
        rows.append(
            {
                "Links": "N/A" if refs == -1 else str(refs),
                "Name": str(volume.get("Name") or ""),
                "Size": "N/A" if size == -1 else human_size(size),
            }
        )
    return rows


def df_cache_rows(usage: Mapping[str, Any], now: float | None = None) -> list[dict[str, str]]:
    rows = []
    for record in usage.get("BuildCache") or []:
        if not isinstance(record, Mapping):
            continue
        rows.append(
            {
                "CacheType": str(record.get("Type") or ""),
                "CreatedSince": _since_text(record.get("CreatedAt"), now),
                "ID": truncate_id(str(record.get("ID") or "")),
                "LastUsedSince": _since_text(record.get("LastUsedAt"), now),
                "Shared": "true" if record.get("Shared") else "false",
                "Size": human_size(_number(record.get("Size"))),
                "UsageCount": str(_number(record.get("UsageCount"))),
            }
        )
    return rows


def _since_text(value: Any, now: float | None) -> str:
    if not isinstance(value, str) or not value:
        return ""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")[:26])
    except ValueError:
        return ""
    return since(int(moment.timestamp()), now)


def render_rows(layout: str, headers: Mapping[str, str], rows: list[dict[str, str]]) -> str:
    """Rows in a `--format` layout; the default tables skip the template engine."""
    fields = default_fields(layout)
    if fields is not None and all(field in headers for field in fields):
        return plain_table(fields, headers, rows)
    if layout == "{{.ID}}":  # -q
        return "".join(row["ID"] + "\n" for row in rows)
    from berth.cli.format import ListFormat

    return ListFormat.from_option(layout, "", headers).render(rows)


def images_text(
    api: APIClient,
    repository: str | None,
    *,
    all_: bool,
    digests: bool,
    filters: dict[str, list[str]],
    format_: str | None,
    no_trunc: bool,
    quiet: bool,
) -> str:
    """What `images` prints (click-free: the `berth` entry point's fast path calls it too)."""
    from berth.client import images as api_images

    if repository:
        filters.setdefault("reference", []).append(repository)
    found = api_images.list_images(api, all_images=all_, filters=filters)
    layout_text = image_format(format_, quiet=quiet, digests=digests)
    rows = image_rows(
        found,
        trunc=not no_trunc,
        show_digests=digests,
        need_digests=digests or "{{.Digest}}" in layout_text,
    )
    if format_ == "raw":
        from berth.cli.format import Template

        template = Template(layout_text)
        return "".join(template.execute(row) + "\n" for row in rows)
    return render_rows(layout_text, IMAGE_HEADERS, rows)
