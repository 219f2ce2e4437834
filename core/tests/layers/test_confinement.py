"""apply_layer never writes outside its destination, whatever the tar says.

Every test runs with the kernel's openat2 and with the Python fallback resolver, and checks
(through the ``sandbox`` fixture) that the canary directory next to the destination is exactly
as before and nothing appeared beside it. Attacks aim at the canary (by absolute path and by
``..``) and at the host's /etc/passwd, which is watched as well.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from berth.plugins.layers import LayerError, WhiteoutFormat, apply_layer

from .conftest import Sandbox
from .kit import END, TarBuilder, data_blocks, needs_root, raw_header

pytestmark = pytest.mark.usefixtures("resolver")


def refused(sandbox: Sandbox, archive: bytes | TarBuilder, match: str, **kwargs: object) -> str:
    data = archive.bytes() if isinstance(archive, TarBuilder) else archive
    with pytest.raises(LayerError, match=match) as caught:
        apply_layer(io.BytesIO(data), sandbox.dest, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def unpacks(sandbox: Sandbox, archive: TarBuilder, **kwargs: object) -> None:
    apply_layer(archive.stream(), sandbox.dest, **kwargs)  # type: ignore[arg-type]


def test_dot_dot_entries_are_refused(sandbox: Sandbox) -> None:
    message = refused(sandbox, TarBuilder().file("../canary/passwd", b"pwned"), "escapes")
    assert message == "layer entry '../canary/passwd' escapes the layer root"
    refused(sandbox, TarBuilder().file("a/../../canary/new", b"x"), "escapes")
    refused(sandbox, TarBuilder().dir(".."), "escapes")
    refused(sandbox, TarBuilder().symlink("../evil", "/"), "escapes")


def test_absolute_names_stay_inside(sandbox: Sandbox) -> None:
    canary = str(sandbox.canary)
    unpacks(sandbox, TarBuilder().file(f"{canary}/passwd", b"pwned").file("/etc/passwd", b"x"))
    assert (sandbox.dest / canary.lstrip("/") / "passwd").read_bytes() == b"pwned"
    assert (sandbox.dest / "etc/passwd").read_bytes() == b"x"


def test_writing_through_a_symlink_to_the_host_root_stays_inside(sandbox: Sandbox) -> None:
    inside = str(sandbox.canary).lstrip("/")
    tar = TarBuilder().symlink("root", "/").file(f"root/{inside}/passwd", b"pwned")
    tar.dir(f"root/{inside}/newdir").symlink(f"root/{inside}/newlink", "x")
    unpacks(sandbox, tar)
    assert (sandbox.dest / inside / "passwd").read_bytes() == b"pwned"
    assert (sandbox.dest / "root").is_symlink()


def test_writing_through_a_symlink_to_dot_dot_stays_inside(sandbox: Sandbox) -> None:
    tar = TarBuilder().symlink("up", "..").file("up/canary/passwd", b"pwned")
    tar.symlink("upup", "../../../../..").file("upup/canary/other", b"pwned")
    tar.dir("deep").symlink("deep/up", "../..").file("deep/up/canary/third", b"pwned")
    unpacks(sandbox, tar)
    for name in ("passwd", "other", "third"):
        assert (sandbox.dest / "canary" / name).read_bytes() == b"pwned"


def test_a_symlink_swapped_in_by_a_later_entry(sandbox: Sandbox) -> None:
    inside = str(sandbox.canary).lstrip("/")
    tar = TarBuilder().dir("d").file("d/first", b"1")
    tar.symlink("d", "/")  # replaces the directory
    tar.file(f"d/{inside}/passwd", b"pwned").file(f"d/{inside}/sub/file", b"pwned")
    unpacks(sandbox, tar)
    assert (sandbox.dest / inside / "passwd").read_bytes() == b"pwned"
    assert (sandbox.dest / inside / "sub/file").read_bytes() == b"pwned"
    assert os.readlink(sandbox.dest / "d") == "/"


def test_a_symlink_to_a_missing_dir_is_not_followed_out(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("d").file("d/first", b"1")
    tar.symlink("d", str(sandbox.canary))  # exists outside, not inside
    tar.file("d/passwd", b"pwned")
    message = refused(sandbox, tar, "'d/passwd'")
    assert message == (
        "cannot unpack layer entry 'd/passwd': 'd' is a symlink to a directory that does not exist"
    )


def test_a_symlink_swapped_in_for_a_parent_dir_between_siblings(sandbox: Sandbox) -> None:
    # The unpacker caches open parent directories: replacing one must not leave a stale one.
    tar = TarBuilder().dir("a").dir("a/b").file("a/b/one", b"1")
    tar.symlink("a", "../../..")  # relative, climbing out: resolves to the root
    tar.file("a/b/two", b"2").file("a/canary/passwd", b"pwned")
    unpacks(sandbox, tar)
    assert (sandbox.dest / "b/two").read_bytes() == b"2"
    assert (sandbox.dest / "canary/passwd").read_bytes() == b"pwned"
    assert not (sandbox.dest / "b/one").exists()


def test_symlink_loops_fail_cleanly(sandbox: Sandbox) -> None:
    tar = TarBuilder().symlink("loop1", "loop2").symlink("loop2", "loop1").file("loop1/x", b"")
    message = refused(sandbox, tar, "loop1/x")
    assert "symbolic links" in message or "exists" in message


def test_a_dangling_symlink_parent_is_not_followed_out(sandbox: Sandbox) -> None:
    target = str(sandbox.root / "created-outside")
    tar = TarBuilder().symlink("d", target).file("d/file", b"x")
    refused(sandbox, tar, "'d/file'")
    assert not Path(target).exists()


def test_a_file_over_a_symlink_replaces_the_symlink(sandbox: Sandbox) -> None:
    outside = str(sandbox.canary / "passwd")
    unpacks(sandbox, TarBuilder().symlink("f", outside).file("f", b"pwned"))
    assert (sandbox.dest / "f").read_bytes() == b"pwned"
    assert not (sandbox.dest / "f").is_symlink()


def test_a_fifo_in_the_way_does_not_block(sandbox: Sandbox) -> None:
    unpacks(sandbox, TarBuilder().fifo("f").file("f", b"data").fifo("f").dir("f"))
    assert (sandbox.dest / "f").is_dir()


def test_hard_link_to_a_host_file_is_refused(sandbox: Sandbox, etc_passwd: os.stat_result) -> None:
    refused(sandbox, TarBuilder().hardlink("pw", "../../../../../../etc/passwd"), "outside")
    # An absolute target is a path inside the layer, which has no etc/passwd.
    message = refused(sandbox, TarBuilder().hardlink("pw", "/etc/passwd"), "not in the layer")
    assert message == (
        "layer entry 'pw' is a hard link to '/etc/passwd', which is not in the layer"
    )
    assert not (sandbox.dest / "pw").exists()


def test_hard_link_to_the_canary_by_absolute_path_is_not_the_canary(sandbox: Sandbox) -> None:
    target = str(sandbox.canary / "passwd")
    refused(sandbox, TarBuilder().hardlink("pw", target), "not in the layer")


def test_hard_link_through_a_symlink_stays_inside(
    sandbox: Sandbox, etc_passwd: os.stat_result
) -> None:
    tar = TarBuilder().symlink("sys", "/etc").hardlink("pw", "sys/passwd")
    refused(sandbox, tar, "not in the layer")
    tar = TarBuilder().symlink("etc", "/etc").hardlink("pw", "etc/passwd")
    refused(sandbox, tar, "Too many levels of symbolic links")  # etc is itself, inside
    tar = TarBuilder().symlink("up", "..").hardlink("pw", "up/canary/passwd")
    refused(sandbox, tar, "not in the layer")
    # Inside the layer it works, and links the layer's own file.
    tar = TarBuilder().dir("real").file("real/passwd", b"mine").symlink("etc", "/real")
    tar.hardlink("pw", "etc/passwd")
    unpacks(sandbox, tar)
    assert os.lstat(sandbox.dest / "pw").st_ino == os.lstat(sandbox.dest / "real/passwd").st_ino


def test_hard_link_to_a_symlink_links_the_symlink_itself(sandbox: Sandbox) -> None:
    outside = str(sandbox.canary / "passwd")
    unpacks(sandbox, TarBuilder().symlink("s", outside).hardlink("h", "s").file("h2", b""))
    assert os.readlink(sandbox.dest / "h") == outside
    assert os.lstat(sandbox.dest / "h").st_ino == os.lstat(sandbox.dest / "s").st_ino


def test_hard_link_then_write_does_not_write_through(sandbox: Sandbox) -> None:
    tar = TarBuilder().file("a", b"layer file").hardlink("b", "a").file("b", b"new")
    unpacks(sandbox, tar)
    assert (sandbox.dest / "a").read_bytes() == b"layer file"


def test_hard_link_to_a_directory_is_refused(sandbox: Sandbox) -> None:
    refused(sandbox, TarBuilder().dir("d").hardlink("h", "d"), "'h'")


@needs_root
@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_devices_when_not_allowed(sandbox: Sandbox, kind: bytes) -> None:
    tar = TarBuilder().dir("dev").device("dev/sda", kind, 8, 0)
    message = refused(sandbox, tar, "not allowed", allow_devices=False)
    assert message.startswith("layer entry 'dev/sda' is a ")
    assert not (sandbox.dest / "dev/sda").exists()
    # fifos are not devices, and overlay whiteouts are still made
    tar = TarBuilder().fifo("f").whiteout("gone")
    unpacks(sandbox, tar, allow_devices=False, whiteouts=WhiteoutFormat.OVERLAY)
    assert (sandbox.dest / "gone").is_char_device()


def test_whiteout_through_a_symlink_stays_inside(sandbox: Sandbox) -> None:
    tar = TarBuilder().symlink("c", str(sandbox.canary)).whiteout("c/passwd")
    tar.symlink("up", "..").whiteout("up/canary").whiteout("up/canary/sub")
    unpacks(sandbox, tar)
    tar = TarBuilder().symlink("c2", str(sandbox.canary)).opaque("c2")
    unpacks(sandbox, tar)


@needs_root
def test_whiteout_through_a_symlink_in_overlay_format_stays_inside(sandbox: Sandbox) -> None:
    inside = str(sandbox.canary).lstrip("/")
    tar = TarBuilder().symlink("c", "/").whiteout(f"c/{inside}/passwd").opaque(f"c/{inside}")
    unpacks(sandbox, tar, whiteouts=WhiteoutFormat.OVERLAY)
    assert (sandbox.dest / inside / "passwd").is_char_device()
    assert os.getxattr(sandbox.dest / inside, "trusted.overlay.opaque") == b"y"
    tar = TarBuilder().symlink("d", str(sandbox.root / "nowhere")).whiteout("d/passwd")
    refused(sandbox, tar, "does not exist", whiteouts=WhiteoutFormat.OVERLAY)


def test_whiteout_names_that_climb_are_refused(sandbox: Sandbox) -> None:
    refused(sandbox, raw_header(b"../.wh.canary") + END, "escapes")
    refused(sandbox, raw_header(b"d/.wh..") + END, "not a valid whiteout")


def test_nul_in_a_pax_path_is_refused(sandbox: Sandbox) -> None:
    record = b"path=a\x00/../../canary/passwd\n"
    record = b"%d " % (len(record) + 3) + record
    archive = raw_header(b"pax", b"x", len(record)) + data_blocks(record)
    archive += raw_header(b"a", b"0", 5) + data_blocks(b"pwned") + END
    refused(sandbox, archive, "NUL")


def test_the_error_names_the_entry_and_stops(sandbox: Sandbox) -> None:
    tar = TarBuilder().file("ok", b"1").file("../bad", b"2").file("never", b"3")
    refused(sandbox, tar, "'../bad'")
    assert (sandbox.dest / "ok").exists()
    assert not (sandbox.dest / "never").exists()


def test_control_characters_in_names_are_escaped_in_errors(sandbox: Sandbox) -> None:
    message = refused(sandbox, TarBuilder().file("../\x1b[2Jevil\nname", b""), "escapes")
    assert message == "layer entry '../\\x1b[2Jevil\\nname' escapes the layer root"
