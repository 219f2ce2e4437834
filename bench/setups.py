"""Preparations some workloads need before they are timed (never timed themselves).

A workload names one (`Workload.setup`); the harness enters `prepare(name, engine, argv0)`
for each engine it measures, and runs that engine's commands with the environment and the
placeholders it gives. What a preparation makes, it removes on exit.

- `images-100`: 100 small distinct images present. For berth in a bench daemon of its own (a
  berthd on a temporary socket, data root and exec root; the client reaches it through
  BERTH_HOST), for docker/podman in their stores (removed afterwards).
- `load-100mb`: a ~100 MB three-layer archive in a temporary file (`{archive}`), and for berth
  an empty bench daemon; each run's image is removed after it by `Workload.after_each`.
- `busybox`: a `busybox:latest` image made from the host's static busybox — for berth in a
  bench daemon, for docker/podman imported into their stores unless they have one (then
  removed again at the end).
- `busybox-exec`: `busybox` plus a running container `berth-bench-exec` (`sleep`), removed at
  the end, to exec into.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archives import (
    BUSYBOX,
    BUSYBOX_IMAGE,
    archive_size_mb,
    big_archive,
    busybox_rootfs,
    many_images_archive,
)
from idle_rss import berthd_path, mounts_under, ping, stop

SETUP_TIMEOUT = 600.0
START_TIMEOUT = 30.0
IMAGES_COUNT = 100


class SetupError(Exception):
    """A preparation failed; the message is one line."""


@dataclass
class Prepared:
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the commands
    values: dict[str, str] = field(default_factory=dict)  # extra placeholders: {archive}
    note: str = ""  # what was prepared, for the report


def _run(argv: list[str], env: dict[str, str] | None = None, what: str = "") -> None:
    import os

    try:
        done = subprocess.run(
            argv,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what or argv[0]}: took longer than {SETUP_TIMEOUT:g} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SetupError(f"{what or ' '.join(argv[:3])} failed: {lines[-1] if lines else ''}")


@contextlib.contextmanager
def bench_daemon() -> Iterator[str]:
    """A berthd of this checkout on a temporary socket and roots; yields its host URL."""
    work = Path(tempfile.mkdtemp(prefix="berth-bench-daemon."))
    sock = work / "berth.sock"
    log_path = work / "berthd.log"
    argv = [
        berthd_path(),
        "-H",
        f"unix://{sock}",
        "--data-root",
        str(work / "data"),
        "--exec-root",
        str(work / "exec"),
        "--config-file",
        str(work / "daemon.json"),
    ]
    process = None
    slot_lock = -1
    try:
        # A default bridge and subnet of its own: never those of another berthd running on
        # this host, a bench daemon of another run included (its stop would remove ours).
        slot, slot_lock = _network_slot()
        config = {
            "bridge": f"berth-bench{slot}",
            "bip": f"172.{BENCH_SUBNETS.start + slot}.0.1/24",
            "default-address-pools": [
                {"base": f"172.{BENCH_SUBNETS.start + slot}.0.0/16", "size": 24}
            ],
        }
        (work / "daemon.json").write_text(json.dumps(config) + "\n")
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        started = time.monotonic()
        while not ping(sock):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise SetupError(f"the bench berthd exited: {' '.join(tail)}")
            if time.monotonic() - started > START_TIMEOUT:
                raise SetupError(f"the bench berthd did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.05)
        yield f"unix://{sock}"
    finally:
        if process is not None:
            stop(process)
        if slot_lock >= 0:
            os.close(slot_lock)
        if not mounts_under(work):
            shutil.rmtree(work, ignore_errors=True)


#: Bench daemons' networks: slot N is bridge berth-benchN on 172.(24+N).0.0/16, held while its
#: lock file is locked (tests use berth-tN and 10.N.0.0/16).
BENCH_SUBNETS = range(24, 32)
BENCH_SLOT_LOCKS = Path(tempfile.gettempdir()) / "berth-bench-network-slots"


def _network_slot() -> tuple[int, int]:
    """A free bench network slot and the fd holding its lock."""
    BENCH_SLOT_LOCKS.mkdir(exist_ok=True)
    for slot in range(len(BENCH_SUBNETS)):
        fd = os.open(BENCH_SLOT_LOCKS / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return slot, fd
    raise SetupError(f"all {len(BENCH_SUBNETS)} bench network slots are in use")


@contextlib.contextmanager
def _images_100(engine: str, argv0: str) -> Iterator[Prepared]:
    with tempfile.TemporaryDirectory(prefix="berth-bench-images.") as work:
        archive = Path(work) / "images.tar"
        tags = many_images_archive(archive, IMAGES_COUNT)
        note = f"{IMAGES_COUNT} images loaded first"
        if engine == "berth":
            with bench_daemon() as host:
                env = {"BERTH_HOST": host}
                _run([argv0, "load", "-i", str(archive)], env, "berth load of the 100 images")
                yield Prepared(env=env, note=note + " into a bench berthd")
            return
        _run([argv0, "load", "-i", str(archive)], None, f"{engine} load of the 100 images")
        try:
            yield Prepared(note=note + f" into {engine}'s store")
        finally:
            _run([argv0, "rmi", *tags], None, f"{engine} rmi of the 100 images")


@contextlib.contextmanager
def _load_100mb(engine: str, argv0: str) -> Iterator[Prepared]:
    with tempfile.TemporaryDirectory(prefix="berth-bench-load.") as work:
        archive = Path(work) / "load.tar"
        big_archive(archive, 100)
        values = {"{archive}": str(archive)}
        note = f"a {archive_size_mb(archive):.0f} MB three-layer archive"
        if engine == "berth":
            with bench_daemon() as host:
                yield Prepared(env={"BERTH_HOST": host}, values=values, note=note)
            return
        yield Prepared(values=values, note=note)


EXEC_TARGET = "berth-bench-exec"


def _has_image(argv0: str, env: dict[str, str] | None = None) -> bool:
    import os

    done = subprocess.run(
        [argv0, "image", "inspect", BUSYBOX_IMAGE],
        env={**os.environ, **(env or {})},
        capture_output=True,
        timeout=SETUP_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode == 0


@contextlib.contextmanager
def _busybox(engine: str, argv0: str) -> Iterator[Prepared]:
    if not BUSYBOX.is_file():
        raise SetupError(f"{BUSYBOX} is missing (install Debian's busybox-static)")
    with tempfile.TemporaryDirectory(prefix="berth-bench-busybox.") as work:
        rootfs = busybox_rootfs(Path(work) / "rootfs.tar")
        command = [argv0, "import", "-c", 'CMD ["sh"]', str(rootfs), BUSYBOX_IMAGE]
        if engine == "berth":
            with bench_daemon() as host:
                env = {"BERTH_HOST": host}
                _run(command, env, "berth import of busybox")
                yield Prepared(env=env, note="busybox imported into a bench berthd")
            return
        if _has_image(argv0):
            yield Prepared(note=f"{engine}'s own {BUSYBOX_IMAGE}")
            return
        _run(command, None, f"{engine} import of busybox")
        try:
            yield Prepared(note=f"busybox imported into {engine}'s store")
        finally:
            _run([argv0, "rmi", BUSYBOX_IMAGE], None, f"{engine} rmi of busybox")


@contextlib.contextmanager
def _busybox_exec(engine: str, argv0: str) -> Iterator[Prepared]:
    with _busybox(engine, argv0) as prepared:
        run = [argv0, "run", "-d", "--name", EXEC_TARGET, "--network", "none", BUSYBOX_IMAGE]
        _run([*run, "sleep", "86400"], prepared.env, f"{engine} run of {EXEC_TARGET}")
        try:
            yield Prepared(
                env=prepared.env,
                values=prepared.values,
                note=f"{prepared.note}; {EXEC_TARGET} running",
            )
        finally:
            _run([argv0, "rm", "-f", EXEC_TARGET], prepared.env, f"{engine} rm of {EXEC_TARGET}")


BUILD_TAG = "berth-bench/build:latest"
#: The 4-step Dockerfile of the build workloads; the last COPY copies `b.txt`.
BUILD_DOCKERFILE = (
    "FROM busybox\nRUN echo built > /built.txt\nCOPY a.txt /app/a.txt\nCOPY b.txt /app/b.txt\n"
)


@contextlib.contextmanager
def _build_context(engine: str, argv0: str) -> Iterator[Prepared]:
    """`busybox` plus a build context (`{context}`, its last copied file `{last_file}`).
    An engine named berth-… is berth driven by another client (the docker CLI): it gets the
    bench berthd as DOCKER_HOST. Builds use the classic builder (DOCKER_BUILDKIT=0)."""
    import os

    berth = engine.startswith("berth")
    importer = argv0
    if berth:
        importer = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "berth")
    with (
        _busybox("berth" if berth else engine, importer) as prepared,
        tempfile.TemporaryDirectory(prefix="berth-bench-build.") as work,
    ):
        context = Path(work)
        (context / "Dockerfile").write_text(BUILD_DOCKERFILE)
        (context / "a.txt").write_text("a\n" * 1000)
        (context / "b.txt").write_text(os.urandom(8).hex())
        env = {**prepared.env, "DOCKER_BUILDKIT": "0"}
        if berth:
            env["DOCKER_HOST"] = env["BERTH_HOST"]
        values = {"{context}": str(context), "{last_file}": str(context / "b.txt")}
        try:
            yield Prepared(env=env, values=values, note=f"{prepared.note}; a 4-step context")
        finally:
            if not berth:
                with contextlib.suppress(SetupError):
                    _run([argv0, "rmi", BUILD_TAG], None, f"{engine} rmi of the built image")


CP_TARGET = "berth-bench-cp"
COMMIT_TARGET = "berth-bench-commit"
COMMIT_TAG = "berth-bench/commit:latest"
#: The cp tree: 10 directories of 100 files of 100 KiB (100 MiB), incompressible content.
CP_DIRS, CP_FILES, CP_FILE_SIZE = 10, 100, 100 * 1024
#: Preparations that reference commands (`tar`, no engine) need as well.
FOR_REFERENCES = frozenset({"cp-tree"})


@contextlib.contextmanager
def _running(engine: str, argv0: str, name: str, script: str) -> Iterator[Prepared]:
    """`busybox` plus a running container `name` that ran `script` (then sleeps); removed at
    the end. berth-… engines (the docker CLI against berthd) get the bench berthd too."""
    berth = engine.startswith("berth")
    client = argv0
    if berth:
        client = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "berth")
    with _busybox("berth" if berth else engine, client) as prepared:
        env = dict(prepared.env)
        if berth:
            env["DOCKER_HOST"] = env["BERTH_HOST"]
        run = [client, "run", "-d", "--name", name, "--network", "none", BUSYBOX_IMAGE]
        _run([*run, "sleep", "86400"], env, f"{engine} run of {name}")
        try:
            _run([client, "exec", name, "sh", "-c", script], env, f"{engine} exec in {name}")
            yield Prepared(env=env, values=prepared.values, note=f"{prepared.note}; {name} running")
        finally:
            _run([client, "rm", "-f", name], env, f"{engine} rm of {name}")


def write_tree(
    top: Path, dirs: int = CP_DIRS, files: int = CP_FILES, size: int = CP_FILE_SIZE
) -> int:
    """A tree of `dirs` x `files` files of `size` bytes; returns its total size."""
    import os

    block = os.urandom(size + dirs * files)
    total = 0
    for d in range(dirs):
        sub = top / f"dir{d:02d}"
        sub.mkdir(parents=True)
        for f in range(files):
            offset = d * files + f
            (sub / f"file{f:03d}.bin").write_bytes(block[offset : offset + size])
            total += size
    return total


@contextlib.contextmanager
def _cp_tree(engine: str, argv0: str) -> Iterator[Prepared]:
    """A 100 MiB tree (`{tree}`, in `{tree_parent}`), an empty `{tar_dst}` for the `tar c |
    tar x` reference, and for engines a running container `berth-bench-cp` to copy into."""
    with tempfile.TemporaryDirectory(prefix="berth-bench-cp.") as work:
        tree = Path(work) / "tree"
        size = write_tree(tree)
        (Path(work) / "dst").mkdir()
        values = {"{tree}": str(tree), "{tree_parent}": work, "{tar_dst}": str(Path(work) / "dst")}
        note = f"a {size / 2**20:.0f} MiB tree of {CP_DIRS * CP_FILES} files"
        if engine not in ("berth", "docker", "podman") and not engine.startswith("berth-"):
            yield Prepared(values=values, note=note)
            return
        with _running(engine, argv0, CP_TARGET, "true") as prepared:
            yield Prepared(
                env=prepared.env,
                values={**prepared.values, **values},
                note=f"{prepared.note}; {note}",
            )


@contextlib.contextmanager
def _commit_1000(engine: str, argv0: str) -> Iterator[Prepared]:
    """A running container `berth-bench-commit` that wrote 1,000 files (each run commits it
    to `berth-bench/commit:latest`, removed after each run by the workload)."""
    script = (
        "mkdir -p /data && i=0 && while [ $i -lt 1000 ]; do echo $i > /data/f$i; i=$((i+1)); done"
    )
    with _running(engine, argv0, COMMIT_TARGET, script) as prepared:
        yield Prepared(
            env=prepared.env, values=prepared.values, note=f"{prepared.note}, 1,000 files"
        )


PREPARATIONS = {
    "commit-1000": _commit_1000,
    "cp-tree": _cp_tree,
    "build-context": _build_context,
    "images-100": _images_100,
    "load-100mb": _load_100mb,
    "busybox": _busybox,
    "busybox-exec": _busybox_exec,
}


@contextlib.contextmanager
def prepare(name: str, engine: str, argv0: str) -> Iterator[Prepared]:
    """The preparation `name` for `engine` (whose command is `argv0`); none when name is ""."""
    if not name:
        yield Prepared()
        return
    if name not in PREPARATIONS:
        raise SetupError(f"unknown setup {name!r}; known: {', '.join(PREPARATIONS)}")
    reference = engine not in ("berth", "docker", "podman") and not engine.startswith("berth-")
    if reference and name not in FOR_REFERENCES:
        yield Prepared()  # a reference command (python -c pass) needs nothing
        return
    with PREPARATIONS[name](engine, argv0) as prepared:
        yield prepared
