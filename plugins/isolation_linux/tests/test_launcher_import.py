"""The launcher is imported into every container's monitor: it must stay small."""

from __future__ import annotations

import json
import subprocess
import sys

from berth.testing.launcher_harness import import_paths

#: Standard modules that cost the monitor milliseconds or megabytes; the launcher uses the C
#: modules behind them (_json, _signal, _socket, _thread) or does without.
AVOIDED = (
    "json",
    "re",
    "enum",
    "typing",
    "dataclasses",
    "inspect",
    "contextlib",
    "collections",
    "functools",
    "socket",
    "threading",
    "signal",
    "datetime",
    "platform",
    "subprocess",
)


def test_the_launcher_imports_only_light_modules() -> None:
    code = (
        "import sys\n"
        f"sys.path[:0] = {import_paths('berth_isolation_linux.launcher')!r}\n"
        "before = set(sys.modules)\n"
        "import berth_isolation_linux.launcher\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.replace("'", '"'))
    heavy = sorted(m for m in loaded if m.split(".")[0] in AVOIDED)
    assert not heavy, f"the launcher imports {heavy}"
