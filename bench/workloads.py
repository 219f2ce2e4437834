"""The benchmark workloads, as data: which command each engine runs for the same job.

A command is an argv list; ``{berth}`` and ``{python}`` stand for the berth client and the
Python interpreter of the repository's .venv (so that both start from the same installation),
``{concurrently}`` for bench/concurrently.py.
An engine other than berth is measured only when it is installed and its daemon answers.
A berth command whose subcommand does not exist yet is skipped with a note (``needs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Budget:
    """berth's median must be at most ``reference``'s median plus ``max_over_ms`` and, when
    ``limit_ms`` is given, at most ``limit_ms`` (an absolute budget: its reference is berth)."""

    reference: str
    max_over_ms: float
    what: str
    limit_ms: float | None = None


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    #: engine name -> argv; "berth" comes first and is the baseline of the ratios.
    commands: dict[str, tuple[str, ...]]
    #: a berth subcommand that must exist (``berth <needs> --help`` succeeds) to run this.
    needs: str = ""
    budget: Budget | None = None
    #: engines whose command needs no daemon (always measured when the binary exists).
    daemonless: frozenset[str] = field(default_factory=frozenset)
    #: a preparation in setups.py run (untimed) before an engine's runs: "" for none.
    setup: str = ""
    #: engine -> a command run (untimed) after each of its runs, e.g. removing what it loaded.
    after_each: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: how many leading words of each command are a wrapper (concurrently.py N) before the
    #: engine's own program: that one is probed and prepared.
    wrapper: int = 0


LOAD_TAG = "berth-bench/load:latest"  # the tag of archives.big_archive
RUN_TRUE = ("run", "--rm", "--network", "none", "busybox", "true")
RUN_TRUE_BRIDGE = ("run", "--rm", "busybox", "true")  # the default bridge network
CONCURRENT_RUNS = 20
EXEC_TARGET = "berth-bench-exec"  # the container setups.busybox-exec runs
BUILD = ("build", "-q", "--network", "host", "-t", "berth-bench/build", "{context}")
#: Untimed after each run: new content for the file the last COPY copies.
TOUCH_LAST_FILE = (
    "{python}",
    "-c",
    "import os, sys; open(sys.argv[1], 'w').write(os.urandom(8).hex())",
    "{last_file}",
)


def _builds(*extra: str) -> dict[str, tuple[str, ...]]:
    """berth's client, the docker CLI against berthd (the same client both sides), docker."""
    return {
        "berth": ("{berth}", *BUILD[:1], *extra, *BUILD[1:]),
        "berth-dockercli": ("docker", *BUILD[:1], *extra, *BUILD[1:]),
        "docker": ("docker", *BUILD[:1], *extra, *BUILD[1:]),
    }


CP_TARGET = "berth-bench-cp"  # the container setups.cp-tree runs
COMMIT_TARGET = "berth-bench-commit"  # the container setups.commit-1000 runs
COMMIT_TAG = "berth-bench/commit:latest"
#: The reference for cp: the same tree through `tar c | tar x` ($1: its parent, $2: where to).
TAR_PIPE = 'tar -C "$1" -cf - tree | tar -C "$2" -xf -'


def _cp_into(container: str, path: str) -> dict[str, tuple[str, ...]]:
    """`cp {tree} CONTAINER:PATH` with berth's client, the docker CLI against berthd, docker."""
    return {
        "berth": ("{berth}", "cp", "{tree}", f"{container}:{path}"),
        "berth-dockercli": ("docker", "cp", "{tree}", f"{container}:{path}"),
        "docker": ("docker", "cp", "{tree}", f"{container}:{path}"),
    }


def _same_job(*args: str) -> dict[str, tuple[str, ...]]:
    return {
        "berth": ("{berth}", *args),
        "docker": ("docker", *args),
        "podman": ("podman", *args),
    }


def _concurrently(count: int, *args: str) -> dict[str, tuple[str, ...]]:
    """Each engine's command run `count` times at once (bench/concurrently.py)."""
    runner = ("{python}", "{concurrently}", str(count))
    return {engine: (*runner, *argv) for engine, argv in _same_job(*args).items()}


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="version",
            description="client and daemon versions: one round trip to the daemon",
            commands={**_same_job("version"), "python": ("{python}", "-c", "pass")},
            budget=Budget(
                reference="python",
                max_over_ms=60.0,
                what="`berth version` against a running daemon within 60 ms of `python -c pass`",
            ),
            daemonless=frozenset({"python"}),
        ),
        Workload(
            name="client-startup",
            description="start-up of the client alone (`berth --help`) against bare Python",
            commands={"berth": ("{berth}", "--help"), "python": ("{python}", "-c", "pass")},
            budget=Budget(
                reference="python",
                max_over_ms=60.0,
                what="the client starts within 60 ms of `python -c pass`",
            ),
            daemonless=frozenset({"berth", "python"}),
        ),
        Workload(
            name="info",
            description="daemon information",
            commands=_same_job("info"),
            needs="info",
        ),
        Workload(
            name="ps",
            description="list containers",
            commands=_same_job("ps", "-a"),
            needs="ps",
        ),
        Workload(
            name="images",
            description="list images, with 100 images present",
            commands=_same_job("images"),
            needs="images",
            setup="images-100",
            budget=Budget(
                reference="berth",
                max_over_ms=0.0,
                limit_ms=100.0,
                what="`berth images` with 100 images under 100 ms",
            ),
        ),
        Workload(
            name="load",
            description="load a ~100 MB three-layer docker-archive (the image removed after "
            "each run, untimed)",
            commands=_same_job("load", "-q", "-i", "{archive}"),
            needs="load",
            setup="load-100mb",
            after_each={
                "berth": ("{berth}", "rmi", LOAD_TAG),
                "docker": ("docker", "rmi", LOAD_TAG),
                "podman": ("podman", "rmi", LOAD_TAG),
            },
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth load` of a 100 MB three-layer archive no slower than `docker load`",
            ),
        ),
        Workload(
            name="run-true",
            description="run and remove a container: `run --rm --network none busybox true`",
            commands=_same_job(*RUN_TRUE),
            needs="run",
            setup="busybox",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth run --rm --network none busybox true` no slower than docker's "
                "(the issue asks for at most half of it: see the ratio)",
            ),
        ),
        Workload(
            name="run-true-x20",
            description="20 of run-true at once: the total wall time",
            commands=_concurrently(CONCURRENT_RUNS, *RUN_TRUE),
            wrapper=3,
            needs="run",
            setup="busybox",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="20 concurrent runs no slower than docker's (the issue asks for half)",
            ),
        ),
        Workload(
            name="run-true-bridge",
            description="run and remove a container on the default bridge: "
            "`run --rm busybox true` (namespace, veth pair, address, route)",
            commands=_same_job(*RUN_TRUE_BRIDGE),
            needs="run",
            setup="busybox",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth run --rm busybox true` on the bridge no slower than docker's "
                "(the issue asks for at most half of it and no more than podman's: see ratios)",
            ),
        ),
        Workload(
            name="run-true-bridge-x20",
            description="20 of run-true-bridge at once: the total wall time",
            commands=_concurrently(CONCURRENT_RUNS, *RUN_TRUE_BRIDGE),
            wrapper=3,
            needs="run",
            setup="busybox",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="20 concurrent runs on the bridge no slower than docker's (the issue "
                "asks for half)",
            ),
        ),
        Workload(
            name="build-rebuild",
            description="rebuild a 4-step Dockerfile after changing the file its last COPY "
            "copies (classic builder; the change is made, untimed, after each run)",
            commands=_builds(),
            needs="build",
            setup="build-context",
            after_each={engine: TOUCH_LAST_FILE for engine in _builds()},
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="a rebuild after changing the last COPY'd file no slower than docker's "
                "classic builder (the issue asks for half of it: see the ratio)",
            ),
        ),
        Workload(
            name="build-cached",
            description="rebuild the same 4-step Dockerfile with every step cached",
            commands=_builds(),
            needs="build",
            setup="build-context",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="a fully cached rebuild no slower than docker's classic builder "
                "(the issue asks for half of it: see the ratio)",
            ),
        ),
        Workload(
            name="build-cold",
            description="build the 4-step Dockerfile with --no-cache (the base image present)",
            commands=_builds("--no-cache"),
            needs="build",
            setup="build-context",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="a cold build no slower than docker's classic builder",
            ),
        ),
        Workload(
            name="exec-true",
            description=f"`exec {EXEC_TARGET} true` in a running busybox container",
            commands=_same_job("exec", EXEC_TARGET, "true"),
            needs="exec",
            setup="busybox-exec",
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth exec C true` no slower than `docker exec` (the issue asks for half)",
            ),
        ),
        Workload(
            name="cp-100mb",
            description=f"cp a 100 MiB directory into a running container ({CP_TARGET}:/tmp/dst, "
            "removed untimed after each run), against `tar c | tar x` of the same tree",
            commands={
                **_cp_into(CP_TARGET, "/tmp/dst"),
                "tar": ("sh", "-c", TAR_PIPE, "sh", "{tree_parent}", "{tar_dst}"),
            },
            needs="cp",
            setup="cp-tree",
            daemonless=frozenset({"tar"}),
            after_each={
                "berth": ("{berth}", "exec", CP_TARGET, "rm", "-rf", "/tmp/dst"),
                "berth-dockercli": ("docker", "exec", CP_TARGET, "rm", "-rf", "/tmp/dst"),
                "docker": ("docker", "exec", CP_TARGET, "rm", "-rf", "/tmp/dst"),
                "tar": ("rm", "-rf", "{tar_dst}/tree"),
            },
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth cp` of 100 MiB into a running container no slower than `docker cp` "
                "(and within 1.5x of `tar c | tar x`: see the tar row's ratio)",
            ),
        ),
        Workload(
            name="commit-1000",
            description=f"commit a running container that wrote 1,000 files ({COMMIT_TARGET}; "
            "the image removed untimed after each run)",
            commands={
                "berth": ("{berth}", "commit", COMMIT_TARGET, COMMIT_TAG),
                "berth-dockercli": ("docker", "commit", COMMIT_TARGET, COMMIT_TAG),
                "docker": ("docker", "commit", COMMIT_TARGET, COMMIT_TAG),
            },
            needs="commit",
            setup="commit-1000",
            after_each={
                "berth": ("{berth}", "rmi", COMMIT_TAG),
                "berth-dockercli": ("docker", "rmi", COMMIT_TAG),
                "docker": ("docker", "rmi", COMMIT_TAG),
            },
            budget=Budget(
                reference="docker",
                max_over_ms=0.0,
                what="`berth commit` of a container that changed 1,000 files no slower than "
                "`docker commit`",
            ),
        ),
    )
}
