"""Shell completion: click's protocol, `berth completion SHELL`, and bash really completing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from berth.cli.main import cli
from click.testing import CliRunner


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "_BERTH_COMPLETE=bash_complete"),
        ("zsh", "_BERTH_COMPLETE=zsh_complete"),
        ("fish", "_BERTH_COMPLETE=fish_complete"),
    ],
)
def test_completion_scripts(shell: str, marker: str) -> None:
    result = CliRunner().invoke(cli, ["completion", shell])
    assert result.exit_code == 0
    assert marker in result.stdout
    assert "berth" in result.stdout


def test_completion_unknown_shell() -> None:
    result = CliRunner().invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr


def complete(words: str, cword: int) -> list[str]:
    env = {
        **os.environ,
        "_BERTH_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
    }
    done = subprocess.run(
        [sys.executable, "-m", "berth.cli.main"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_completion_protocol() -> None:
    assert complete("berth plu", 1) == ["plugin"]
    assert complete("berth plugin ", 2) == ["list", "ls"]
    assert "--local" in complete("berth plugin ls --", 3)
    assert complete("berth completion ", 2) == ["bash", "zsh", "fish"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_with_the_printed_script(tmp_path: Path) -> None:
    berth_dir = Path(sys.executable).parent
    if not (berth_dir / "berth").exists():
        pytest.skip("the berth script is not installed next to this python")
    script = (
        "source <(berth completion bash)\n"
        "COMP_WORDS=(berth sys); COMP_CWORD=1\n"
        "_berth_completion berth\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{berth_dir}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["system"]
