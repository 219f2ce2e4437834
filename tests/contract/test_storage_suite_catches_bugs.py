"""The storage conformance suite fails drivers that break the contract.

Each broken driver below is the vfs driver with one bug put in; the suite runs against it in a
separate pytest, and the checks that must catch the bug have to fail there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

BROKEN_DRIVERS = textwrap.dedent(
    '''
    import os
    import shutil

    import pytest
    from berth.testing.conformance import StorageDriverSuite
    from berth_storage_vfs.driver import VfsDriver


    def special_files(directory, names):
        # shutil would open a fifo and wait for a writer forever
        return [n for n in names if os.path.exists(os.path.join(directory, n))
                and not os.path.isfile(os.path.join(directory, n))
                and not os.path.isdir(os.path.join(directory, n))]


    class ShutilCopy(VfsDriver):
        """Copies a parent with shutil: hard links split, owners, fifos and devices lost."""

        def _copy(self, source, target, layer_id, parent):
            shutil.copytree(source, target, symlinks=True, ignore=special_files)


    class SharedChild(VfsDriver):
        """A child is its parent's directory: what it changes, the parent sees."""

        def _copy(self, source, target, layer_id, parent):
            os.symlink(source, target)


    class NeverRemoves(VfsDriver):
        def remove(self, layer_id):
            pass


    class TrustsIds(VfsDriver):
        """Says nothing about a malformed layer ID (and, safely for this test, makes nothing)."""

        def _create(self, layer_id, parent, opts, writable):
            if "/" in layer_id or layer_id in ("", ".", ".."):
                return
            super()._create(layer_id, parent, opts, writable)


    class Amnesiac(VfsDriver):
        """Starts from an empty directory every time (state lost at a restart)."""

        def __init__(self, home, **kw):
            shutil.rmtree(home, ignore_errors=True)
            super().__init__(home, **kw)


    def suite_for(driver_class):
        class Suite(StorageDriverSuite):
            name = "vfs"
            distribution = "berth-storage-vfs"
            chain_depth = 5

            @pytest.fixture
            def driver_factory(self, context):
                def make():
                    return driver_class(context.data_dir)

                return make

        Suite.__name__ = Suite.__qualname__ = "Test" + driver_class.__name__
        return Suite


    TestShutilCopy = suite_for(ShutilCopy)
    TestSharedChild = suite_for(SharedChild)
    TestNeverRemoves = suite_for(NeverRemoves)
    TestTrustsIds = suite_for(TrustsIds)
    TestAmnesiac = suite_for(Amnesiac)
    '''
)

#: For each broken driver, checks of the suite that must fail on it.
MUST_FAIL: dict[str, set[str]] = {
    "TestShutilCopy": {"test_modes_times_xattrs_and_links_are_kept"},
    "TestSharedChild": {
        "test_child_sees_parent_and_its_own_changes",
        "test_two_writable_layers_on_one_parent_are_apart",
    },
    "TestNeverRemoves": {
        "test_remove_deletes_a_layer_and_keeps_its_parent",
        "test_removing_a_missing_layer_is_fine",
    },
    "TestTrustsIds": {"test_malformed_layer_ids_are_refused"},
    "TestAmnesiac": {"test_layers_survive_a_restart"},
}
if os.geteuid() == 0:
    MUST_FAIL["TestShutilCopy"] |= {"test_owners_are_kept", "test_device_nodes_are_kept"}
#: Checks every broken driver still passes: the bug is the only thing wrong with it.
MUST_PASS = {"test_base_layer_is_empty_and_exists", "test_apply_diff_fills_a_base_layer"}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Class name → test name → "passed", "failed" or "skipped", from one pytest run over
    the broken drivers (a parametrized test counts as failed if any case failed)."""
    workdir = tmp_path_factory.mktemp("broken-drivers")
    (workdir / "test_broken_drivers.py").write_text(BROKEN_DRIVERS)
    report = workdir / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--import-mode=importlib",
            f"--rootdir={workdir}",
            f"--junitxml={report}",
            "-o",
            "addopts=",
            str(workdir / "test_broken_drivers.py"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
    )
    assert report.is_file(), f"the suite did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    found: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        name = case.get("name", "").split("[", 1)[0]
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        results = found.setdefault(cls, {})
        if results.get(name) != "failed":
            results[name] = outcome
    return found


@pytest.mark.parametrize("broken", sorted(MUST_FAIL))
def test_the_suite_catches(broken: str, outcomes: dict[str, dict[str, str]]) -> None:
    results = outcomes.get(broken, {})
    broken_anyway = {name: results.get(name, "missing") for name in MUST_PASS}
    assert set(broken_anyway.values()) == {"passed"}, (
        f"{broken} fails basic checks too, so the run tells nothing: {broken_anyway}"
    )
    missed = {name for name in MUST_FAIL[broken] if results.get(name) != "failed"}
    assert not missed, f"the suite let {broken} pass {sorted(missed)}"


def test_the_names_above_are_checks_of_the_suite() -> None:
    from berth.testing.conformance import StorageDriverSuite

    for name in set().union(MUST_PASS, *MUST_FAIL.values()):
        assert callable(getattr(StorageDriverSuite, name, None)), name
