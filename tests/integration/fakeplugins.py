"""Fake plugin distributions for plugin-host tests: broken, duplicate, marker-writing, working."""

from __future__ import annotations

from pathlib import Path

from berth.testing.fake_dist import make_fake_distribution

BROKEN = """
raise RuntimeError("this plugin is broken on purpose")
"""

# Writes a marker when imported, so a test can prove a disabled plugin was never imported.
MARKER = """
import os
from pathlib import Path
from berth.plugins import NetworkDriverSpec, ProbeResult, hookimpl

Path(os.environ["BERTH_TEST_MARKER"]).write_text("imported")

@hookimpl
def berth_network_drivers():
    return [NetworkDriverSpec(name="marker", factory=lambda ctx: None,
                              probe=lambda ctx: ProbeResult.unsupported("only a marker"))]
"""

# A storage driver that works (a directory per layer) so selection and build can be seen.
WORKING_STORAGE = """
import shutil
from pathlib import Path
from berth.plugins import StorageDriver, StorageDriverSpec, ProbeResult, hookimpl

class DirDriver(StorageDriver):
    def __init__(self, ctx):
        self.root = ctx.data_dir
    def _p(self, i): return self.root / i
    def create(self, layer_id, parent, opts=None):
        if parent: shutil.copytree(self._p(parent), self._p(layer_id), symlinks=True)
        else: self._p(layer_id).mkdir(parents=True)
    create_rw = create
    def remove(self, layer_id): shutil.rmtree(self._p(layer_id), ignore_errors=True)
    def mount(self, layer_id, mount_label=""): return self._p(layer_id)
    def unmount(self, layer_id): pass
    def exists(self, layer_id): return self._p(layer_id).is_dir()
    def diff(self, layer_id, parent): raise NotImplementedError
    def changes(self, layer_id, parent): return []
    def apply_diff(self, layer_id, parent, diff): return 0
    def diff_size(self, layer_id, parent): return 0
    def status(self):
        return [("Backing Filesystem", "test"), ("Layers", str(len(list(self.root.iterdir()))))]
    def cleanup(self): (self.root / "cleaned-up").write_text("yes")

@hookimpl
def berth_storage_drivers():
    return [StorageDriverSpec(name="dirs", factory=DirDriver, probe=lambda ctx: ProbeResult.ok())]
"""

UNSUPPORTED_STORAGE = """
from berth.plugins import StorageDriverSpec, ProbeResult, hookimpl

@hookimpl
def berth_storage_drivers():
    return [StorageDriverSpec(name="picky", factory=lambda ctx: None,
                              probe=lambda ctx: ProbeResult.unsupported(NEED))]

NEED = "needs a frobnicator device"
"""

WRONG_NAME = """
from berth.plugins import VolumeDriverSpec, ProbeResult, hookimpl

@hookimpl
def berth_volume_drivers():
    return [VolumeDriverSpec(name="something-else", factory=lambda ctx: None,
                             probe=lambda ctx: ProbeResult.ok())]
"""


# An extension that records the daemon lifecycle hooks in files.
LIFECYCLE = """
import os
from pathlib import Path
from berth.plugins import hookimpl

def _note(line):
    with open(Path(os.environ["BERTH_TEST_MARKER"]).with_name("lifecycle"), "a") as f:
        f.write(line + "\\n")

@hookimpl
def berth_daemon_started(info):
    _note("started " + info["Driver"])

@hookimpl
def berth_daemon_stopping():
    _note("stopping")
"""


def install_fakes(root: Path) -> Path:
    """Write every fake distribution under ``root``; put ``root`` on PYTHONPATH to install."""
    fakes = {
        "fake-broken": (
            {"berth.network.v1": {"broken": "fake_broken.plugin"}},
            {"fake_broken.plugin": BROKEN},
        ),
        "fake-dup-vfs": (
            {"berth.storage.v1": {"vfs": "fake_dup_vfs.plugin"}},
            {"fake_dup_vfs.plugin": UNSUPPORTED_STORAGE},
        ),
        "fake-marker": (
            {"berth.network.v1": {"marker": "fake_marker.plugin"}},
            {"fake_marker.plugin": MARKER},
        ),
        "fake-dirs": (
            {"berth.storage.v1": {"dirs": "fake_dirs.plugin"}},
            {"fake_dirs.plugin": WORKING_STORAGE},
        ),
        "fake-picky": (
            {"berth.storage.v1": {"picky": "fake_picky.plugin"}},
            {"fake_picky.plugin": UNSUPPORTED_STORAGE},
        ),
        "fake-lifecycle": (
            {"berth.extensions.v1": {"lifecycle": "fake_lifecycle.plugin"}},
            {"fake_lifecycle.plugin": LIFECYCLE},
        ),
        "fake-wrong-name": (
            {"berth.volume.v1": {"wrongname": "fake_wrong_name.plugin"}},
            {"fake_wrong_name.plugin": WRONG_NAME},
        ),
    }
    for dist, (entry_points, modules) in fakes.items():
        make_fake_distribution(root, dist, "1.2.3", entry_points, modules)
    return root
