"""Container names: Docker's validation, random names, reservation and its 409."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from berth.engine.containers import names
from berth.engine.containers.names import InvalidName, NameConflict, NameRegistry

from .kit import one_line

ID_A = "a" * 64
ID_B = "b" * 64


@pytest.mark.parametrize(
    "given, stored", [("web", "/web"), ("/web", "/web"), ("a.b_c-1", "/a.b_c-1"), ("9x", "/9x")]
)
def test_valid_names_get_a_leading_slash(given: str, stored: str) -> None:
    assert names.normalize(given) == stored


@pytest.mark.parametrize(
    "bad", ["a", "", "/", "-web", "_web", ".web", "we b", "web/x", "wéb", "//web", "web\n"]
)
def test_invalid_names_are_refused_with_dockers_text(bad: str) -> None:
    with pytest.raises(InvalidName) as caught:
        names.normalize(bad)
    shown = bad.replace("\n", "\\n")
    assert one_line(caught) == (
        f"Invalid container name ({shown}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    )
    assert caught.value.status == 400


def test_random_names_are_adjective_underscore_surname() -> None:
    seen = {names.random_name() for _ in range(200)}
    for name in seen:
        adjective, _, surname = name.partition("_")
        assert adjective in names.ADJECTIVES and surname in names.SURNAMES, name
        assert names.normalize(name)  # every generated name is valid
    assert len(seen) > 100  # they vary


def test_retries_add_a_digit() -> None:
    assert re.fullmatch(r"[a-z]+_[a-z]+[0-9]", names.random_name(retry=2))


def test_word_lists_are_clean() -> None:
    for word in (*names.ADJECTIVES, *names.SURNAMES):
        assert re.fullmatch(r"[a-z]+", word), word
    assert len(set(names.ADJECTIVES)) == len(names.ADJECTIVES)
    assert len(set(names.SURNAMES)) == len(names.SURNAMES)


def test_reserving_a_taken_name_is_a_409_naming_the_owner() -> None:
    registry = NameRegistry()
    assert registry.reserve("web", ID_A) == "/web"
    with pytest.raises(NameConflict) as caught:
        registry.reserve("/web", ID_B)
    assert caught.value.status == 409
    assert one_line(caught) == (
        f'Conflict. The container name "/web" is already in use by container "{ID_A}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    assert registry.owner("web") == ID_A


def test_reserving_again_for_the_same_container_is_fine() -> None:
    registry = NameRegistry()
    registry.reserve("web", ID_A)
    registry.reserve("/web", ID_A)
    assert len(registry) == 1


def test_release_frees_the_name_only_for_its_owner() -> None:
    registry = NameRegistry()
    registry.reserve("web", ID_A)
    registry.release("web", ID_B)
    assert "web" in registry
    registry.release("/web", ID_A)
    assert "web" not in registry
    registry.reserve("web", ID_B)
    assert registry.owner("/web") == ID_B


def test_rename_moves_the_name_and_refuses_a_taken_one() -> None:
    registry = NameRegistry()
    registry.reserve("old", ID_A)
    registry.reserve("taken", ID_B)
    with pytest.raises(NameConflict):
        registry.rename("old", "taken", ID_A)
    assert registry.owner("old") == ID_A
    with pytest.raises(InvalidName):
        registry.rename("old", "x", ID_A)
    assert registry.rename("/old", "new", ID_A) == "/new"
    assert registry.owner("old") is None
    assert registry.owner("new") == ID_A


def test_generate_reserves_a_free_random_name() -> None:
    registry = NameRegistry()
    name = registry.generate(ID_A)
    assert re.fullmatch(r"/[a-z]+_[a-z]+", name)
    assert registry.owner(name) == ID_A


class _FirstChoice:
    """An rng that always picks the first word and the digit 0."""

    def choice(self, seq: Any) -> Any:
        return seq[0]

    def randrange(self, stop: int) -> int:
        return 0


def test_generate_falls_back_to_the_short_id_when_names_are_taken() -> None:
    registry = NameRegistry()
    first = f"{names.ADJECTIVES[0]}_{names.SURNAMES[0]}"
    registry.reserve(first, ID_B)
    registry.reserve(first + "0", ID_B)
    name = registry.generate(ID_A, rng=_FirstChoice())  # type: ignore[arg-type]
    assert name == "/" + ID_A[:12]
    assert registry.owner(name) == ID_A


def test_one_winner_when_many_threads_want_one_name() -> None:
    registry = NameRegistry()
    winners: list[str] = []
    losers: list[str] = []
    barrier = threading.Barrier(16)

    def claim(i: int) -> None:
        cid = f"{i:064x}"
        barrier.wait()
        try:
            registry.reserve("contested", cid)
            winners.append(cid)
        except NameConflict:
            losers.append(cid)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 15
    assert registry.owner("contested") == winners[0]
