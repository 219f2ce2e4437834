"""Request bodies read straight off an asyncio stream: framing, limits and errors.

The stream is a real StreamReader fed by hand, so every split of the bytes into arrivals
(a chunk head cut in two, a CRLF split from its chunk) is tried deterministically.
"""

from __future__ import annotations

import asyncio

import pytest
from berth.daemon.requestbody import MAX_CHUNK_LINE, BodyError, RequestBody, StreamInput


async def _read_all(body: RequestBody) -> bytes:
    parts = []
    while (piece := await body.next_piece()) is not None:
        parts.append(piece)
    return b"".join(parts)


def read_body(arrivals: list[bytes], length: int | None) -> tuple[bytes, bytes]:
    """The body read from ``arrivals`` (then EOF), and what is left on the stream after it."""

    async def main() -> tuple[bytes, bytes]:
        reader = asyncio.StreamReader(limit=2**16)
        source = StreamInput(reader)
        body = RequestBody(source, length)

        async def feed() -> None:
            for data in arrivals:
                reader.feed_data(data)
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.ensure_future(feed())
        try:
            data = await _read_all(body)
            assert body.done and not body.failed
            await feeder
            return data, await source.read(1 << 20)
        finally:
            feeder.cancel()

    return asyncio.run(main())


def body_error(arrivals: list[bytes], length: int | None = None) -> str:
    with pytest.raises(BodyError) as info:
        read_body(arrivals, length)
    message = str(info.value)
    assert "\n" not in message
    return message


CHUNKED = (
    b"5\r\nhello\r\n"
    b"1;ext=1\r\n \r\n"  # a chunk extension, ignored
    b"00b\r\nworld, and \r\n"  # leading zeros
    b"A\r\n0123456789\r\n"  # upper-case hex
    b"0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"  # trailers, ignored
)
EXPECTED = b"hello world, and 0123456789"


def test_chunked_split_at_every_byte() -> None:
    tail = b"GET /next HTTP/1.1\r\n\r\n"  # a pipelined request stays on the stream
    raw = CHUNKED + tail
    for cut in range(len(raw) + 1):
        assert read_body([raw[:cut], raw[cut:]], None) == (EXPECTED, tail), cut


def test_chunked_split_into_three_anywhere() -> None:
    for first in range(0, len(CHUNKED), 3):
        for second in range(first, len(CHUNKED) + 1, 2):
            arrivals = [CHUNKED[:first], CHUNKED[first:second], CHUNKED[second:]]
            assert read_body(arrivals, None)[0] == EXPECTED


def test_chunked_one_byte_at_a_time() -> None:
    assert read_body([bytes([b]) for b in CHUNKED], None)[0] == EXPECTED


def test_empty_chunked_body_and_empty_length_body() -> None:
    assert read_body([b"0\r\n\r\nrest"], None) == (b"", b"rest")
    assert read_body([b"rest"], 0) == (b"", b"rest")


def test_content_length_body_stops_at_its_length() -> None:
    raw = b"x" * 100_000 + b"next"
    for cut in (0, 1, 65536, 99_999, 100_000, 100_003):
        assert read_body([raw[:cut], raw[cut:]], 100_000) == (b"x" * 100_000, b"next")


def test_big_chunks_come_in_pieces_no_larger_than_the_buffer_allows() -> None:
    data = bytes(range(256)) * 12_000  # ~3 MB in one chunk
    raw = b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"
    arrivals = [raw[i : i + 300_000] for i in range(0, len(raw), 300_000)]
    assert read_body(arrivals, None)[0] == data


def test_bad_chunk_sizes_are_refused() -> None:
    assert "invalid chunk size 'zz'" in body_error([b"zz\r\nhello\r\n0\r\n\r\n"])
    assert "invalid chunk size '0x5'" in body_error([b"0x5\r\nhello\r\n0\r\n\r\n"])
    assert "invalid chunk size '-5'" in body_error([b"-5\r\nhello\r\n0\r\n\r\n"])
    assert "invalid chunk size ''" in body_error([b"\r\nhello\r\n0\r\n\r\n"])
    huge = b"1" + b"0" * 16  # 2**64: more than 16 hex digits
    assert "invalid chunk size" in body_error([huge + b"\r\nhello\r\n"])


def test_missing_crlf_after_chunk_data() -> None:
    assert "not followed by CRLF" in body_error([b"5\r\nhelloXY0\r\n\r\n"])
    assert "not followed by CRLF" in body_error([b"5\r\nhello\n0\r\n\r\n"])


def test_overlong_chunk_head_and_trailers_are_refused() -> None:
    head = b"5;" + b"e" * MAX_CHUNK_LINE + b"\r\nhello\r\n0\r\n\r\n"
    assert "chunk head longer than" in body_error([head])
    no_crlf = b"5" * (70_000)  # no line end within the stream's limit
    assert "chunk head longer than" in body_error([no_crlf])
    trailers = b"5\r\nhello\r\n0\r\n" + b"X-T: " + b"t" * 5000 + b"\r\n\r\n"
    assert "trailer longer than" in body_error([trailers])
    many = b"5\r\nhello\r\n0\r\n" + b"X-T: t\r\n" * 10_000 + b"\r\n"
    assert "trailers over" in body_error([many])


def test_bodies_that_end_early() -> None:
    for raw in (b"", b"5", b"5\r\nhel", b"5\r\nhello", b"5\r\nhello\r\n", b"0\r\nX: 1\r\n"):
        assert "ended early" in body_error([raw]), raw
    assert "ended early" in body_error([b"abc"], length=10)


def test_a_failed_body_stays_failed() -> None:
    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"zz\r\n")
        body = RequestBody(StreamInput(reader), None)
        with pytest.raises(BodyError):
            await body.next_piece()
        assert body.failed and not body.done

    asyncio.run(main())


def test_put_back_bytes_are_read_first() -> None:
    async def main() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"lo\r\n0\r\n\r\nafter")
        reader.feed_eof()
        source = StreamInput(reader)
        source.unread(b"5\r\nhel")
        assert await _read_all(RequestBody(source, None)) == b"hello"
        assert await source.read(100) == b"after"

    asyncio.run(main())
