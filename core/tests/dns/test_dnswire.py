"""The DNS wire codec: round trips, compression pointers and malformed input."""

from __future__ import annotations

import struct

import pytest
from berth.engine.networks import dnswire


def test_a_query_round_trips() -> None:
    wire = dnswire.query("Web.Example.", dnswire.TYPE_AAAA, ident=0x1234)
    message = dnswire.parse_message(wire)
    assert message.id == 0x1234
    assert message.flags & dnswire.FLAG_RD
    assert message.questions == (dnswire.Question("web.example", dnswire.TYPE_AAAA),)
    assert dnswire.encode_message(message) == wire


def test_reply_keeps_id_question_and_rd_and_sets_qr_aa_ra() -> None:
    request = dnswire.parse_message(dnswire.query("web", ident=7))
    answer = dnswire.address_record("web", "172.18.0.2", 600)
    wire = dnswire.encode_message(dnswire.reply(request, dnswire.NOERROR, (answer,)))
    parsed = dnswire.parse_message(wire)
    assert parsed.id == 7 and parsed.is_response and parsed.rcode == dnswire.NOERROR
    assert parsed.flags & dnswire.FLAG_AA and parsed.flags & dnswire.FLAG_RA
    assert parsed.flags & dnswire.FLAG_RD
    assert parsed.questions == request.questions
    assert [r.address() for r in parsed.answers] == ["172.18.0.2"]
    assert parsed.answers[0].ttl == 600


def test_ipv6_and_ptr_records() -> None:
    request = dnswire.parse_message(dnswire.query("x", dnswire.TYPE_PTR))
    records = (
        dnswire.address_record("x", "fd00::2", 5),
        dnswire.ptr_record("2.0.18.172.in-addr.arpa", "web.mynet", 5),
    )
    parsed = dnswire.parse_message(
        dnswire.encode_message(dnswire.reply(request, dnswire.NOERROR, records))
    )
    assert parsed.answers[0].rtype == dnswire.TYPE_AAAA
    assert parsed.answers[0].address() == "fd00::2"
    assert parsed.answers[1].target() == "web.mynet"


def test_compression_pointers_are_followed() -> None:
    # header, question "a.example", answer whose name points at offset 12 and whose CNAME
    # target is "www" + pointer to "example" (offset 14)
    head = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
    question = b"\x01a\x07example\x00" + struct.pack("!HH", 1, 1)
    target = b"\x03www\xc0\x0e"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", dnswire.TYPE_CNAME, 1, 30, len(target)) + target
    parsed = dnswire.parse_message(head + question + answer)
    assert parsed.answers[0].name == "a.example"
    assert parsed.answers[0].target() == "www.example"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\x01\x01\x00", id="short-header"),
        pytest.param(struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0), id="missing-question"),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01",
            id="pointer-loop",
        ),
        pytest.param(struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab", id="label-past-end"),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x40abc\x00\x00\x01\x00\x01",
            id="bad-label-type",
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x01a\x00\x00", id="truncated-type"
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0, 0, 1, 0, 0) + b"\x00" + b"\x00\x01\x00\x01\x00",
            id="truncated-record",
        ),
        pytest.param(
            struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
            + b"".join(b"\x3f" + b"a" * 63 for _ in range(5))
            + b"\x00\x00\x01\x00\x01",
            id="name-too-long",
        ),
    ],
)
def test_malformed_messages_raise_format_error(data: bytes) -> None:
    with pytest.raises(dnswire.DnsFormatError):
        dnswire.parse_message(data)


def test_error_reply_to_garbage_keeps_the_id() -> None:
    wire = dnswire.error_reply(b"\xab\xcd\x01\x00garbage", dnswire.FORMERR)
    assert wire is not None
    parsed = dnswire.parse_message(wire)
    assert parsed.id == 0xABCD and parsed.rcode == dnswire.FORMERR and parsed.is_response
    assert dnswire.error_reply(b"\x01", dnswire.FORMERR) is None


@pytest.mark.parametrize("name", ["a..b", "a" * 64, "ü.example", "x." * 130])
def test_bad_names_cannot_be_encoded(name: str) -> None:
    with pytest.raises(dnswire.DnsFormatError):
        dnswire.encode_name(name)


def test_large_udp_answer_is_truncated_to_the_question() -> None:
    request = dnswire.parse_message(dnswire.query("many"))
    answers = tuple(
        dnswire.address_record("many", f"10.0.{i // 250}.{i % 250}", 1) for i in range(60)
    )
    message = dnswire.reply(request, dnswire.NOERROR, answers)
    full = dnswire.encode_message(message)
    assert len(full) > dnswire.MAX_UDP_SIZE
    assert dnswire.fit_udp(message, 4096) == full
    cut = dnswire.parse_message(dnswire.fit_udp(message))
    assert cut.truncated and cut.answers == () and cut.questions == request.questions


def test_edns_buffer_size_is_the_udp_limit() -> None:
    opt = dnswire.Record("", dnswire.TYPE_OPT, 1232, 0, b"")
    request = dnswire.Message(1, dnswire.FLAG_RD, (dnswire.Question("a", 1),), additional=(opt,))
    parsed = dnswire.parse_message(dnswire.encode_message(request))
    assert dnswire.udp_limit(parsed) == 1232
    assert dnswire.udp_limit(dnswire.parse_message(dnswire.query("a"))) == 512
