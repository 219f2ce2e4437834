"""What the client says about itself (`berth --version`, the Client sections)."""

from __future__ import annotations

import os
import sys
from typing import Any

from berth import __version__

VERSION = __version__
GIT_COMMIT = "unknown"
API_VERSION = "1.44"  # the same as berth.client.api.API_VERSION, without importing http.client

# os.uname().machine -> GOARCH, the names docker prints
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}


def version_line() -> str:
    return f"Berth version {VERSION}, build {GIT_COMMIT}"


def python_version() -> str:
    return ".".join(str(n) for n in sys.version_info[:3])


def os_arch() -> tuple[str, str]:
    uname = os.uname()
    return uname.sysname.lower(), _ARCH.get(uname.machine, uname.machine)


def client_info() -> dict[str, Any]:
    """The `Client` object of `berth version --format`."""
    system, arch = os_arch()
    return {
        "Platform": {"Name": ""},
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "DefaultAPIVersion": API_VERSION,
        "PythonVersion": python_version(),
        "GitCommit": GIT_COMMIT,
        "Os": system,
        "Arch": arch,
    }
