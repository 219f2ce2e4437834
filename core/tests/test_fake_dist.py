"""Fake distributions (berth.testing.fake_dist), and the conformance suite run over them.

Whatever imports a fake distribution runs in a subprocess with ``PYTHONPATH``, so this test
process never sees the fake modules.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import pytest
from berth.testing.conformance import DriverRegistrationSuite, ExtensionSuite
from berth.testing.fake_dist import dist_info_name, make_fake_distribution
from berth.testing.fixtures import (
    FakeSite,
    PluginContextFactory,
    fake_distribution,
    plugin_context,
)
from berth.testing.logger import RecordingLogger

__all__ = ["fake_distribution", "plugin_context"]  # fixtures, used below

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_GUIDE = ROOT / "docs" / "plugins" / "README.md"


def run_python(code: str, site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


# --- the distribution itself -------------------------------------------------------------


def test_entry_points_and_modules_are_visible_with_the_root_on_the_path(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist_info = make_fake_distribution(
        site,
        "berth-storage-fake",
        "1.2.3",
        {"berth.storage.v1": {"fake": "berth_storage_fake.plugin"}},
        {"berth_storage_fake.plugin": "ANSWER = 42\n"},
    )
    assert dist_info == site / "berth_storage_fake-1.2.3.dist-info"
    done = run_python(
        """
        import importlib, importlib.metadata as md, json
        [ep] = [e for e in md.entry_points(group="berth.storage.v1") if e.name == "fake"]
        module = ep.load()
        print(json.dumps([ep.value, ep.dist.name, ep.dist.version, module.ANSWER,
                          md.version("berth-storage-fake")]))
        """,
        site,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "berth_storage_fake.plugin",
        "berth-storage-fake",
        "1.2.3",
        42,
        "1.2.3",
    ]


def test_stevedore_sees_the_entry_points(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("one", "two"):
        make_fake_distribution(
            site,
            f"berth-volume-{name}",
            "0.1",
            {"berth.volume.v1": {name: f"berth_volume_{name}"}},
            {f"berth_volume_{name}": f"NAME = {name!r}\n"},
        )
    done = run_python(
        """
        from stevedore import ExtensionManager
        manager = ExtensionManager("berth.volume.v1", invoke_on_load=False)
        print(sorted((e.name, e.plugin.NAME, e.entry_point_target) for e in manager
                     if e.name in ("one", "two")))
        """,
        site,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "[('one', 'one', 'berth_volume_one'), ('two', 'two', 'berth_volume_two')]"
    )


def test_the_test_process_is_not_polluted(tmp_path: Path) -> None:
    make_fake_distribution(
        tmp_path, "berth-fake-unseen", "1.0", {"berth.storage.v1": {"unseen": "unseen_mod"}}, {}
    )
    names = [ep.name for ep in importlib.metadata.entry_points(group="berth.storage.v1")]
    assert "unseen" not in names


def test_packages_are_made_for_dotted_modules(tmp_path: Path) -> None:
    make_fake_distribution(
        tmp_path,
        "fake-pkg",
        "1.0",
        {},
        {"fake_pkg": "TOP = 1\n", "fake_pkg.sub.leaf": "LEAF = 2\n", "fake_single": ""},
    )
    assert (tmp_path / "fake_pkg" / "__init__.py").read_text() == "TOP = 1\n"
    assert (tmp_path / "fake_pkg" / "sub" / "__init__.py").read_text() == ""
    assert (tmp_path / "fake_pkg" / "sub" / "leaf.py").read_text() == "LEAF = 2\n"
    assert (tmp_path / "fake_single.py").exists()


def test_record_lists_every_file_with_its_hash(tmp_path: Path) -> None:
    make_fake_distribution(
        tmp_path, "fake-rec", "2.0", {"g": {"n": "fake_rec.mod"}}, {"fake_rec.mod": "X = 1\n"}
    )
    done = run_python(
        """
        import hashlib, base64, importlib.metadata as md
        dist = md.distribution("fake-rec")
        for f in dist.files:
            if f.hash:
                digest = hashlib.sha256(f.read_binary()).digest()
                assert f.hash.value == base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), f
                assert f.size == len(f.read_binary()), f
        print(sorted(str(f) for f in dist.files))
        """,
        tmp_path,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    listed = done.stdout.strip()
    for path in ("fake_rec/__init__.py", "fake_rec/mod.py", "fake_rec-2.0.dist-info/METADATA"):
        assert repr(path) in listed


def test_dist_info_name_is_escaped() -> None:
    assert dist_info_name("Berth-Storage.Fake", "1.0-rc1") == "Berth_Storage_Fake-1.0_rc1.dist-info"


def test_several_distributions_may_share_a_package(tmp_path: Path) -> None:
    make_fake_distribution(tmp_path, "fake-a", "1", {}, {"shared.a": "A = 1\n"})
    make_fake_distribution(tmp_path, "fake-b", "1", {}, {"shared.b": "B = 1\n"})
    assert {p.name for p in (tmp_path / "shared").iterdir()} == {"__init__.py", "a.py", "b.py"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dist_name": "bad name"}, "not a valid distribution name"),
        ({"dist_name": "-leading"}, "not a valid distribution name"),
        ({"version": ""}, "not a valid version"),
        ({"version": "1 0"}, "not a valid version"),
        ({"entry_points": {"bad group": {"x": "m"}}}, "not a valid entry-point group"),
        ({"entry_points": {"g": {"x=y": "m"}}}, "not a valid entry-point name"),
        ({"entry_points": {"g": {"": "m"}}}, "not a valid entry-point name"),
        ({"entry_points": {"g": {"x": "not a module"}}}, "not a valid entry-point value"),
        ({"entry_points": {"g": {"x": "mod:"}}}, "not a valid entry-point value"),
        ({"modules": {"bad-module": ""}}, "not a valid dotted module name"),
        ({"modules": {"pkg..mod": ""}}, "not a valid dotted module name"),
    ],
)
def test_malformed_input_is_refused(
    tmp_path: Path, kwargs: Mapping[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "root": tmp_path / "site",
        "dist_name": "fake-ok",
        "version": "1.0",
        "entry_points": {},
        "modules": {},
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_fake_distribution(**args)  # type: ignore[arg-type]
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").iterdir())


def test_same_distribution_twice_is_refused(tmp_path: Path) -> None:
    make_fake_distribution(tmp_path, "fake-twice", "1.0", {}, {})
    with pytest.raises(FileExistsError, match="already written"):
        make_fake_distribution(tmp_path, "fake-twice", "1.0", {}, {})


def test_conflicting_module_is_refused(tmp_path: Path) -> None:
    make_fake_distribution(tmp_path, "fake-one", "1.0", {}, {"clash": "A = 1\n"})
    with pytest.raises(FileExistsError, match="other content"):
        make_fake_distribution(tmp_path, "fake-two", "1.0", {}, {"clash": "A = 2\n"})
    assert not (tmp_path / dist_info_name("fake-two", "1.0")).exists()


# --- the fake_distribution fixture -------------------------------------------------------


def test_fixture_activates_and_forgets(fake_distribution: FakeSite) -> None:
    fake_distribution(
        "berth-fake-active",
        "3.0",
        {"berth.extensions.v1": {"active": "berth_fake_active"}},
        {"berth_fake_active": "VALUE = 'on'\n"},
    )
    fake_distribution.activate()
    [ep] = [
        e
        for e in importlib.metadata.entry_points(group="berth.extensions.v1")
        if e.name == "active"
    ]
    assert ep.load().VALUE == "on"
    assert "berth_fake_active" in sys.modules
    fake_distribution.deactivate()
    assert "berth_fake_active" not in sys.modules
    assert str(fake_distribution.root) not in sys.path
    names = [e.name for e in importlib.metadata.entry_points(group="berth.extensions.v1")]
    assert "active" not in names


def test_fixture_env_puts_the_site_first(fake_distribution: FakeSite) -> None:
    env = fake_distribution.env()
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(fake_distribution.root)


def test_plugin_context_is_laid_out_like_the_daemons(
    plugin_context: PluginContextFactory, tmp_path: Path
) -> None:
    ctx = plugin_context("storage", "vfs", {"size": "1G"})
    assert ctx.data_dir == ctx.data_root / "storage" / "vfs"
    assert ctx.data_dir.is_dir() and ctx.run_dir.is_dir()
    assert ctx.run_dir.parts[-2:] == ("storage", "vfs")
    assert ctx.data_root.is_relative_to(tmp_path) and ctx.run_dir.is_relative_to(tmp_path)
    assert ctx.options == {"size": "1G"}
    bare = plugin_context("network", "bridge", create_dirs=False)
    assert not bare.data_dir.exists() and not bare.run_dir.exists()


def test_plugin_context_logger_records_bound_events(plugin_context: PluginContextFactory) -> None:
    log = plugin_context("volume", "scratch").logger
    assert isinstance(log, RecordingLogger)
    log.info("volume.created", volume="a")
    log.bind(request="r1").warning("volume.slow", seconds=2)
    assert log.events() == ["volume.created", "volume.slow"]
    assert log.events("warning") == ["volume.slow"]
    assert log.records[1] == {
        "plugin_kind": "volume",
        "plugin": "scratch",
        "request": "r1",
        "seconds": 2,
        "event": "volume.slow",
        "level": "warning",
    }


# --- the conformance suite, run over fake plugins ----------------------------------------

STORAGE_DRIVER = """
from berth.plugins import ProbeResult, StorageDriver, StorageDriverSpec, hookimpl

class Driver(StorageDriver):
    def __init__(self, ctx): self.ctx = ctx
    def create(self, layer_id, parent, opts=None): pass
    def create_rw(self, layer_id, parent, opts=None): pass
    def remove(self, layer_id): pass
    def mount(self, layer_id, mount_label=""): return self.ctx.data_dir
    def unmount(self, layer_id): pass
    def exists(self, layer_id): return False
    def diff(self, layer_id, parent): raise NotImplementedError
    def changes(self, layer_id, parent): return []
    def apply_diff(self, layer_id, parent, diff): return 0
    def diff_size(self, layer_id, parent): return 0
    def status(self): return []
    def cleanup(self): pass

def ok_probe(ctx):
    return ProbeResult.ok()
"""


def storage_plugin(spec_args: str, extra: str = "", header: str = "") -> str:
    """A storage plugin module declaring ``StorageDriverSpec(<spec_args>)``."""
    return (
        header
        + STORAGE_DRIVER
        + extra
        + "\n@hookimpl\ndef berth_storage_drivers():\n"
        + f"    return [StorageDriverSpec({spec_args})]\n"
    )


# name → (distribution, module source); each a fake storage plugin with one defect (or none).
FAKE_STORAGE: dict[str, tuple[str, str]] = {
    "good": ("fake-good", storage_plugin("name='good', factory=Driver, probe=ok_probe")),
    "misnamed": ("fake-misnamed", storage_plugin("name='other', factory=Driver, probe=ok_probe")),
    "raiser": (
        "fake-raiser",
        storage_plugin(
            "name='raiser', factory=Driver, probe=boom",
            "def boom(ctx):\n    raise RuntimeError('kaput')\n",
        ),
    ),
    "wrongtype": (
        "fake-wrongtype",
        storage_plugin("name='wrongtype', factory=lambda ctx: object(), probe=ok_probe"),
    ),
    "silent": (
        "fake-silent",
        storage_plugin(
            "name='silent', factory=Driver, probe=lambda ctx: ProbeResult.unsupported('')"
        ),
    ),
    "typo": (
        "fake-typo",
        storage_plugin(
            "name='typo', factory=Driver, probe=ok_probe",
            "@hookimpl\ndef berth_storage_driver():\n    return []\n",
        ),
    ),
    "crosskind": (
        "fake-crosskind",
        storage_plugin(
            "name='crosskind', factory=Driver, probe=ok_probe",
            "@hookimpl\ndef berth_network_drivers():\n    return ['a network driver']\n",
        ),
    ),
    "heavy": (
        "fake-heavy",
        storage_plugin("name='heavy', factory=Driver, probe=ok_probe", header="import pyroute2\n"),
    ),
    "stolen": ("fake-thief", storage_plugin("name='stolen', factory=Driver, probe=ok_probe")),
    "twice": ("fake-twice-a", storage_plugin("name='twice', factory=Driver, probe=ok_probe")),
}

SUITE_TESTS = """
from berth.testing.conformance import ExtensionSuite, StorageDriverSuite

class TestGood(StorageDriverSuite):
    name = "good"; distribution = "fake-good"
class TestMisnamed(StorageDriverSuite):
    name = "misnamed"; distribution = "fake-misnamed"
class TestRaiser(StorageDriverSuite):
    name = "raiser"; distribution = "fake-raiser"
class TestWrongtype(StorageDriverSuite):
    name = "wrongtype"; distribution = "fake-wrongtype"
class TestSilent(StorageDriverSuite):
    name = "silent"; distribution = "fake-silent"
class TestTypo(StorageDriverSuite):
    name = "typo"; distribution = "fake-typo"
class TestCrosskind(StorageDriverSuite):
    name = "crosskind"; distribution = "fake-crosskind"
class TestHeavy(StorageDriverSuite):
    name = "heavy"; distribution = "fake-heavy"
class TestStolen(StorageDriverSuite):
    name = "stolen"; distribution = "fake-owner"
class TestTwice(StorageDriverSuite):
    name = "twice"; distribution = "fake-twice-a"
class TestMissing(StorageDriverSuite):
    name = "missing"; distribution = "fake-missing"
class TestUnnamed(StorageDriverSuite):
    pass
class TestListener(ExtensionSuite):
    name = "listener"; distribution = "fake-listener"
class TestDeaf(ExtensionSuite):
    name = "deaf"; distribution = "fake-deaf"
"""


def install_fake_plugins(site: Path) -> None:
    for name, (dist, source) in FAKE_STORAGE.items():
        module = f"fake_storage_{name}"
        make_fake_distribution(
            site, dist, "0.1", {"berth.storage.v1": {name: module}}, {module: source}
        )
    make_fake_distribution(
        site, "fake-twice-b", "0.1", {"berth.storage.v1": {"twice": "fake_storage_good"}}, {}
    )
    make_fake_distribution(
        site,
        "fake-listener",
        "0.1",
        {"berth.extensions.v1": {"listener": "fake_listener"}},
        {
            "fake_listener": "from berth.plugins import hookimpl\n"
            "@hookimpl\ndef berth_container_started(container_id):\n    pass\n"
        },
    )
    make_fake_distribution(
        site,
        "fake-deaf",
        "0.1",
        {"berth.extensions.v1": {"deaf": "fake_deaf"}},
        {"fake_deaf": "'''Implements no hook.'''\n"},
    )


def run_suite(tests_dir: Path, site: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Run pytest on ``tests_dir`` in a subprocess; ``{class: {test: outcome or message}}``.

    An outcome is ``passed``, ``skipped: <why>`` or ``failed: <message>`` (a failure in a
    fixture counts as a failure of the test).
    """
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ini), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-p", "no:xdist", "-q", f"--junitxml={report}",
         str(tests_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )  # fmt: skip
    assert report.exists(), done.stdout + done.stderr
    outcomes: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        test = case.get("name", "")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = f"failed: {child.get('message', '')}"
            elif child.tag == "skipped":
                outcome = f"skipped: {child.get('message', '')}"
        outcomes.setdefault(cls, {})[test] = outcome
    return outcomes


@pytest.fixture(scope="module")
def suite_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The suites run once over every fake plugin and over the plugin guide's example."""
    tmp_path = tmp_path_factory.mktemp("suite")
    site = tmp_path / "site"
    install_fake_plugins(site)
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    (tests_dir / "test_fake_plugins.py").write_text(SUITE_TESTS)
    install_guide_example(site, tests_dir)
    return run_suite(tests_dir, site, tmp_path)


#: The registration checks; the fake drivers do nothing, so the storage suite's behaviour
#: checks (layers, diffs, mounts) fail on every one of them and are left out here.
REGISTRATION_CHECKS = {
    name
    for suite in (DriverRegistrationSuite, ExtensionSuite)
    for name in dir(suite)
    if name.startswith("test_")
}


def failures(outcomes: Mapping[str, str]) -> dict[str, str]:
    return {
        test: result
        for test, result in outcomes.items()
        if result.startswith("failed") and test.split("[", 1)[0] in REGISTRATION_CHECKS
    }


def test_a_good_plugin_passes_every_check(suite_outcomes: dict[str, dict[str, str]]) -> None:
    good = {t: r for t, r in suite_outcomes["TestGood"].items() if t in REGISTRATION_CHECKS}
    assert len(good) >= 10
    assert set(good.values()) == {"passed"}, good


@pytest.mark.parametrize(
    ("cls", "failing", "message"),
    [
        ("TestMisnamed", "test_registration_hook_returns_one_spec", "the spec is named 'other'"),
        ("TestRaiser", "test_probe_answers_within_time_limit", "probe raised RuntimeError"),
        ("TestRaiser", "test_probe_copes_with_missing_directories", "a probe never raises"),
        ("TestWrongtype", "test_factory_builds_the_contract", "not a StorageDriver"),
        ("TestSilent", "test_probe_gives_a_reason_when_unsupported", "must say why"),
        ("TestTypo", "test_hooks_match_core_hook_specs", "berth_storage_driver"),
        ("TestCrosskind", "test_declares_no_driver_of_another_kind", "declares network drivers"),
        ("TestHeavy", "test_module_imports_only_the_public_plugin_api", "loads ['pyroute2']"),
        ("TestStolen", "test_entry_point_is_registered_by_distribution", "'fake-thief'"),
        ("TestTwice", "test_entry_point_is_registered_by_distribution", "claimed by"),
        ("TestMissing", "test_entry_point_names_a_module", "no entry point 'missing'"),
        ("TestUnnamed", "test_entry_point_names_a_module", "must set the class attributes"),
        ("TestDeaf", "test_implements_at_least_one_hook", "implements at least one hook"),
    ],
)
def test_the_suite_catches_a_defect(
    suite_outcomes: dict[str, dict[str, str]], cls: str, failing: str, message: str
) -> None:
    failed = failures(suite_outcomes[cls])
    matching = {test: result for test, result in failed.items() if test.startswith(failing)}
    assert matching, f"{cls}: {failing} should fail; outcomes: {suite_outcomes[cls]}"
    assert any(message in result for result in matching.values()), matching


def test_only_the_defect_fails(suite_outcomes: dict[str, dict[str, str]]) -> None:
    assert set(failures(suite_outcomes["TestMisnamed"])) == {
        "test_registration_hook_returns_one_spec_named_after_entry_point"
    }
    assert set(failures(suite_outcomes["TestSilent"])) == {
        "test_probe_gives_a_reason_when_unsupported"
    }
    assert set(failures(suite_outcomes["TestHeavy"])) == {
        "test_module_imports_only_the_public_plugin_api"
    }


def test_an_unsupported_driver_skips_the_factory_check(
    suite_outcomes: dict[str, dict[str, str]],
) -> None:
    outcome = suite_outcomes["TestSilent"]["test_factory_builds_the_contract_when_supported"]
    assert outcome.startswith("skipped")


def test_a_good_extension_passes(suite_outcomes: dict[str, dict[str, str]]) -> None:
    listener = suite_outcomes["TestListener"]
    assert set(listener.values()) == {"passed"}, listener
    assert "test_implements_at_least_one_hook" in listener


# --- the example of the plugin guide -----------------------------------------------------

_GUIDE_FILE = re.compile(r"<!-- file: (?P<path>\S+) -->\n```\w*\n(?P<body>.*?)\n```", re.S)


def guide_files() -> dict[str, str]:
    """The files of the example plugin in docs/plugins/README.md, by path."""
    return {m["path"]: m["body"] + "\n" for m in _GUIDE_FILE.finditer(PLUGIN_GUIDE.read_text())}


def install_guide_example(site: Path, tests_dir: Path) -> None:
    files = guide_files()
    project = tomllib.loads(files.pop("pyproject.toml"))["project"]
    modules = {}
    for path, body in files.items():
        if path.startswith("src/"):
            modules[path.removeprefix("src/").removesuffix(".py").replace("/", ".")] = body
        elif path.startswith("tests/"):
            (tests_dir / Path(path).name).write_text(body)
    make_fake_distribution(
        site, project["name"], project["version"], project["entry-points"], modules
    )


def test_the_guide_has_a_complete_example() -> None:
    files = guide_files()
    assert {"pyproject.toml", "tests/test_scratch.py"} <= set(files)
    assert any(path.startswith("src/") and path.endswith("/plugin.py") for path in files)


def test_the_guide_example_passes_its_suite(suite_outcomes: dict[str, dict[str, str]]) -> None:
    example = suite_outcomes["TestScratch"]
    assert set(example.values()) == {"passed"}, example
    assert "test_factory_builds_the_contract_when_supported" in example
