"""The quick reference check of the lean commands (`berth build -t`, `berth pull`): never
accepts what Docker's grammar refuses, and normalizes as the full parser does."""

from __future__ import annotations

import random

import pytest
from berth.client.plainref import is_plain_valid, normalized
from berth.client.reference import ReferenceError, parse_normalized


def docker_accepts(text: str) -> bool:
    try:
        parse_normalized(text)
    except ReferenceError:
        return False
    return True


COMMON = [
    "app",
    "me/app:1.0",
    "registry:5000/team/app:latest",
    "localhost/app",
    "localhost:5000/a:b",
    "Host.example/app",
    "a__b/c-d--e.f:V_1.2-x",
    "docker.io/library/busybox",
    "x:" + "t" * 128,
]


@pytest.mark.parametrize("text", COMMON)
def test_common_references_pass_without_the_full_parser(text: str) -> None:
    assert is_plain_valid(text)
    assert docker_accepts(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "App",
        "a___b",
        "a._b",
        "-a",
        "a-",
        "a:",
        "a:.b",
        "a:b:c",
        "x:" + "t" * 129,
        "host:/x",
        "host:5x/x",
        "host./x",
        "0" * 64,
        "a" * 300,
        "busybox@sha256:" + "0" * 64,  # valid, but digests are left to the full parser
    ],
)
def test_anything_else_goes_to_the_full_parser(text: str) -> None:
    assert not is_plain_valid(text)


def test_random_text_is_never_accepted_wrongly() -> None:
    chooser = random.Random(7)
    alphabet = "abAZ09._-:/@"
    for _ in range(20000):
        text = "".join(chooser.choice(alphabet) for _ in range(chooser.randint(1, 12)))
        if is_plain_valid(text):
            assert docker_accepts(text), text


def full_parser_normalizes(text: str) -> tuple[str, str]:
    ref = parse_normalized(text).with_default_tag()
    return ref.name, ref.tag


@pytest.mark.parametrize(
    "text",
    [
        *COMMON,
        "index.docker.io/app",
        "index.docker.io/me/app:2",
        "docker.io/busybox:1",
        "127.0.0.1:5000/bench/image:latest",
    ],
)
def test_normalized_as_the_full_parser(text: str) -> None:
    assert normalized(text) == full_parser_normalizes(text)


def test_random_references_are_normalized_as_the_full_parser() -> None:
    chooser = random.Random(11)
    alphabet = "abz09._-:/"
    for _ in range(20000):
        text = "".join(chooser.choice(alphabet) for _ in range(chooser.randint(1, 14)))
        if is_plain_valid(text):
            assert normalized(text) == full_parser_normalizes(text), text
