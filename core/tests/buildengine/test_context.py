"""The daemon's build context: a tar unpacked, the Dockerfile read, and — as Docker's classic
daemon does — ``.dockerignore`` and the Dockerfile taken out when ``.dockerignore`` names them."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from berth.engine.build.context import BuildContext
from berth.engine.errors import BadParameter


def context_tar(files: dict[str, str], links: dict[str, str] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    buffer.seek(0)
    return buffer


Unpack = Callable[..., BuildContext]


@pytest.fixture
def unpack(tmp_path: Path) -> Iterator[Unpack]:
    opened: list[BuildContext] = []

    def _unpack(files: dict[str, str], links: dict[str, str] | None = None) -> BuildContext:
        context = BuildContext.unpack(context_tar(files, links), tmp_path)
        opened.append(context)
        return context

    yield _unpack
    for context in opened:
        context.close()


def listing(context: BuildContext) -> list[str]:
    return sorted(str(p.relative_to(context.root)) for p in context.root.rglob("*"))


def hide(context: BuildContext, dockerfile: str = "") -> None:
    context.read_dockerfile(dockerfile)
    context.hide_build_files()


def test_ignored_dockerfile_and_dockerignore_leave_the_context(unpack: Unpack) -> None:
    context = unpack(
        {"Dockerfile": "FROM scratch\n", ".dockerignore": ".dockerignore\nDockerfile\n", "a": ""}
    )
    hide(context)
    assert listing(context) == ["a"]


def test_only_what_the_patterns_name_goes(unpack: Unpack) -> None:
    context = unpack({"Dockerfile": "FROM scratch\n", ".dockerignore": "Dockerfile\n"})
    hide(context)
    assert listing(context) == [".dockerignore"]
    context = unpack({"Dockerfile": "FROM scratch\n", ".dockerignore": "*.md\n"})
    hide(context)
    assert listing(context) == [".dockerignore", "Dockerfile"]
    context = unpack({"Dockerfile": "FROM scratch\n"})
    hide(context)
    assert listing(context) == ["Dockerfile"]


def test_other_dockerfile_and_parent_directory_patterns(unpack: Unpack) -> None:
    context = unpack(
        {"build/app.df": "FROM scratch\n", "build/other": "", ".dockerignore": "build/*.df\n"}
    )
    hide(context, "build/app.df")
    assert listing(context) == [".dockerignore", "build", "build/other"]
    # A pattern naming the Dockerfile's directory hides it too (Docker matches parents).
    context = unpack({"sub/Dockerfile": "FROM scratch\n", ".dockerignore": "sub\n"})
    hide(context, "sub/Dockerfile")
    assert listing(context) == [".dockerignore", "sub"]


def test_generated_dockerfile_goes_with_its_dockerignore(unpack: Unpack) -> None:
    name = ".dockerfile.0123456789abcdef0123"
    context = unpack({name: "FROM scratch\n", ".dockerignore": f".dockerignore\n{name}\n", "x": ""})
    hide(context, name)
    assert listing(context) == ["x"]
    # The user's own .dockerignore, with the client's line appended: it stays.
    context = unpack({name: "FROM scratch\n", ".dockerignore": f"*.log\n\n{name}\n", "x": ""})
    hide(context, name)
    assert listing(context) == [".dockerignore", "x"]


def test_lowercase_dockerfile_fallback_is_hidden_under_its_own_name(unpack: Unpack) -> None:
    context = unpack({"dockerfile": "FROM scratch\n", ".dockerignore": "dockerfile\n"})
    hide(context)
    assert listing(context) == [".dockerignore"]


def test_symlinked_build_files_never_remove_outside(unpack: Unpack, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    context = unpack(
        {"real.df": "FROM scratch\n", ".dockerignore": "Dockerfile\nescape\n"},
        {"Dockerfile": "real.df", "escape": str(outside)},
    )
    hide(context)
    assert outside.read_text() == "keep me"
    assert "real.df" not in listing(context)  # Docker removes what the link resolves to


def test_a_bad_dockerignore_is_one_clear_error(unpack: Unpack) -> None:
    context = unpack({"Dockerfile": "FROM scratch\n", ".dockerignore": "[\n"})
    with pytest.raises(BadParameter, match=r"^error checking context: \.dockerignore: "):
        hide(context)
    assert listing(context) == [".dockerignore", "Dockerfile"]
