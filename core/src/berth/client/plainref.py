"""A quick, `re`-free check of the references people nearly always type (`app`, `me/app:1.0`,
`registry:5000/team/app:latest`), for the lean commands (`berth build -t`): compiling
`berth.client.reference`'s grammar costs more start-up time than a cached rebuild takes.

`is_plain_valid` answers True only for text that Docker's grammar accepts (a subset of it:
no digest, no IPv6 host); anything else, valid or not, is left to
`berth.client.reference.parse_normalized`, which gives Docker's error.
"""

from __future__ import annotations

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_HOST_CHARS = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TAG_CHARS = _HOST_CHARS | frozenset("_.-")
_TAG_FIRST = _HOST_CHARS | frozenset("_")
_HEX = frozenset("0123456789abcdef")
NAME_MAX = 255
TAG_MAX = 128


def is_plain_valid(text: str) -> bool:
    """Whether ``text`` is surely a valid name with an optional tag (False: ask the full
    parser, which may still accept it)."""
    if not text or "@" in text or len(text) > NAME_MAX or not text.isascii():
        return False
    if len(text) == 64 and set(text) <= _HEX:
        return False  # an image ID is refused as a name
    slash = text.rfind("/")
    colon = text.rfind(":")
    name, tag = (text[:colon], text[colon + 1 :]) if colon > slash else (text, "")
    if colon > slash and not _is_tag(tag):
        return False
    components = name.split("/")
    first = components[0]
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _is_domain(first):
            return False
        components = components[1:]
    elif first.lower() != first:
        return False  # docker's grammar reads an upper-case first part as a domain
    return len(name) + len("docker.io/library/") <= NAME_MAX and all(
        _is_path_component(c) for c in components
    )


def normalized(text: str) -> tuple[str, str]:
    """(full name, tag) of a reference ``is_plain_valid`` accepted, as Docker normalizes it:
    ``app`` is ``docker.io/library/app``, ``latest`` the default tag."""
    slash = text.rfind("/")
    colon = text.rfind(":")
    name, tag = (text[:colon], text[colon + 1 :]) if colon > slash else (text, "latest")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain = "docker.io" if first == "index.docker.io" else first
    else:
        domain, rest = "docker.io", name
    if domain == "docker.io" and "/" not in rest:
        rest = f"library/{rest}"
    return f"{domain}/{rest}", tag


def _is_tag(tag: str) -> bool:
    return 0 < len(tag) <= TAG_MAX and tag[0] in _TAG_FIRST and set(tag) <= _TAG_CHARS


def _is_path_component(part: str) -> bool:
    """`[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`."""
    if not part or part[0] not in _LOWER_ALNUM or part[-1] not in _LOWER_ALNUM:
        return False
    index = 0
    while index < len(part):
        char = part[index]
        if char in _LOWER_ALNUM:
            index += 1
            continue
        if char == "-":
            while part[index] == "-":
                index += 1
        elif char in "._":
            index += 2 if part.startswith("__", index) else 1
        else:
            return False
        if part[index] not in _LOWER_ALNUM:  # a separator is followed by a letter or digit
            return False
    return True


def _is_domain(domain: str) -> bool:
    """`host[:port]`, the host dot-separated labels of letters, digits and inner `-`."""
    host, _, port = domain.partition(":")
    if ":" in domain and not (port and port.isdigit()):
        return False
    return all(
        label
        and label[0] in _HOST_CHARS
        and label[-1] in _HOST_CHARS
        and set(label) <= _HOST_CHARS | {"-"}
        for label in host.split(".")
    )
