"""The embedded DNS answering queries: latency of a local name and of a forwarded one.

A server on 127.0.0.1 (any port) knows N endpoints (``-e``, default 100); a second server
stands in for the upstream resolver. One client asks sequentially over UDP; prints the median
and 99th percentile per query and the queries per second. Not a test: see bench/README.md.

    .venv/bin/python bench/dns_queries.py -n 2000 -e 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import structlog
from berth.engine.networks import dnswire
from berth.engine.networks.dnsforward import Upstream, ask_udp
from berth.engine.networks.dnsnames import DnsEndpoint
from berth.engine.networks.dnsserver import EmbeddedDns


def _drop(*_: object) -> None:
    raise structlog.DropEvent


def endpoints(count: int) -> list[DnsEndpoint]:
    me = DnsEndpoint("n", "net", "f" * 64, "me", (), "127.0.0.1")
    return [me] + [
        DnsEndpoint(
            "n", "net", f"{i:064x}", f"c{i}", (f"alias{i}",), f"10.1.{i // 250}.{i % 250 + 1}"
        )
        for i in range(count)
    ]


async def measure(server: Upstream, name: str, count: int) -> list[float]:
    samples = []
    for i in range(count):
        wire = dnswire.query(name, ident=i & 0xFFFF)
        start = time.perf_counter()
        answer = await ask_udp(wire, server, 2.0)
        samples.append(time.perf_counter() - start)
        assert dnswire.parse_message(answer).rcode == dnswire.NOERROR
    return samples


async def main(count: int, known: int) -> None:
    log = structlog.wrap_logger(None, processors=[_drop])
    far = DnsEndpoint("u", "up", "e" * 64, "far.example", (), "10.9.9.9")
    askers = [DnsEndpoint("u", "up", f"{i:064x}", "", (), f"127.0.0.{i}") for i in (1, 2)]
    upstream = EmbeddedDns(lambda: [*askers, far], log, port=0, upstreams=[])
    up_port = await upstream.listen("127.0.0.2")
    table = endpoints(known)
    server = EmbeddedDns(lambda: table, log, port=0, upstreams=[Upstream("127.0.0.2", up_port)])
    at = Upstream("127.0.0.1", await server.listen("127.0.0.1"))
    try:
        print(f"{'query':<22}{'median ms':>10}{'p99 ms':>10}{'queries/s':>11}")
        for label, name in (
            ("local name", f"alias{known // 2}"),
            ("forwarded name", far.container_name),
        ):
            samples = sorted(await measure(at, name, count))
            p99 = samples[int(len(samples) * 0.99) - 1]
            print(
                f"{label:<22}{statistics.median(samples) * 1000:>10.3f}{p99 * 1000:>10.3f}"
                f"{len(samples) / sum(samples):>11.0f}"
            )
    finally:
        await server.close()
        await upstream.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="queries per kind")
    parser.add_argument("-e", type=int, default=100, help="endpoints the server knows")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.e))
