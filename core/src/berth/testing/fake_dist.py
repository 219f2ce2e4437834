"""Fake distributions: a module tree plus a ``.dist-info`` directory, written into a directory.

With that directory on ``sys.path`` (or on ``PYTHONPATH`` of a subprocess),
``importlib.metadata`` and stevedore see the distribution and its entry points exactly as if it
had been installed by pip, and its modules import. Tests of plugin discovery use it to make
broken, duplicate and well-behaved plugins without installing anything.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

_DIST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
_GROUP = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_ENTRY_POINT_NAME = re.compile(r"^[^=\[\]\s]([^=\[\]]*[^=\[\]\s])?$")
_ENTRY_POINT_VALUE = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


def dist_info_name(dist_name: str, version: str) -> str:
    """The ``.dist-info`` directory name of a distribution, escaped as installers write it."""
    escaped = re.sub(r"[-_.]+", "_", dist_name)
    return f"{escaped}-{version.replace('-', '_')}.dist-info"


def make_fake_distribution(
    root: Path,
    dist_name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str],
) -> Path:
    """Write distribution ``dist_name`` ``version`` into ``root`` and return its dist-info path.

    ``entry_points`` maps a group to ``{name: value}`` (``{"berth.storage.v1": {"x":
    "berth_x.plugin"}}``). ``modules`` maps a dotted module name to its source; a name that is
    the prefix of another (``pkg`` for ``pkg.mod``) becomes a package, and missing parent
    packages get an empty ``__init__.py``. Several distributions may share one ``root``; writing
    a module file that already exists with other content, or the same distribution twice, is an
    error. Raises ``ValueError`` for a malformed name, version, group, entry point or module.
    """
    _check_names(dist_name, version, entry_points, modules)
    root.mkdir(parents=True, exist_ok=True)
    dist_info = root / dist_info_name(dist_name, version)
    if dist_info.exists():
        raise FileExistsError(f"{dist_info} exists: {dist_name} {version} was already written")

    files = _module_files(modules)
    for relative, source in files.items():
        _write_new(root / relative, source)

    metadata = f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n"
    dist_files = {
        "METADATA": metadata,
        "entry_points.txt": _entry_points_text(entry_points),
        "INSTALLER": "berth.testing\n",
    }
    dist_info.mkdir()
    for filename, text in dist_files.items():
        (dist_info / filename).write_text(text, encoding="utf-8")

    record = [_record_line(root, root / relative) for relative in sorted(files)]
    record += [_record_line(root, dist_info / filename) for filename in dist_files]
    record.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")
    return dist_info


def _check_names(
    dist_name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str],
) -> None:
    if not _DIST_NAME.match(dist_name):
        raise ValueError(f"{dist_name!r} is not a valid distribution name")
    if not _VERSION.match(version):
        raise ValueError(f"{version!r} is not a valid version")
    for group, names in entry_points.items():
        if not _GROUP.match(group):
            raise ValueError(f"{group!r} is not a valid entry-point group")
        for name, value in names.items():
            if not _ENTRY_POINT_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid entry-point name (group {group})")
            if not _ENTRY_POINT_VALUE.match(value):
                raise ValueError(
                    f"{value!r} is not a valid entry-point value for {name!r}; "
                    "use 'package.module' or 'package.module:attribute'"
                )
    for module in modules:
        if not all(part.isidentifier() for part in module.split(".")):
            raise ValueError(f"{module!r} is not a valid dotted module name")


def _module_files(modules: Mapping[str, str]) -> dict[Path, str]:
    """Relative file path → source for every module and every package they need."""
    packages = {
        ".".join(parts[:i])
        for parts in (name.split(".") for name in modules)
        for i in range(1, len(parts))
    }
    files: dict[Path, str] = {}
    for package in packages:
        files[Path(*package.split("."), "__init__.py")] = modules.get(package, "")
    for name, source in modules.items():
        if name not in packages:
            files[Path(*name.split(".")).with_suffix(".py")] = source
    return files


def _write_new(path: Path, text: str) -> None:
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return
        raise FileExistsError(f"{path} exists with other content; another fake dist wrote it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _entry_points_text(entry_points: Mapping[str, Mapping[str, str]]) -> str:
    sections = []
    for group, names in entry_points.items():
        lines = [f"[{group}]"] + [f"{name} = {value}" for name, value in names.items()]
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def _record_line(root: Path, path: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(root).as_posix()},sha256={digest},{len(data)}"
