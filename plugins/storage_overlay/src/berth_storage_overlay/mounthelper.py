"""Mount one overlay with ``mount(2)``, paths relative to the working directory.

The overlay driver runs this as a short-lived process (``python -I -S mounthelper.py TARGET
OPTIONS``, its working directory the driver's data directory) on kernels whose overlayfs lacks
``lowerdir+``: relative ``l/<short id>`` lower paths keep a deep image's options within the one
page ``mount(2)`` takes, and changing directory here leaves the daemon's threads alone.

It uses nothing but the standard library. On failure it prints ``<errno> <message>`` on stderr and
exits 1.
"""

from __future__ import annotations

import ctypes
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("22 usage: mounthelper.py TARGET OPTIONS\n")
        return 2
    target, options = argv[1], argv[2]
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.mount(
        b"overlay", os.fsencode(target), b"overlay", ctypes.c_ulong(0), options.encode()
    )
    if result != 0:
        err = ctypes.get_errno()
        sys.stderr.write(f"{err} {os.strerror(err)}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
