"""bench/registry_bench.py: its image is what it says and its report states the budgets (the
machinery only; numbers are never asserted)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from types import ModuleType

import pytest

from tests.test_bench import load


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load("registry_bench")


def test_the_image_has_six_verified_gzip_layers(bench: ModuleType, tmp_path: Path) -> None:
    layers = bench.make_image(tmp_path, 2)
    assert len(layers) == bench.LAYERS == 6
    for blob, digest, diff_id, size in layers:
        data = blob.read_bytes()
        assert len(data) == size
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
        assert diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()


def test_report_states_the_budgets(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    results = {
        "berth": {"pull": [1.0, 1.5, 3.0], "push": [1.0]},
        "docker": {"pull": [6.0], "push": [2.0]},
    }
    breakdown = [{"wall_s": 1.9, "streamed_s": 0.8, "unpack_s": 0.9}]
    bench.report(results, 170_000_000, breakdown, 0.0)
    out = capsys.readouterr().out
    assert "budget pull: berth/docker = 0.25 (<= 0.33) OK" in out
    assert "budget push: berth/docker = 0.50 (<= 1.0) OK" in out
    assert "pulls right after rmi" in out
    assert "berth pull: wall_s 1.9, streamed_s 0.8, unpack_s 0.9" in out
