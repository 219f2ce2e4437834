"""Malformed and truncated tars fail with one clear line, never a traceback or a hang."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc

import pytest
from berth.plugins.layers import LayerError, apply_layer

from .conftest import Sandbox
from .kit import END, TarBuilder, data_blocks, raw_header


def refused(sandbox: Sandbox, stream: io.IOBase | bytes, match: str) -> str:
    if isinstance(stream, bytes):
        stream = io.BytesIO(stream)
    with pytest.raises(LayerError, match=match) as caught:
        apply_layer(stream, sandbox.dest)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def sample() -> bytes:
    tar = TarBuilder().dir("d").file("d/f", b"x" * 1500).file("d/g", b"y" * 10)
    return tar.bytes()


def members(archive: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.getmembers()


def end_marker(archive: bytes) -> int:
    last = members(archive)[-1]
    return last.offset_data + -last.size % 512 + last.size


@pytest.mark.parametrize("cut", [1, 100, 511, 512, 700, 1024, 1536, 2000, 2560, 2600, 3071, 3583])
def test_truncated_tar(sandbox: Sandbox, cut: int) -> None:
    archive = sample()
    assert cut < end_marker(archive)
    message = refused(sandbox, archive[:cut], "truncated|end-of-archive")
    assert message.startswith("layer tar ")


def test_truncated_right_before_the_end_marker(sandbox: Sandbox) -> None:
    archive = sample()
    assert refused(sandbox, archive[: end_marker(archive)], "truncated") == (
        "layer tar ends without its end-of-archive marker (truncated?)"
    )


def test_empty_stream(sandbox: Sandbox) -> None:
    refused(sandbox, b"", "end-of-archive")


def test_garbage_is_not_a_tar(sandbox: Sandbox) -> None:
    message = refused(sandbox, b"this is not a tar file at all" * 40, "not a tar")
    assert message.startswith("layer tar has a ")


def test_random_bytes(sandbox: Sandbox) -> None:
    refused(sandbox, bytes(range(256)) * 8, "layer tar")


def test_bad_checksum(sandbox: Sandbox) -> None:
    archive = bytearray(sample())
    archive[0] ^= 0x01  # the first name byte
    assert refused(sandbox, bytes(archive), "checksum") == (
        "layer tar has a corrupt header (bad checksum) after 0 bytes (not a tar archive?)"
    )


def test_a_corrupt_header_in_the_middle_reports_its_offset(sandbox: Sandbox) -> None:
    archive = bytearray(sample())
    third = members(bytes(archive))[2].offset
    archive[third + 3] ^= 0x20  # the third entry's name
    assert f"after {third} bytes" in refused(sandbox, bytes(archive), "checksum")


def test_garbage_header_with_good_checksum(sandbox: Sandbox) -> None:
    block = raw_header(b"f", size=b"12x45\0\0\0\0\0\0\0")
    refused(sandbox, block + END, "bad size field")


def test_huge_size_field_fails_without_allocating(sandbox: Sandbox) -> None:
    huge = bytes([0x80]) + (1 << 62).to_bytes(11, "big")  # base-256: 4 EiB of data
    tracemalloc.start()
    try:
        refused(sandbox, raw_header(b"f", size=huge) + b"a little data" + END, "truncated")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_negative_size(sandbox: Sandbox) -> None:
    negative = bytes([0xFF]) * 12
    refused(sandbox, raw_header(b"f", size=negative) + END, "negative size")


def test_huge_pax_header_is_refused(sandbox: Sandbox) -> None:
    refused(sandbox, raw_header(b"pax", b"x", 1 << 30) + END, "extended header of")


def test_huge_gnu_long_name_is_refused(sandbox: Sandbox) -> None:
    refused(sandbox, raw_header(b"././@LongLink", b"L", 5 << 20) + END, "extended header of")


@pytest.mark.parametrize(
    "records",
    [
        b"garbage",
        b"99 path=x\n",
        b"5 path=x\n",
        b"12 pathx\n\n\n\n",
        b"abc path=x\n",
        b"11 mtime=z\n",
        b"10 uid=-1\n",
    ],
)
def test_malformed_pax_records(sandbox: Sandbox, records: bytes) -> None:
    archive = raw_header(b"pax", b"x", len(records)) + data_blocks(records)
    archive += raw_header(b"f") + END
    refused(sandbox, archive, "pax")


def test_an_extended_header_with_no_entry_after_it(sandbox: Sandbox) -> None:
    record = b"11 path=ab\n"
    archive = raw_header(b"pax", b"x", len(record)) + data_blocks(record) + END
    refused(sandbox, archive, "right after an extended header")


def test_unknown_entry_type(sandbox: Sandbox) -> None:
    refused(sandbox, raw_header(b"m", b"M") + END, "unsupported type 'M'")


def test_a_lone_zero_block_then_garbage_ends_the_archive(sandbox: Sandbox) -> None:
    archive = TarBuilder().file("f", b"1").bytes()
    stream = io.BytesIO(archive + b"\xff" * 700)
    assert apply_layer(stream, sandbox.dest) == 1
    assert stream.read() == b""


def test_corrupt_gzip_under_the_reader_is_a_layer_error(sandbox: Sandbox) -> None:
    packed = bytearray(gzip.compress(sample()))
    packed[len(packed) // 2] ^= 0xFF
    with gzip.GzipFile(fileobj=io.BytesIO(bytes(packed))) as stream:
        message = refused(sandbox, stream, "layer")  # type: ignore[arg-type]
    assert message.startswith(("cannot read the layer", "layer tar"))


def test_truncated_gzip(sandbox: Sandbox) -> None:
    packed = gzip.compress(sample())
    with gzip.GzipFile(fileobj=io.BytesIO(packed[:-30])) as stream:
        refused(sandbox, stream, "cannot read the layer|layer tar")  # type: ignore[arg-type]


class Broken(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        raise OSError(5, "Input/output error")


def test_a_failing_stream(sandbox: Sandbox) -> None:
    assert refused(sandbox, Broken(), "Input/output") == (
        "cannot read the layer: Input/output error"
    )


def test_sparse_map_that_does_not_add_up(sandbox: Sandbox) -> None:
    records = b"".join(
        b"%d %s\n" % (len(b"%s" % r) + 2 + len(b"%d" % (len(r) + 3)), r)
        for r in (b"GNU.sparse.map=0,5,100,5", b"GNU.sparse.size=50")
    )
    archive = raw_header(b"pax", b"x", len(records)) + data_blocks(records)
    archive += raw_header(b"s", b"0", 10) + data_blocks(b"0123456789") + END
    refused(sandbox, archive, "pax|sparse")


def test_a_gnu_volume_label_is_not_content(sandbox: Sandbox) -> None:
    archive = raw_header(b"backup 2024", b"V") + TarBuilder().file("f", b"1").bytes()
    apply_layer(io.BytesIO(archive), sandbox.dest)
    assert [p.name for p in sandbox.dest.iterdir()] == ["f"]
