"""TCP throughput through berth's bridge networking, against a plain veth pair measured the same
way (issue 6's budget: report them side by side; no userland copy where the kernel can do it).

    python bench/net_throughput.py [--seconds 2] [--json]

The same sender and receiver (this Python, a 256 KiB send/recv loop) run for each path:

- ``host-veth``: the host ↔ a network namespace of our own over a bare veth pair (the
  baseline: what the kernel gives with no bridge, no NAT);
- ``container-container``: two containers on one user-defined bridge network (receiver and
  sender run inside the containers' namespaces with nsenter);
- ``host-published``: the host's 127.0.0.1 → a published port of a container (DNAT).

A bench berthd of its own with a busybox image (bench/setups.py); everything it makes is
removed at the end. Needs root, nsenter and nft.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from setups import SetupError, prepare

REPO = Path(__file__).resolve().parent.parent
BERTH = REPO / ".venv" / "bin" / "berth"
CHUNK = 256 * 1024
NETWORK = "berth-bench-tput"
RECEIVER = (
    "import socket,sys,time\n"
    "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen(1);print('ready',flush=True)\n"
    "c,_=s.accept();n=0;b=bytearray(262144);t=time.monotonic()\n"
    "while True:\n"
    "    k=c.recv_into(b)\n"
    "    if not k: break\n"
    "    n+=k\n"
    "print(n,time.monotonic()-t,flush=True)\n"
)
SENDER = (
    "import socket,sys,time\n"
    "c=socket.create_connection((sys.argv[1],int(sys.argv[2])));d=b'x'*262144\n"
    "end=time.monotonic()+float(sys.argv[3])\n"
    "while time.monotonic()<end: c.sendall(d)\n"
    "c.close()\n"
)


def _in(netns: str | None, *argv: str) -> list[str]:
    return ["nsenter", f"--net={netns}", *argv] if netns else list(argv)


def measure(recv_ns: str | None, send_ns: str | None, address: str, port: int, seconds: float,
            listen_port: int | None = None) -> float:  # fmt: skip
    """Gbit/s from a sender in ``send_ns`` to ``address:port``, received in ``recv_ns``."""
    receiver = subprocess.Popen(
        _in(recv_ns, sys.executable, "-c", RECEIVER, str(listen_port or port)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        if receiver.stdout.readline().strip() != "ready":
            raise SetupError("the receiver did not start")
        subprocess.run(
            _in(send_ns, sys.executable, "-c", SENDER, address, str(port), str(seconds)),
            check=True,
            timeout=seconds + 30,
        )
        total, elapsed = receiver.stdout.readline().split()
        return round(int(total) * 8 / float(elapsed) / 1e9, 2)
    finally:
        receiver.kill()
        receiver.wait()


@contextlib.contextmanager
def plain_veth() -> Iterator[str]:
    """A namespace reached from the host over a bare veth pair; its address."""
    name = f"berthbench{os.getpid() % 10000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        script = [
            [
                "ip",
                "link",
                "add",
                "vethbench0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                name,
            ],
            ["ip", "addr", "add", "100.127.254.1/30", "dev", "vethbench0"],
            ["ip", "link", "set", "vethbench0", "up"],
            ["ip", "-n", name, "addr", "add", "100.127.254.2/30", "dev", "eth0"],
            ["ip", "-n", name, "link", "set", "eth0", "up"],
            ["ip", "-n", name, "link", "set", "lo", "up"],
        ]
        for argv in script:
            subprocess.run(argv, check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "link", "del", "vethbench0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _berth(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BERTH), *args], env={**os.environ, **env}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SetupError(f"berth {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def run(seconds: float) -> dict[str, float]:
    results: dict[str, float] = {}
    with plain_veth() as netns:
        results["host-veth"] = measure(netns, None, "100.127.254.2", 5001, seconds)
    with prepare("busybox", "berth", str(BERTH)) as prepared:
        env = prepared.env
        _berth(env, "network", "create", NETWORK)
        published = _free_port()
        ids = []
        try:
            for extra in ([], ["-p", f"{published}:5001"]):
                ids.append(_berth(env, "run", "-d", "--network", NETWORK, *extra, "busybox",
                                  "sleep", "600"))  # fmt: skip
            info = [json.loads(_berth(env, "inspect", i))[0]["NetworkSettings"] for i in ids]
            sender_ns, receiver_ns = (s["SandboxKey"] for s in info)
            address = info[1]["Networks"][NETWORK]["IPAddress"]
            results["container-container"] = measure(receiver_ns, sender_ns, address, 5001, seconds)
            results["host-published"] = measure(
                receiver_ns, None, "127.0.0.1", published, seconds, listen_port=5001
            )
        finally:
            if ids:
                _berth(env, "rm", "-f", *ids)
            _berth(env, "network", "rm", NETWORK)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("net_throughput.py: needs root", file=sys.stderr)
        return 2
    try:
        results = run(args.seconds)
    except (SetupError, subprocess.CalledProcessError) as exc:
        print(f"net_throughput.py: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
        return 0
    base = results["host-veth"]
    print(f"{'path':22} {'Gbit/s':>8}  vs host-veth")
    for path, value in results.items():
        print(f"{path:22} {value:8.2f}  {value / base if base else 0:.2f}x")
    started = time.strftime("%H:%M:%S")
    print(f"(same sender/receiver for each path; {args.seconds:g} s each; {started})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
