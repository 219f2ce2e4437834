"""The client's re-free JSON codec agrees with the standard library's."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from berth.client import jsonlite

_TEXTS = ["", "a", "é", "\u2603", "\U0001f600", '"quoted"', "back\\slash", "ctl\x01\n\t", "\ud800"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**70), 2**70)
    if kind == 3:
        return rng.uniform(-1e300, 1e300) * rng.choice([1, 1e-300, 0.0])
    if kind in (4, 5):
        return "".join(rng.choice(_TEXTS) for _ in range(rng.randrange(4)))
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_value(rng, 3)): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


_SAMPLES = [_value(random.Random(seed)) for seed in range(400)]


def test_dumps_is_read_back_by_json() -> None:
    for value in _SAMPLES:
        assert json.loads(jsonlite.dumps(value)) == value


def test_loads_reads_what_json_writes() -> None:
    for value in _SAMPLES:
        assert jsonlite.loads(json.dumps(value, indent=2)) == value
        assert jsonlite.loads(json.dumps(value).encode()) == value


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', "[1,]", "nul", '"unterminated'])
def test_loads_refuses_what_is_not_one_document(text: str) -> None:
    with pytest.raises(ValueError):
        jsonlite.loads(text)


@pytest.mark.parametrize("value", [{1: "a"}, object(), float("nan"), {b"k": 1}])
def test_dumps_refuses_what_json_cannot_hold(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        jsonlite.dumps(value)
