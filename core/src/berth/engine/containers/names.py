"""Container names: validation, random ``adjective_surname`` names, and reservation.

A name is stored with a leading ``/`` as Docker stores it (``/quirky_hopper``); users may type
it with or without. A name belongs to at most one container: :class:`NameRegistry` reserves it
atomically and answers Docker's 409 when it is taken. The word lists are berth's own.
"""

from __future__ import annotations

import random
import re
import threading

from berth.engine.errors import BadParameter, Conflict

VALID_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_VALID = re.compile(rf"/?{VALID_CHARS}+")

#: How many random names are tried before falling back to the short container ID.
ATTEMPTS = 6

ADJECTIVES = (
    "agile", "amazing", "ample", "ardent", "astute", "awake", "bold", "brave", "breezy",
    "bright", "brisk", "calm", "candid", "careful", "charming", "cheerful", "clever", "cool",
    "cosmic", "crisp", "curious", "daring", "dazzling", "deft", "devout", "dreamy", "eager",
    "earnest", "elated", "elegant", "epic", "fearless", "fervent", "festive", "fluffy",
    "focused", "fond", "friendly", "frosty", "funny", "gallant", "gentle", "gifted", "giddy",
    "glad", "gleeful", "golden", "graceful", "happy", "hardy", "hearty", "helpful", "hopeful",
    "humble", "jolly", "jovial", "keen", "kind", "lively", "loyal", "lucid", "lucky", "magical",
    "mellow", "merry", "mighty", "modest", "nimble", "noble", "patient", "peaceful", "placid",
    "plucky", "polite", "proud", "quiet", "quirky", "radiant", "rapid", "relaxed", "resolute",
    "serene", "sharp", "shiny", "sleepy", "snappy", "spirited", "splendid", "steady", "stoic",
    "sturdy", "sunny", "swift", "tender", "thirsty", "tidy", "tranquil", "trusty", "upbeat",
    "valiant", "vibrant", "vigilant", "vivid", "warm", "wise", "witty", "zealous", "zen",
)  # fmt: skip

SURNAMES = (
    # people of science and engineering, chosen for berth
    "agnesi", "alhazen", "allen", "ampere", "archimedes", "avogadro", "babbage", "bardeen",
    "bell", "bernoulli", "bohr", "boltzmann", "boole", "born", "bose", "brahe", "cannon",
    "cantor", "carson", "cauchy", "cavendish", "chandrasekhar", "clarke", "copernicus", "curie",
    "dalton", "darwin", "dijkstra", "dirac", "doppler", "easley", "edison", "einstein", "euclid",
    "euler", "faraday", "fermat", "fermi", "feynman", "fourier", "franklin", "galileo", "galois",
    "gauss", "germain", "goodall", "hamilton", "hawking", "heisenberg", "hertz", "hilbert",
    "hodgkin", "hopper", "hubble", "huygens", "hypatia", "jackson", "jemison", "johnson",
    "joule", "kepler", "khayyam", "knuth", "kovalevskaya", "lagrange", "lamarr", "laplace",
    "leakey", "leibniz", "lovelace", "lorentz", "maxwell", "mayer", "mcclintock", "meitner",
    "mendel", "mendeleev", "mirzakhani", "morse", "napier", "newton", "nightingale", "noether",
    "ohm", "pascal", "pasteur", "pauli", "planck", "poincare", "ptolemy", "ramanujan", "riemann",
    "ritchie", "rutherford", "sagan", "salk", "schrodinger", "shannon", "somerville", "stallman",
    "tesla", "thompson", "torvalds", "turing", "volta", "wiles", "wing", "wozniak", "wright",
    "wu", "yalow", "yonath", "zuse",
)  # fmt: skip


class InvalidName(BadParameter):
    def __init__(self, name: str) -> None:
        shown = name if name.isprintable() else repr(name)[1:-1]
        super().__init__(f"Invalid container name ({shown}), only {VALID_CHARS} are allowed")
        self.name = name


class NameConflict(Conflict):
    def __init__(self, name: str, owner: str) -> None:
        super().__init__(
            f'Conflict. The container name "{name}" is already in use by container "{owner}". '
            "You have to remove (or rename) that container to be able to reuse that name."
        )
        self.name = name
        self.owner = owner


def normalize(name: str) -> str:
    """``name`` checked and with its leading ``/`` (Docker's stored form); raises InvalidName."""
    if not _VALID.fullmatch(name):
        raise InvalidName(name)
    return name if name.startswith("/") else "/" + name


def random_name(retry: int = 0, rng: random.Random | None = None) -> str:
    """``adjective_surname``; from the second attempt on a digit is added, as Docker does."""
    pick = rng or random
    name = f"{pick.choice(ADJECTIVES)}_{pick.choice(SURNAMES)}"
    if retry > 0:
        name += str(pick.randrange(10))
    return name


class NameRegistry:
    """Which container owns which name (stored form, ``/name``). Thread-safe."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def reserve(self, name: str, container_id: str) -> str:
        """Give ``name`` to the container; returns the stored form. Raises InvalidName or
        NameConflict (409) when another container has it; reserving twice for the same
        container is fine."""
        stored = normalize(name)
        with self._lock:
            owner = self._owner.get(stored)
            if owner is not None and owner != container_id:
                raise NameConflict(stored, owner)
            self._owner[stored] = container_id
        return stored

    def generate(self, container_id: str, rng: random.Random | None = None) -> str:
        """Reserve a free random name for the container (the short ID if none is free)."""
        with self._lock:
            for attempt in range(ATTEMPTS):
                stored = "/" + random_name(attempt, rng)
                if stored not in self._owner:
                    self._owner[stored] = container_id
                    return stored
            stored = "/" + container_id[:12]
            owner = self._owner.get(stored)
            if owner is not None and owner != container_id:
                raise NameConflict(stored, owner)
            self._owner[stored] = container_id
            return stored

    def release(self, name: str, container_id: str | None = None) -> None:
        """Free ``name`` (only if ``container_id`` owns it, when given)."""
        stored = name if name.startswith("/") else "/" + name
        with self._lock:
            if container_id is None or self._owner.get(stored) == container_id:
                self._owner.pop(stored, None)

    def rename(self, old: str, new: str, container_id: str) -> str:
        """Move the container from ``old`` to ``new`` atomically; returns the new stored form."""
        stored_new = normalize(new)
        stored_old = old if old.startswith("/") else "/" + old
        with self._lock:
            owner = self._owner.get(stored_new)
            if owner is not None and owner != container_id:
                raise NameConflict(stored_new, owner)
            if self._owner.get(stored_old) == container_id:
                del self._owner[stored_old]
            self._owner[stored_new] = container_id
        return stored_new

    def owner(self, name: str) -> str | None:
        stored = name if name.startswith("/") else "/" + name
        return self._owner.get(stored)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.owner(name) is not None

    def __len__(self) -> int:
        return len(self._owner)
