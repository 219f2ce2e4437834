"""install.sh's seed image step (`seed_image`, `seed_rootfs_tar`), run as install.sh runs it
but against a test berthd: it makes busybox:latest from the host's static busybox, once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import berth_ok, needs_busybox
from tests.integration.daemon import Daemon

pytestmark = needs_busybox

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install.sh"


def shell_function(name: str) -> str:
    """The text of a top-level bash function of install.sh (up to its closing brace)."""
    match = re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", INSTALL.read_text(), re.M | re.S)
    assert match is not None, f"install.sh has no function {name}"
    return match.group(0)


def run_seed(
    daemon: Daemon, tmp: Path, busybox: str = "/bin/busybox"
) -> subprocess.CompletedProcess[str]:
    script = "\n".join(
        [
            "set -euo pipefail",
            "note() { printf '    %s\\n' \"$*\"; }",
            "die() { printf 'install.sh: %s\\n' \"$*\" >&2; exit 1; }",
            "SEED_IMAGE=busybox:latest",
            f"SEED_BUSYBOX={busybox}",
            f"LOG_DIR={tmp}",
            shell_function("seed_rootfs_tar"),
            shell_function("seed_image"),
            "seed_image",
        ]
    )
    env = {
        **daemon.env,
        "BERTH_HOST": daemon.host,
        "PATH": f"{Path(sys.executable).parent}:{daemon.env.get('PATH', '/usr/bin:/bin')}",
        "TMPDIR": str(tmp),
    }
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )


def test_seed_makes_busybox_once(berthd: Daemon, tmp_path: Path) -> None:
    first = run_seed(berthd, tmp_path)
    assert first.returncode == 0, first.stderr
    image_id = re.search(r"made busybox:latest: (sha256:[0-9a-f]{64})", first.stdout)
    assert image_id is not None, first.stdout
    (image,) = json.loads(berth_ok(berthd, "image", "inspect", "busybox:latest"))
    assert image["Id"] == image_id.group(1)
    assert image["Config"]["Cmd"] == ["sh"]
    assert "from /bin/busybox" in image["Comment"]
    assert list(tmp_path.iterdir()) == []  # its work directory is gone

    again = run_seed(berthd, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"busybox:latest exists ({image_id.group(1)[7:19]}): kept" in again.stdout
    listed = berth_ok(berthd, "images", "-q", "--no-trunc", "busybox")
    assert listed == image_id.group(1) + "\n"


def test_seed_rootfs_has_busybox_and_its_applets(berthd: Daemon, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    script = "\n".join(
        [
            "set -euo pipefail",
            "SEED_BUSYBOX=/bin/busybox",
            shell_function("seed_rootfs_tar"),
            f"seed_rootfs_tar {tmp_path / 'work'}",
        ]
    )
    subprocess.run(["bash", "-c", script], check=True, timeout=60)
    with tarfile.open(tmp_path / "work" / "rootfs.tar") as tar:
        members = {m.name: m for m in tar}
    assert members["bin/busybox"].mode & 0o111
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode & 0o7777 == 0o1777
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert "etc/passwd" in members


def test_seed_without_busybox_is_one_clear_error(berthd: Daemon, tmp_path: Path) -> None:
    done = run_seed(berthd, tmp_path, busybox=str(tmp_path / "no-busybox"))
    assert done.returncode == 1
    assert done.stderr == (
        f"install.sh: {tmp_path}/no-busybox is missing; install Debian's busybox-static\n"
    )


@pytest.mark.parametrize("line", ["berth run --rm busybox echo hello from berth"])
def test_main_job_runs_the_seed_image(line: str) -> None:
    lines = INSTALL.read_text().splitlines()
    mark = next(i for i, text in enumerate(lines) if "berth's main job:" in text)
    assert line in lines[mark + 1]
