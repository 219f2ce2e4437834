"""The monitor's command line, parsed by the monitor and written by :mod:`berth.monitor.client`.

``--id ID --state-dir DIR --bundle DIR --launcher MODULE`` are required; the rest::

    --path DIR           an import directory the launcher module needs (repeatable)
    --log-path FILE      the json-file log (no log without it)
    --log-max-size N     rotate the log at N bytes (-1: never)
    --log-max-file N     keep N log files in all
    --tty                the container's init gets a terminal
    --stdin              the container's stdin is open (attach can write to it)
    --stdin-once         close the container's stdin when the first attached client ends it
    --ready-fd N         write the readiness line here, then close it
    --grace SECONDS      how long to wait for output after the init exited (default 2)
"""

from __future__ import annotations

_VALUES = {
    "--id": "container_id",
    "--state-dir": "state_dir",
    "--bundle": "bundle",
    "--launcher": "launcher",
    "--log-path": "log_path",
}
_INTS = {
    "--log-max-size": "log_max_size",
    "--log-max-file": "log_max_file",
    "--ready-fd": "ready_fd",
}
_FLAGS = {"--tty": "tty", "--stdin": "open_stdin", "--stdin-once": "stdin_once"}
_REQUIRED = ("--id", "--state-dir", "--bundle", "--launcher")


class Options:
    """What one monitor is for (plain class: ``dataclasses`` costs the monitor 3 MiB)."""

    def __init__(
        self,
        container_id: str,
        state_dir: str,
        bundle: str,
        launcher: str,
        *,
        paths: list[str] | None = None,
        log_path: str = "",
        log_max_size: int = -1,
        log_max_file: int = 1,
        tty: bool = False,
        open_stdin: bool = False,
        stdin_once: bool = False,
        ready_fd: int = -1,
        grace: float = 2.0,
    ) -> None:
        self.container_id = container_id
        self.state_dir = state_dir
        self.bundle = bundle
        self.launcher = launcher
        self.paths = list(paths or [])
        self.log_path = log_path
        self.log_max_size = log_max_size
        self.log_max_file = log_max_file
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.ready_fd = ready_fd
        self.grace = grace

    def to_argv(self) -> list[str]:
        argv: list[str] = []
        for flag, attr in _VALUES.items():
            value = getattr(self, attr)
            if value:
                argv += [flag, value]
        for flag, attr in _INTS.items():
            argv += [flag, str(getattr(self, attr))]
        for flag, attr in _FLAGS.items():
            if getattr(self, attr):
                argv.append(flag)
        for path in self.paths:
            argv += ["--path", path]
        argv += ["--grace", repr(self.grace)]
        return argv


def parse(argv: list[str]) -> Options:
    """Options from ``argv`` (without the program name); ValueError says what is wrong."""
    values: dict[str, str] = {}
    ints: dict[str, int] = {}
    flags: dict[str, bool] = {}
    paths: list[str] = []
    grace = 2.0
    args = iter(argv)
    for arg in args:
        if arg in _FLAGS:
            flags[_FLAGS[arg]] = True
            continue
        if arg not in _VALUES and arg not in _INTS and arg not in ("--path", "--grace"):
            raise ValueError(f"unknown argument {arg!r}")
        value = next(args, None)
        if value is None:
            raise ValueError(f"{arg} needs a value")
        if arg == "--path":
            paths.append(value)
        elif arg == "--grace":
            grace = float(value)
        elif arg in _INTS:
            try:
                ints[_INTS[arg]] = int(value)
            except ValueError:
                raise ValueError(f"{arg} needs a number, not {value!r}") from None
        else:
            values[_VALUES[arg]] = value
    missing = [flag for flag in _REQUIRED if _VALUES[flag] not in values]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return Options(
        values["container_id"],
        values["state_dir"],
        values["bundle"],
        values["launcher"],
        paths=paths,
        log_path=values.get("log_path", ""),
        log_max_size=ints.get("log_max_size", -1),
        log_max_file=ints.get("log_max_file", 1),
        tty=flags.get("tty", False),
        open_stdin=flags.get("open_stdin", False),
        stdin_once=flags.get("stdin_once", False),
        ready_fd=ints.get("ready_fd", -1),
        grace=grace,
    )
