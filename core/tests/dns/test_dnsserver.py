"""The embedded DNS server, in process: real UDP and TCP sockets on 127.0.0.1, a fake
upstream server for forwarded names. The asking "container" is 127.0.0.1 itself."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest
import structlog
from berth.engine.networks import dnswire
from berth.engine.networks.dnsforward import Upstream, ask_tcp, ask_udp, parse_upstream
from berth.engine.networks.dnsnames import DnsEndpoint
from berth.engine.networks.dnsserver import EmbeddedDns

from tests.integration.dnsupstream import TRUNCATED_ADDRESS, FakeUpstream

WEB_ID = "a1b2c3d4e5f6" + "0" * 52
ME = DnsEndpoint("n1", "front", "c" * 64, "me", (), "127.0.0.1")
WEB = DnsEndpoint("n1", "front", WEB_ID, "web", ("www",), "172.30.0.2")
HIDDEN = DnsEndpoint("n2", "back", "d" * 64, "hidden", (), "172.31.0.9")
LOG = structlog.get_logger("test")

Scenario = Callable[[EmbeddedDns, Upstream], Awaitable[None]]


def run(
    scenario: Scenario,
    endpoints: Callable[[], Iterable[DnsEndpoint]] = lambda: [ME, WEB, HIDDEN],
    **options: Any,
) -> None:
    async def main() -> None:
        options.setdefault("timeout", 0.5)
        server = EmbeddedDns(endpoints, LOG, port=0, **options)
        try:
            port = await server.listen("127.0.0.1")
            await scenario(server, Upstream("127.0.0.1", port))
        finally:
            await server.close()

    asyncio.run(main())


async def ask(
    at: Upstream, name: str, qtype: int = dnswire.TYPE_A, tcp: bool = False
) -> dnswire.Message:
    wire = dnswire.query(name, qtype, ident=4242)
    answer = await (ask_tcp if tcp else ask_udp)(wire, at, 5.0)
    message = dnswire.parse_message(answer)
    assert message.id == 4242 and message.is_response
    return message


def addresses(message: dnswire.Message) -> list[str]:
    return [r.address() for r in message.answers]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_container_names_and_aliases_resolve(tcp: bool) -> None:
    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        for name in ("web", "WWW", WEB_ID[:12], "web.front"):
            reply = await ask(at, name, tcp=tcp)
            assert reply.rcode == dnswire.NOERROR and addresses(reply) == ["172.30.0.2"], name
            assert reply.flags & dnswire.FLAG_AA
        empty = await ask(at, "web", dnswire.TYPE_AAAA, tcp=tcp)
        assert empty.rcode == dnswire.NOERROR and empty.answers == ()
        ptr = await ask(at, "2.0.30.172.in-addr.arpa", dnswire.TYPE_PTR, tcp=tcp)
        assert [r.target() for r in ptr.answers] == ["web.front"]

    run(scenario, upstreams=[])


def test_names_of_other_networks_are_forwarded_and_unknown_names_get_nxdomain() -> None:
    with FakeUpstream(records={"example.test": "10.53.0.1"}) as upstream:

        async def scenario(_: EmbeddedDns, at: Upstream) -> None:
            reply = await ask(at, "example.test")
            assert addresses(reply) == ["10.53.0.1"]
            assert not reply.flags & dnswire.FLAG_AA
            assert (await ask(at, "hidden")).rcode == dnswire.NXDOMAIN
            assert (await ask(at, "nowhere.test", tcp=True)).rcode == dnswire.NXDOMAIN
            assert ("hidden", "udp") in upstream.seen
            assert ("nowhere.test", "tcp") in upstream.seen
            assert ("web", "udp") not in upstream.seen

        run(scenario, upstreams=[parse_upstream(upstream.address)])


def test_a_containers_own_dns_servers_take_precedence_over_the_hosts() -> None:
    with FakeUpstream(records={"mine.test": "10.53.0.2"}) as upstream:
        me = DnsEndpoint("n1", "front", "c" * 64, "me", (), "127.0.0.1", "", (upstream.address,))

        async def scenario(_: EmbeddedDns, at: Upstream) -> None:
            assert addresses(await ask(at, "mine.test")) == ["10.53.0.2"]

        run(scenario, lambda: [me, WEB], upstreams=[Upstream("127.0.0.1", 9)])


def test_silent_and_failing_upstreams_are_skipped_then_servfail() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent, FakeUpstream(records={"ok.test": "10.53.0.3"}) as good:
        dead = Upstream("127.0.0.1", silent.getsockname()[1])

        async def scenario(_: EmbeddedDns, at: Upstream) -> None:
            assert addresses(await ask(at, "ok.test")) == ["10.53.0.3"]
            assert (await ask(at, "silent.test")).rcode == dnswire.SERVFAIL
            assert (await ask(at, "servfail.test")).rcode == dnswire.SERVFAIL
            assert ("servfail.test", "udp") in good.seen

        run(scenario, upstreams=[dead, parse_upstream(good.address)], timeout=0.3)


def test_no_upstream_at_all_gives_servfail() -> None:
    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        assert (await ask(at, "anything.test")).rcode == dnswire.SERVFAIL

    run(scenario, upstreams=[])


def test_a_truncated_upstream_answer_is_fetched_again_over_tcp() -> None:
    with FakeUpstream() as upstream:

        async def scenario(_: EmbeddedDns, at: Upstream) -> None:
            assert addresses(await ask(at, "truncated.test")) == [TRUNCATED_ADDRESS]
            assert ("truncated.test", "tcp") in upstream.seen

        run(scenario, upstreams=[parse_upstream(upstream.address)])


def test_a_large_local_answer_is_truncated_over_udp_and_whole_over_tcp() -> None:
    many = [
        DnsEndpoint("n1", "front", f"{i:064x}", f"c{i}", ("crowd",), f"172.30.1.{i}")
        for i in range(1, 60)
    ]

    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        cut = await ask(at, "crowd")
        assert cut.truncated and cut.answers == ()
        assert len((await ask(at, "crowd", tcp=True)).answers) == 59

    run(scenario, lambda: [ME, *many], upstreams=[])


def test_strangers_are_refused() -> None:
    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        assert (await ask(at, "web")).rcode == dnswire.REFUSED

    run(scenario, lambda: [WEB], upstreams=[])


def test_a_broken_endpoint_source_gives_servfail() -> None:
    def broken() -> list[DnsEndpoint]:
        raise RuntimeError("dictionary changed size during iteration")

    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        assert (await ask(at, "web")).rcode == dnswire.SERVFAIL

    run(scenario, broken, upstreams=[])


def test_bad_packets_get_formerr_or_nothing_and_the_server_keeps_answering() -> None:
    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        formerr = dnswire.parse_message(await ask_udp(b"\x12\x34\x01\x00\xff\xff", at, 5.0))
        assert formerr.id == 0x1234 and formerr.rcode == dnswire.FORMERR
        notimp = dnswire.Message(77, 2 << 11, (dnswire.Question("web", 1),))
        reply = dnswire.parse_message(await ask_udp(dnswire.encode_message(notimp), at, 5.0))
        assert reply.rcode == dnswire.NOTIMP
        two = dnswire.Message(78, 0, (dnswire.Question("a", 1), dnswire.Question("b", 1)))
        reply = dnswire.parse_message(await ask_udp(dnswire.encode_message(two), at, 5.0))
        assert reply.rcode == dnswire.FORMERR
        response = dnswire.encode_message(dnswire.Message(79, dnswire.FLAG_QR))
        with pytest.raises(TimeoutError):
            await ask_udp(response, at, 0.3)
        reader, writer = await asyncio.open_connection(at.host, at.port)
        writer.write(b"\x00\x40abc")  # promises 64 bytes, then hangs up
        writer.close()
        await writer.wait_closed()
        del reader
        assert addresses(await ask(at, "web")) == ["172.30.0.2"]

    run(scenario, upstreams=[])


def test_queries_to_ourselves_are_not_forwarded_in_a_loop() -> None:
    async def scenario(server: EmbeddedDns, at: Upstream) -> None:
        server._fixed_upstreams = (at,)  # the server's own address, known only now
        assert (await ask(at, "loop.test")).rcode == dnswire.SERVFAIL

    run(scenario)


def test_host_upstreams_come_from_the_hosts_resolv_conf(tmp_path: Any) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n")
    server = EmbeddedDns(lambda: [], LOG, host_resolv_conf=str(conf))
    assert server.host_upstreams() == (Upstream("127.0.0.53"), Upstream("10.1.1.1"))
    conf.write_text("nameserver 10.2.2.2\n")
    os.utime(conf, (1, 1))
    assert server.host_upstreams() == (Upstream("10.2.2.2"),)


def test_listen_unlisten_and_sync() -> None:
    async def scenario(server: EmbeddedDns, at: Upstream) -> None:
        assert await server.listen("127.0.0.1") == at.port
        await server.sync(["127.0.0.1"])
        assert list(server.addresses) == ["127.0.0.1"]
        await server.sync([])
        assert server.addresses == {}
        with pytest.raises((OSError, TimeoutError)):
            await ask_udp(dnswire.query("web"), at, 0.3)
        await server.unlisten("127.0.0.1")

    run(scenario)


@pytest.mark.parametrize(
    ("text", "upstream"),
    [
        ("1.2.3.4", Upstream("1.2.3.4", 53)),
        ("1.2.3.4:5353", Upstream("1.2.3.4", 5353)),
        ("::1", Upstream("::1", 53)),
        ("[::1]:5353", Upstream("::1", 5353)),
    ],
)
def test_parse_upstream(text: str, upstream: Upstream) -> None:
    assert parse_upstream(text) == upstream


@pytest.mark.parametrize("text", ["dns.example", "1.2.3.4:0", "1.2.3.4:x", "[::1]:99999"])
def test_parse_upstream_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_upstream(text)


def test_a_name_that_cannot_be_written_back_gets_formerr() -> None:
    async def scenario(_: EmbeddedDns, at: Upstream) -> None:
        head = struct.pack("!HHHHHH", 99, dnswire.FLAG_RD, 1, 0, 0, 0)
        wire = head + b"\x02\xc3\xa9\x03web\x00" + struct.pack("!HH", 1, 1)
        reply = dnswire.parse_message(await ask_udp(wire, at, 5.0))
        assert reply.id == 99 and reply.rcode == dnswire.FORMERR

    run(scenario, upstreams=[])
