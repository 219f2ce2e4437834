"""The client's build context: what the tar holds, for a directory, stdin and -f."""

from __future__ import annotations

import gzip
import io
import os
import socket
import tarfile
from pathlib import Path

import pytest
from berth.client.contexttar import (
    BuildContext,
    ContextError,
    from_directory,
    from_stdin,
    read_dockerfile_stdin,
)


def members(context: BuildContext) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=context.stream, mode="r|") as tar:
        return {member.name: member for member in tar}


def contents(context: BuildContext) -> dict[str, bytes]:
    result: dict[str, bytes] = {}
    with tarfile.open(fileobj=context.stream, mode="r|") as tar:
        for member in tar:
            file = tar.extractfile(member)
            if file is not None:
                result[member.name] = file.read()
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    (root / "src" / "deep" / "x.txt").write_text("x")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


def test_a_directory_is_tarred_in_walk_order(project: Path) -> None:
    context = from_directory(str(project))
    assert context.dockerfile == "Dockerfile"
    found = members(context)
    names = ["Dockerfile", "run.sh", "src", "src/deep", "src/deep/x.txt", "src/main.c"]
    assert list(found) == names
    assert found["run.sh"].mode == 0o755
    assert (found["run.sh"].uid, found["run.sh"].gid) == (0, 0)
    assert found["src"].isdir()


def test_symlinks_are_stored_never_followed(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (project / "escape").symlink_to(outside)
    (project / "passwd").symlink_to("/etc/passwd")
    (project / "rel").symlink_to("src/main.c")
    found = members(from_directory(str(project)))
    assert found["escape"].issym() and found["escape"].linkname == str(outside)
    assert found["passwd"].issym() and found["passwd"].linkname == "/etc/passwd"
    assert found["rel"].linkname == "src/main.c"
    assert not any(name.startswith("escape/") for name in found)


def test_hard_links_sockets_and_empty_directories(project: Path) -> None:
    os.link(project / "run.sh", project / "again.sh")
    (project / "empty").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(project / "sock"))
        found = members(from_directory(str(project)))
    finally:
        sock.close()
    assert found["again.sh"].isreg()
    assert found["run.sh"].islnk() and found["run.sh"].linkname == "again.sh"
    assert found["empty"].isdir()
    assert "sock" not in found


def test_dockerignore_leaves_files_out_but_keeps_the_build_files(project: Path) -> None:
    (project / "secret.key").write_text("k")
    (project / "logs").mkdir()
    (project / "logs" / "a.log").write_text("l")
    (project / "logs" / "keep.log").write_text("l")
    (project / "vendor").mkdir()
    (project / "vendor" / "lib.c").write_text("l")
    (project / ".dockerignore").write_text(
        "# nothing secret\n*.key\nlogs\n!logs/keep.log\nvendor\nDockerfile\n.dockerignore\n"
    )
    found = contents(from_directory(str(project)))
    assert "secret.key" not in found
    assert "logs/a.log" not in found
    assert found["logs/keep.log"] == b"l"
    assert not any(name.startswith("vendor") for name in found)
    assert "Dockerfile" in found
    assert ".dockerignore" in found
    assert found["src/main.c"].startswith(b"int main")


def test_a_bad_dockerignore_pattern_is_one_line(project: Path) -> None:
    (project / ".dockerignore").write_text("a[b\n")
    with pytest.raises(
        ContextError, match=r"^error checking context: .dockerignore: .*bad character class"
    ):
        from_directory(str(project))


def test_dockerfile_from_f_inside_the_context(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "docker").mkdir()
    (project / "docker" / "Dockerfile.dev").write_text("FROM scratch\n")
    (project / ".dockerignore").write_text("docker\n")
    monkeypatch.chdir(project)  # -f is relative to the current directory
    context = from_directory(".", "docker/Dockerfile.dev")
    assert context.dockerfile == "docker/Dockerfile.dev"
    assert "docker/Dockerfile.dev" in contents(context)


def test_lowercase_dockerfile_is_found(project: Path) -> None:
    (project / "Dockerfile").rename(project / "dockerfile")
    assert from_directory(str(project)).dockerfile == "dockerfile"


def test_dockerfile_outside_the_context_is_added_under_a_random_name(
    project: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.Dockerfile"
    other.write_text("FROM busybox\n")
    context = from_directory(str(project), str(other))
    assert context.dockerfile.startswith(".dockerfile.")
    found = contents(context)
    assert found[context.dockerfile] == b"FROM busybox\n"
    assert found[".dockerignore"] == f".dockerignore\n{context.dockerfile}\n".encode()
    assert found["Dockerfile"] == b"FROM scratch\nCOPY . /\n"


def test_dockerfile_from_stdin_with_a_directory(project: Path) -> None:
    (project / ".dockerignore").write_text("*.sh\n")
    text = read_dockerfile_stdin(io.BytesIO(b"FROM alpine\n"))
    context = from_directory(str(project), dockerfile_text=text)
    found = contents(context)
    assert found[context.dockerfile] == b"FROM alpine\n"
    assert found[".dockerignore"] == f"*.sh\n\n{context.dockerfile}\n".encode()  # as docker
    assert "run.sh" not in found


def test_missing_context_and_dockerfile_errors(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match=r"unable to prepare context: path .* not found"):
        from_directory(str(tmp_path / "nope"))
    (project / "Dockerfile").unlink()
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile"):
        from_directory(str(project))
    with pytest.raises(ContextError, match="Cannot locate specified Dockerfile: nope"):
        from_directory(str(project), "nope")


def test_stdin_tar_is_sent_as_is() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"FROM scratch\n"
        info = tarfile.TarInfo("Dockerfile.alt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    context = from_stdin(io.BytesIO(raw), "Dockerfile.alt")
    assert context.dockerfile == "Dockerfile.alt"
    assert context.stream.read() == raw
    gz = gzip.compress(raw)
    assert from_stdin(io.BytesIO(gz)).stream.read() == gz


def test_stdin_dockerfile_becomes_a_one_file_context() -> None:
    context = from_stdin(io.BytesIO(b"FROM scratch\nLABEL a=b\n"))
    assert context.dockerfile == "Dockerfile"
    assert contents(context) == {"Dockerfile": b"FROM scratch\nLABEL a=b\n"}


def test_the_tar_is_streamed_piece_by_piece(project: Path) -> None:
    big = project / "big.bin"
    with open(big, "wb") as file:
        file.truncate(8 << 20)  # sparse: 8 MiB of zeros
    stream = from_directory(str(project)).stream
    first = stream.read(64 << 10)
    assert 0 < len(first) <= 64 << 10
    total = len(first)
    while piece := stream.read(1 << 20):
        assert len(piece) <= 1 << 20
        total += len(piece)
    assert total > 8 << 20
    assert total % 512 == 0


def test_a_file_that_vanishes_while_sending_is_an_os_error(project: Path) -> None:
    stream = from_directory(str(project)).stream
    (project / "src" / "main.c").unlink()
    with pytest.raises(OSError):
        while stream.read(1 << 16):
            pass


@pytest.mark.parametrize(
    ("name", "kind", "link", "size"),
    [
        ("a.txt", tarfile.REGTYPE, "", 5),
        ("dir", tarfile.DIRTYPE, "", 0),
        ("link", tarfile.SYMTYPE, "/etc/passwd", 0),
        ("hard", tarfile.LNKTYPE, "a.txt", 0),
        ("n" * 100, tarfile.REGTYPE, "", 8**11 - 1),
        ("fifo", tarfile.FIFOTYPE, "", 0),
        ("null", tarfile.CHRTYPE, "", 0),
    ],
)
def test_fast_headers_are_tarfile_s(name: str, kind: bytes, link: str, size: int) -> None:
    from berth.client.contexttar import _Header

    header = _Header(name, kind, 0o640, 1700000000)
    header.linkname, header.size = link, size
    if kind == tarfile.CHRTYPE:
        header.devmajor, header.devminor = 1, 3
    fast = header.encode()
    assert fast == header._pax()
    assert len(fast) == 512


def test_stdin_sniffing_tells_tars_from_dockerfiles() -> None:
    from berth.client.contexttar import _is_archive

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo("empty"))
    assert _is_archive(buffer.getvalue()[:512])
    assert _is_archive(gzip.compress(b"x")[:512])
    assert not _is_archive(b"FROM scratch\n" * 50)
    assert not _is_archive(b"\0" * 512)
    assert not _is_archive(b"FROM scratch\n")


def test_long_and_non_ascii_names(project: Path) -> None:
    deep = project / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "file.txt").write_text("deep")
    (project / "café.txt").write_text("utf-8")
    found = contents(from_directory(str(project)))
    assert found[f"{'d' * 60}/{'e' * 60}/file.txt"] == b"deep"
    assert found["café.txt"] == b"utf-8"


def test_an_unreadable_file_is_found_before_sending() -> None:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="berth-ctx-"))  # under /tmp: others may enter it
    try:
        root.chmod(0o755)
        (root / "Dockerfile").write_text("FROM scratch\n")
        (root / "Dockerfile").chmod(0o644)
        (root / "secret").write_text("x")
        (root / "secret").chmod(0)
        pid = os.fork()
        if pid == 0:  # the check, as an unprivileged user (root reads everything)
            code = 1
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                try:
                    from_directory(str(root))
                except ContextError as exc:
                    expected = f"error checking context: no permission to read from '{root}/secret'"
                    code = 0 if str(exc) == expected else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        shutil.rmtree(root)
