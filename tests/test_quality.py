"""Repository shape: plugin packages, extras, import-linter coverage, README, CI and packaging.

The lint gates themselves (ruff, mypy, lint-imports) run in run-tests.sh, not here.
"""

from __future__ import annotations

import configparser
import glob
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from berth.plugins import ENTRY_POINT_GROUPS

REPO = Path(__file__).resolve().parent.parent
PLUGINS = REPO / "plugins"
GROUP_RE = re.compile(r"^berth\.[a-z]+\.v1$")
REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def load_toml(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def plugin_dirs() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def import_package(plugin: Path) -> str:
    packages = [p.name for p in (plugin / "src").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) == 1, f"{plugin.name}/src must hold exactly one package: {packages}"
    return packages[0]


def requirement_name(requirement: str) -> str:
    match = REQ_NAME_RE.match(requirement)
    assert match, f"cannot read a distribution name from {requirement!r}"
    return match.group(1).lower().replace("_", "-")


def workspace_members() -> dict[str, Path]:
    """Distribution name -> directory, for every member of the uv workspace."""
    root = load_toml(REPO / "pyproject.toml")
    members: dict[str, Path] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for found in sorted(glob.glob(str(REPO / pattern))):
            pyproject = Path(found) / "pyproject.toml"
            if pyproject.is_file():
                name = load_toml(pyproject)["project"]["name"]
                members[name.lower().replace("_", "-")] = Path(found)
    return members


def berth_entry_points(pyproject: dict[str, Any]) -> dict[str, dict[str, str]]:
    groups = pyproject.get("project", {}).get("entry-points", {})
    return {g: eps for g, eps in groups.items() if g.startswith("berth.")}


def test_there_are_plugins() -> None:
    assert plugin_dirs(), "plugins/ holds no plugin package"


@pytest.mark.parametrize("plugin", plugin_dirs(), ids=lambda p: p.name)
class TestPluginPackage:
    def test_has_the_standard_files(self, plugin: Path) -> None:
        for name in ("pyproject.toml", "README.md"):
            assert (plugin / name).is_file(), f"plugins/{plugin.name}/{name} is missing"
        for name in ("src", "tests"):
            assert (plugin / name).is_dir(), f"plugins/{plugin.name}/{name}/ is missing"
        assert (plugin / "README.md").read_text().strip(), "the README is empty"
        import_package(plugin)

    def test_registers_its_entry_points_in_one_versioned_group(self, plugin: Path) -> None:
        groups = berth_entry_points(load_toml(plugin / "pyproject.toml"))
        assert len(groups) == 1, f"{plugin.name}: one berth.*.v1 group expected, got {groups}"
        (group, eps), *_ = groups.items()
        assert GROUP_RE.match(group), f"{plugin.name}: {group!r} is not berth.<kind>.v1"
        assert group in ENTRY_POINT_GROUPS.values(), f"{group!r} is not a group core owns"
        # Usually one; a plugin may serve several names of one kind (isolation_oci: runc, crun).
        assert len(eps) >= 1, f"{plugin.name}: no entry point in {group}"

    def test_entry_point_names_a_module_of_the_plugin(self, plugin: Path) -> None:
        groups = berth_entry_points(load_toml(plugin / "pyproject.toml"))
        for eps in groups.values():
            for name, value in eps.items():
                module = value.split(":")[0].strip()
                assert module.split(".")[0] == import_package(plugin), (
                    f"entry point {name!r} points outside the plugin's own package: {value}"
                )
                as_path = plugin / "src" / Path(*module.split("."))
                exists = as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file()
                assert exists, f"entry point {name!r} names {module}, which has no source file"

    def test_is_a_workspace_member_with_a_workspace_source(self, plugin: Path) -> None:
        name = load_toml(plugin / "pyproject.toml")["project"]["name"]
        assert workspace_members().get(name) == plugin
        sources = load_toml(REPO / "pyproject.toml")["tool"]["uv"]["sources"]
        assert sources.get(name) == {"workspace": True}, f"root [tool.uv.sources] lacks {name}"


class TestExtras:
    @pytest.fixture
    def extras(self) -> dict[str, list[str]]:
        extras: dict[str, list[str]] = load_toml(REPO / "pyproject.toml")["project"][
            "optional-dependencies"
        ]
        return extras

    def test_default_and_all_exist(self, extras: dict[str, list[str]]) -> None:
        assert "default" in extras
        assert "all" in extras

    def test_every_extra_names_workspace_members(self, extras: dict[str, list[str]]) -> None:
        members = workspace_members()
        for extra, requirements in extras.items():
            assert requirements, f"extra {extra!r} is empty"
            for requirement in requirements:
                name = requirement_name(requirement)
                assert name in members, f"extra {extra!r} names {name!r}, not a workspace member"

    def test_one_extra_per_plugin_and_all_has_every_plugin(
        self, extras: dict[str, list[str]]
    ) -> None:
        named = {extra: {requirement_name(r) for r in reqs} for extra, reqs in extras.items()}
        for plugin in plugin_dirs():
            dist = load_toml(plugin / "pyproject.toml")["project"]["name"]
            own = [e for e, names in named.items() if names == {dist}]
            assert own, f"no extra installs just {dist}: add one to the root pyproject.toml"
            assert dist in named["all"], f"extra 'all' lacks {dist}"


class TestImportBoundaries:
    @pytest.fixture
    def config(self) -> configparser.ConfigParser:
        parser = configparser.ConfigParser()
        assert parser.read(REPO / ".importlinter"), ".importlinter is missing"
        return parser

    @staticmethod
    def listed(config: configparser.ConfigParser, section: str, key: str) -> set[str]:
        return set(config[section][key].split())

    def test_every_package_is_a_root_package(self, config: configparser.ConfigParser) -> None:
        roots = self.listed(config, "importlinter", "root_packages")
        expected = {"berth"} | {import_package(p) for p in plugin_dirs()}
        assert roots == expected

    @pytest.mark.parametrize(
        ("contract", "key"),
        [
            ("core-knows-no-driver", "forbidden_modules"),
            ("plugins-independent", "modules"),
            ("plugins-use-public-api", "source_modules"),
        ],
    )
    def test_contracts_cover_every_plugin(
        self, config: configparser.ConfigParser, contract: str, key: str
    ) -> None:
        listed = self.listed(config, f"importlinter:contract:{contract}", key)
        assert listed == {import_package(p) for p in plugin_dirs()}

    def test_client_side_forbids_server_side_and_heavy_libraries(
        self, config: configparser.ConfigParser
    ) -> None:
        section = "importlinter:contract:client-side-is-thin"
        assert self.listed(config, section, "source_modules") == {"berth.cli", "berth.client"}
        forbidden = self.listed(config, section, "forbidden_modules")
        heavy = {"pluggy", "stevedore", "structlog", "pyroute2", "aiohttp", "h11"}
        assert {"berth.engine", "berth.daemon", "berth.plugins"} | heavy <= forbidden
        assert config["importlinter"].getboolean("include_external_packages")


def readme_setup_commands() -> list[str]:
    """The command lines of the README's first code block (the set-up)."""
    text = (REPO / "README.md").read_text()
    match = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert match, "README.md has no code block"
    return [line.strip() for line in match.group(1).splitlines() if line.strip()]


def script_commands(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    skip = ("set -euo pipefail",)
    return [line for line in lines if line and not line.startswith("#") and line not in skip]


class TestReadmeAndCI:
    def test_readme_starts_with_the_two_commands(self) -> None:
        assert readme_setup_commands() == ["sudo ./install.sh", "./run-tests.sh"]

    def test_ci_installs_then_runs_exactly_the_readme_test_command(self) -> None:
        test_command = readme_setup_commands()[1]
        commands = script_commands(REPO / ".ci" / "run")
        assert commands[-1] == f"exec {test_command}", commands
        assert "bash install.sh --no-run" in commands
        assert not [c for c in commands if "pytest" in c or "ruff" in c], (
            ".ci/run must not run gates of its own: they belong in run-tests.sh"
        )

    @pytest.mark.parametrize("script", ["install.sh", "run-tests.sh", ".ci/run"])
    def test_scripts_are_valid_bash(self, script: str) -> None:
        done = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def test_install_rejects_an_unknown_option_in_one_line(self) -> None:
        done = subprocess.run(
            ["bash", str(REPO / "install.sh"), "--frobnicate"], capture_output=True, text=True
        )
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0
        assert "--frobnicate" in done.stderr

    @pytest.mark.parametrize("script", ["install.sh", "run-tests.sh"])
    def test_help_documents_the_script(self, script: str) -> None:
        done = subprocess.run(
            ["bash", str(REPO / script), "--help"], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        assert script in done.stdout

    def test_install_has_one_marked_main_job_line(self) -> None:
        lines = (REPO / "install.sh").read_text().splitlines()
        marks = [i for i, line in enumerate(lines) if "berth's main job:" in line]
        assert len(marks) == 1
        main_job = lines[marks[0] + 1].strip()
        assert main_job.startswith("berth "), main_job


class TestSystemdUnit:
    def test_unit_keeps_containers_alive_and_restarts_on_failure(self) -> None:
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read(REPO / "packaging" / "berthd.service")
        service = unit["Service"]
        assert service["Type"] == "simple"
        assert service["ExecStart"] == "/usr/local/bin/berthd"
        assert service["KillMode"] == "process"
        assert service["Delegate"] == "yes"
        assert service["Restart"] == "on-failure"
        assert int(service["LimitNOFILE"]) >= 65536
        assert unit["Install"]["WantedBy"] == "multi-user.target"
