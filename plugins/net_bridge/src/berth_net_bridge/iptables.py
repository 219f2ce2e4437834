"""The iptables backend of :mod:`.firewall`, for hosts without the ``nft`` command: the same
rules, in chains of each network's own (``BERTH-FWD-<bridge>`` in filter, ``BERTH-NAT-`` and
``BERTH-DNAT-<bridge>`` in nat), each rewritten whole by one ``iptables-restore --noflush``
and reached by one jump from the built-in chain; policies of built-in chains are never
touched. Deleting a network removes its jumps and chains."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from berth_net_bridge.firewall import NetworkRules, Published

IPTABLES = "iptables"
RESTORE = "iptables-restore"
JUMPS = (
    ("filter", "FORWARD", "BERTH-FWD-"),
    ("nat", "POSTROUTING", "BERTH-NAT-"),
    ("nat", "PREROUTING", "BERTH-DNAT-"),
    ("nat", "OUTPUT", "BERTH-DNAT-"),
)


def render(rules: NetworkRules, published: Iterable[Published]) -> str:
    br, net = rules.bridge, rules.subnet
    fwd, nat, dnat = f"BERTH-FWD-{br}", f"BERTH-NAT-{br}", f"BERTH-DNAT-{br}"
    forward = [
        f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-o {br} -i {br} -j {'ACCEPT' if rules.icc else 'DROP'}",
    ]
    if rules.internal:
        forward += [f"-o {br} -j DROP", f"-i {br} -j DROP"]
    else:
        forward += [
            f"-o {br} -m conntrack --ctstate DNAT -j ACCEPT",
            f"-o {br} -j DROP",
            f"-i {br} ! -o {br} -j ACCEPT",
        ]
    post = [
        f"-o {br} -s 127.0.0.0/8 -j MASQUERADE",
        f"-o {br} -s {net} -m conntrack --ctstate DNAT -j MASQUERADE",
    ]
    if rules.masquerade and not rules.internal:
        post.append(f"-s {net} ! -o {br} -j MASQUERADE")
    ports = []
    if not rules.internal:
        for item in published:
            m = item.mapping
            where = (
                f"-d {m.host_ip}"
                if m.host_ip not in ("", "0.0.0.0")
                else "-m addrtype --dst-type LOCAL"
            )
            ports.append(
                f"-p {m.proto} {where} --dport {m.host_port} "
                f"-j DNAT --to-destination {item.address}:{m.container_port}"
            )
    lines = ["*filter", f":{fwd} - [0:0]", *(f"-A {fwd} {r}" for r in forward), "COMMIT"]
    lines += ["*nat", f":{nat} - [0:0]", f":{dnat} - [0:0]"]
    lines += [f"-A {nat} {r}" for r in post] + [f"-A {dnat} {r}" for r in ports] + ["COMMIT"]
    return "\n".join(lines) + "\n"


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IPTABLES, "-w", *args], capture_output=True, text=True, check=False)


def apply(rules: NetworkRules, published: Iterable[Published]) -> None:
    done = subprocess.run(
        [RESTORE, "-w", "--noflush"],
        input=render(rules, published),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()
        raise RuntimeError(f"iptables-restore failed: {detail[0] if detail else done.returncode}")
    for table, builtin, prefix in JUMPS:
        target = prefix + rules.bridge
        if _iptables("-t", table, "-C", builtin, "-j", target).returncode != 0:
            _iptables("-t", table, "-I", builtin, "-j", target)


def delete(bridge: str) -> None:
    for table, builtin, prefix in JUMPS:
        while _iptables("-t", table, "-D", builtin, "-j", prefix + bridge).returncode == 0:
            pass
    for table, prefix in (("filter", "BERTH-FWD-"), ("nat", "BERTH-NAT-"), ("nat", "BERTH-DNAT-")):
        _iptables("-t", table, "-F", prefix + bridge)
        _iptables("-t", table, "-X", prefix + bridge)


def chains() -> list[str]:
    """The ``BERTH-*`` chains present (for tests)."""
    found = []
    for table in ("filter", "nat"):
        out = _iptables("-t", table, "-S").stdout
        found += [line.split()[1] for line in out.splitlines() if line.startswith("-N BERTH-")]
    return found
