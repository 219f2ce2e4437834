"""A multi-stage build that compiles a small C program in a Debian stage and copies the binary
into a `FROM scratch` stage, on a bench berthd (temporary socket and roots), with the docker
CLI's classic builder (or berth's own client with `--client berth`); then runs the result.

The Debian base is made by hand, once, with debootstrap (about 460 MB with gcc):

    debootstrap --variant=minbase --include=gcc,libc6-dev bookworm /tmp/debian-gcc \\
        http://deb.debian.org/debian
    .venv/bin/python bench/build_multistage_c.py --rootfs /tmp/debian-gcc

It prints each build's wall time (cold, fully cached, after a change of the C source) and what
the built program prints. Not a test: it needs the debootstrap tree and takes a while.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from setups import bench_daemon  # bench/ is the script's directory: on sys.path

DOCKERFILE = """\
FROM debian:bookworm AS compile
WORKDIR /src
COPY hello.c .
RUN gcc -static -O2 -o /hello hello.c

FROM scratch
COPY --from=compile /hello /hello
ENTRYPOINT ["/hello"]
"""
SOURCE = '#include <stdio.h>\nint main(void) {{ puts("{text}"); return 0; }}\n'


def run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, timeout=900)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"`{' '.join(argv)}` failed ({done.returncode}):\n"
            f"{done.stdout.decode()[-2000:]}\n{done.stderr.decode()[-2000:]}"
        )
    return elapsed, done.stdout.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rootfs", type=Path, required=True, help="a debootstrap tree with gcc")
    parser.add_argument("--client", choices=("docker", "berth"), default="docker")
    args = parser.parse_args()
    if not (args.rootfs / "usr" / "bin" / "gcc").exists():
        print(f"{args.rootfs} has no /usr/bin/gcc: see the docstring", file=sys.stderr)
        return 2
    berth = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "berth")
    with bench_daemon() as host, tempfile.TemporaryDirectory(prefix="berth-bench-c.") as work:
        env = {**os.environ, "BERTH_HOST": host, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "0"}
        tar = subprocess.Popen(["tar", "-C", str(args.rootfs), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        started = time.perf_counter()
        subprocess.run(
            [berth, "import", "-", "debian:bookworm"], env=env, stdin=tar.stdout, check=True
        )
        tar.wait()
        print(f"import of the Debian tree: {time.perf_counter() - started:.2f} s")
        context = Path(work)
        (context / "Dockerfile").write_text(DOCKERFILE)
        client = [args.client] if args.client == "docker" else [berth]
        build = [*client, "build", "--network", "host", "-t", "hello-c", str(context)]
        for label, text in (
            ("cold", "hello from C"),
            ("cached", "hello from C"),
            ("changed", "hi"),
        ):
            (context / "hello.c").write_text(SOURCE.format(text=text))
            elapsed, output = run(build, env)
            cached = output.count("Using cache")
            _, printed = run([*client, "run", "--rm", "--network", "none", "hello-c"], env)
            print(
                f"{label:8} build {elapsed:6.2f} s  steps from cache: {cached}  prints: {printed!r}"
            )
        _, layers = run(
            [*client, "image", "inspect", "-f", "{{len .RootFS.Layers}}", "hello-c"], env
        )
        print(f"layers of the final image: {layers.strip()} (FROM scratch + the binary)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
