"""Bridges and veth pairs over rtnetlink (pyroute2).

A fresh ``IPRoute`` socket per operation: they cost about a millisecond, and pyroute2's
synchronous objects are not meant to be shared between the daemon's worker threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import ipaddress
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from berth_net_bridge import netns

P = ParamSpec("P")
T = TypeVar("T")
ENODEV = 19
EEXIST = 17
ESRCH = 3


def off_loop(function: Callable[P, T]) -> Callable[P, T]:
    """pyroute2's synchronous API runs an event loop of its own: it cannot be used from a
    thread whose asyncio loop is running (the daemon's main thread), so such calls are done
    in a short-lived thread."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return function(*args, **kwargs)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(function, *args, **kwargs).result()

    return wrapper


@contextlib.contextmanager
def _route() -> Iterator[IPRoute]:
    ipr = IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()


def _index(name: str) -> int | None:
    """The index of a link of this thread's namespace (an ioctl: far cheaper than a netlink
    dump, which pyroute2 also has to parse)."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def link_exists(name: str) -> bool:
    return _index(name) is not None


def _write_sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path(path).write_text(value)


@off_loop
def ensure_bridge(name: str, gateway: str, mtu: int) -> None:
    """The bridge ``name`` exists, is up and holds ``gateway`` (CIDR; empty: no address)."""
    with _route() as ipr:
        index = _index(name)
        if index is None:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except NetlinkError as exc:
                if exc.code != EEXIST:
                    raise
            index = _index(name)
            assert index is not None
        if mtu:
            ipr.link("set", index=index, mtu=mtu)
        if gateway:
            iface = ipaddress.ip_interface(gateway)
            have = {
                (a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                for a in ipr.get_addr(index=index, family=2)
            }
            if (str(iface.ip), iface.network.prefixlen) not in have:
                try:
                    ipr.addr(
                        "add",
                        index=index,
                        address=str(iface.ip),
                        prefixlen=iface.network.prefixlen,
                        broadcast=str(iface.network.broadcast_address),
                    )
                except NetlinkError as exc:
                    if exc.code != EEXIST:  # added meanwhile by another start: fine
                        raise
        ipr.link("set", index=index, state="up")
    # Published ports reached from the host's 127.0.0.1 are routed out of this bridge.
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")


@off_loop
def delete_link(name: str) -> None:
    """Delete a link; a missing one is fine (deleting one end of a veth pair removes both)."""
    index = _index(name)
    if index is None:
        return
    with _route() as ipr:
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code not in (ENODEV, ESRCH):
                raise


@off_loop
def unplug(name: str) -> None:
    """Take a veth's host end off its bridge and down, in one cheap request: the container
    is off the network at once (no port, no ARP answers) while deleting the pair, which
    waits for the kernel, can happen later."""
    index = _index(name)
    if index is None:
        return
    with _route() as ipr:
        try:
            ipr.link("set", index=index, master=0, state="down")
        except NetlinkError as exc:
            if exc.code not in (ENODEV, ESRCH):
                raise


@off_loop
def plug(
    host_name: str,
    bridge: str,
    sandbox: str,
    ifname: str,
    address: str,
    mac: str,
    mtu: int,
    gateway: str,
) -> None:
    """A veth pair made in one request: ``host_name`` an up port of ``bridge`` (hairpin on),
    its peer created right inside the namespace at ``sandbox`` as ``ifname`` with ``mac``;
    then, inside, the CIDR ``address``, the link up and (``gateway`` given) the default
    route."""
    master = _index(bridge)
    if master is None:
        raise RuntimeError(f"bridge {bridge} does not exist")
    extra = {"mtu": mtu} if mtu else {}
    with open(sandbox, "rb") as namespace, _route() as ipr:
        peer = {"ifname": ifname, "net_ns_fd": namespace.fileno(), "address": mac, **extra}
        request = {"ifname": host_name, "kind": "veth", "peer": peer, "master": master, **extra}
        try:
            ipr.link("add", state="up", **request)
        except NetlinkError as exc:
            if exc.code != EEXIST:
                raise
            delete_link(host_name)  # a leftover of a crash: make it again
            ipr.link("add", state="up", **request)
    _write_sysctl(f"/sys/class/net/{host_name}/brport/hairpin_mode", "1")
    iface = ipaddress.ip_interface(address)

    def inside() -> None:
        index = _index(ifname)
        assert index is not None
        with _route() as ns:
            ns.addr(
                "add",
                index=index,
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
                broadcast=str(iface.network.broadcast_address),
            )
            ns.link("set", index=index, state="up")
            if gateway:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=index)

    try:
        netns.run_in(sandbox, inside)
    except BaseException:
        delete_link(host_name)
        raise


def loopback_up() -> None:
    """In the current namespace: bring ``lo`` up (a new namespace has it down)."""
    index = _index("lo")
    if index is not None:
        with _route() as ipr:
            ipr.link("set", index=index, state="up")
