"""Every hook core calls is documented, and docs/plugins/hooks.md is generated from those docs."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest
from berth.plugins import hookspec, hookspecs
from berth.testing import hookdoc

HOOKS_MD = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "hooks.md"

# A hook specification module written as a plugin author might get it wrong (or right).
SAMPLE_SPECS = '''
"""Sample hooks."""
from berth.plugins import hookspec

# --- things ------------------------------------------------------------------------------

@hookspec
def good_hook(thing_id: str, count: int) -> None:
    """Called after a thing happened, with its ``thing_id``.

    Example::

        @hookimpl
        def good_hook(thing_id, count):
            print(thing_id)

    More text after the example.
    """

@hookspec(firstresult=True)
def undocumented_hook() -> str:
    pass

@hookspec
def vague_hook() -> None:
    """Does something.

    Example::

        @hookimpl
        def vague_hook(): ...
    """

# --- others ------------------------------------------------------------------------------

@hookspec
def no_example_hook() -> None:
    """Called when nothing happens. Example:: (but no code follows)"""

def not_a_hook() -> None:
    """Called never."""
'''


@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The sample module, imported from a file (inspect needs its source)."""
    (tmp_path / "sample_specs.py").write_text(SAMPLE_SPECS)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("sample_specs")
    monkeypatch.delitem(sys.modules, "sample_specs")
    return module


def test_every_core_hook_is_documented() -> None:
    assert hookdoc.problems(hookspecs) == []


def test_core_hooks_are_all_found() -> None:
    names = {hook.name for hook in hookdoc.hookspecs_of(hookspecs)}
    marked = {n for n, f in vars(hookspecs).items() if hasattr(f, "berth_spec")}
    assert names == marked
    assert {"berth_storage_drivers", "berth_container_started"} <= names


def test_hooks_md_is_up_to_date() -> None:
    expected = hookdoc.render(hookspecs)
    actual = HOOKS_MD.read_text(encoding="utf-8") if HOOKS_MD.exists() else ""
    assert actual == expected, (
        f"{HOOKS_MD} is out of date with berth.plugins.hookspecs; regenerate it from the "
        f"repository root: .venv/bin/{hookdoc.REGENERATE}"
    )


def test_problems_name_each_badly_documented_hook(sample: types.ModuleType) -> None:
    found = hookdoc.problems(sample)
    assert not any("good_hook" in p for p in found)
    assert any("undocumented_hook has no docstring" in p for p in found)
    assert any("vague_hook does not say when" in p for p in found)
    assert any("no_example_hook has no 'Example::' block" in p for p in found)
    assert not any("not_a_hook" in p for p in found)
    assert len(found) == 3


def test_a_module_without_hooks_is_a_problem() -> None:
    empty = types.ModuleType("empty_specs")
    assert hookdoc.problems(empty) == ["empty_specs has no @hookspec function"]


def test_render_lists_signature_sections_and_code(sample: types.ModuleType) -> None:
    text = hookdoc.render(sample)
    assert "def good_hook(thing_id: str, count: int) -> None" in text
    assert "## Things" in text and "## Others" in text
    assert text.index("## Things") < text.index("### `good_hook`") < text.index("## Others")
    assert "with its `thing_id`" in text and "``thing_id``" not in text
    assert "Example:\n\n```python\n@hookimpl\ndef good_hook(thing_id, count):\n" in text
    assert "```\n\nMore text after the example." in text
    assert "*The first implementation that returns something other than None wins.*" in text
    assert "not_a_hook" not in text
    assert "| [`good_hook`](#good_hook) | Called after a thing happened" in text


def test_generator_command_prints_the_reference() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "berth.testing.hookdoc"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == hookdoc.render(hookspecs)


def test_generator_refuses_undocumented_hooks(sample: types.ModuleType) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "berth.testing.hookdoc", "sample_specs"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(Path(sample.__file__ or "").parent), "PATH": ""},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "hookdoc: hook undocumented_hook has no docstring" in done.stderr
    assert "Traceback" not in done.stderr


def test_generator_reports_a_missing_module_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "berth.testing.hookdoc", "no_such_module_here"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("hookdoc: cannot import no_such_module_here")
    assert len(done.stderr.strip().splitlines()) == 1


def test_hookspec_marker_is_the_one_plugins_use() -> None:
    assert hookspec.project_name == "berth"
