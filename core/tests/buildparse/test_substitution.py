"""Docker's variable substitution: expand (one word) and expand_words (split on whitespace)."""

from __future__ import annotations

import pytest
from berth.engine.build.substitution import SubstitutionError, expand, expand_words

ENV = {
    "PWD": "/home",
    "SHELL": "bash",
    "KOREAN": "한국어",
    "EMPTY": "",
    "SPACED": "a b  c",
    "FILE": "archive.tar.gz",
    "PATH": "/usr/bin:/bin",
}

WORDS = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he'llo", SubstitutionError),
    ('he"ll"o', "hello"),
    ('he"llo', SubstitutionError),
    ("he\\'llo", "he'llo"),
    ("he\\\\'llo'", "he\\llo"),
    ("'hello\\'", "hello\\"),  # nothing escapes inside single quotes
    ('"hello\\""', 'hello"'),
    ('"a\\b"', "a\\b"),  # inside double quotes only \" \$ \\ are escapes
    ('"\\$PWD"', "$PWD"),
    ("\\$PWD", "$PWD"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("$PWD/x", "/home/x"),
    ("${PWD}x", "/homex"),
    ("$PWDx", ""),  # the name runs on: $PWDx is unset
    ('"$PWD"', "/home"),
    ("'$PWD'", "$PWD"),
    ("$KOREAN", "한국어"),
    ("$UNSET", ""),
    ("${UNSET}", ""),
    ("$", "$"),
    ("$ x", "$ x"),
    ("a$/", "a$/"),
    ("$1", ""),
    ("$$", ""),
    ("${PWD:-def}", "/home"),
    ("${UNSET:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${UNSET-def}", "def"),
    ("${UNSET:-$PWD/x}", "/home/x"),
    ("${UNSET:-'a b'}", "a b"),
    ('${UNSET:-"${SHELL}sh"}', "bashsh"),
    ("${UNSET:-${ALSO:-deep}}", "deep"),
    ("${PWD:+alt}", "alt"),
    ("${UNSET:+alt}", ""),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${PWD:?oops}", "/home"),
    ("${UNSET:?oops}", SubstitutionError),
    ("${EMPTY:?}", SubstitutionError),
    ("${EMPTY?}", ""),
    ("${UNSET?}", SubstitutionError),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("${FILE%.*}", "archive.tar"),
    ("${FILE%%.*}", "archive"),
    ("${FILE#nomatch}", "archive.tar.gz"),
    ("${PATH/bin/sbin}", "/usr/sbin:/bin"),
    ("${PATH//bin/sbin}", "/usr/sbin:/sbin"),
    ("${FILE/t?r/zip}", "archive.zip.gz"),
    ("${PWD", SubstitutionError),
    ("${PWD:-x", SubstitutionError),
    ("${}", SubstitutionError),
    ("${:-x}", SubstitutionError),
    ("${PWD:=x}", SubstitutionError),
    ("${PWD!}", SubstitutionError),
    ("${FILE:#x}", SubstitutionError),
    ("${PATH/bin", SubstitutionError),
    ("$SPACED", "a b  c"),  # one word: whitespace kept
    ("x\\", "x"),  # a trailing escape is dropped
]


@pytest.mark.parametrize(("word", "expected"), WORDS)
def test_expand(word: str, expected: str | type[Exception]) -> None:
    if isinstance(expected, str):
        assert expand(word, ENV) == expected
    else:
        with pytest.raises(expected):
            expand(word, ENV)


def test_error_messages_say_what_is_wrong() -> None:
    with pytest.raises(SubstitutionError, match="UNSET: oops"):
        expand("${UNSET:?oops}", ENV)
    with pytest.raises(SubstitutionError, match="is not allowed to be unset"):
        expand("${UNSET?}", ENV)
    with pytest.raises(SubstitutionError, match="missing '}'"):
        expand("${PWD", ENV)
    with pytest.raises(SubstitutionError, match=r"unsupported modifier \(:=\)"):
        expand("${PWD:=x}", ENV)


SPLIT = [
    ("a b c", ["a", "b", "c"]),
    ("  a   b  ", ["a", "b"]),
    ("$SPACED x", ["a", "b", "c", "x"]),  # an unquoted expansion is split
    ('"$SPACED" x', ["a b  c", "x"]),
    ("'a b' \"c d\"", ["a b", "c d"]),
    ("a\\ b c", ["a b", "c"]),
    ("$EMPTY", []),
    ("'' x", ["x"]),
    ("pre$SPACED", ["prea", "b", "c"]),
    ("80/tcp $UNSET 443", ["80/tcp", "443"]),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT)
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, ENV) == expected


def test_backtick_escape() -> None:
    assert expand("c:\\dir\\$PWD", ENV, escape="`") == "c:\\dir\\/home"
    assert expand("`$PWD", ENV, escape="`") == "$PWD"
    assert expand('"a`"b"', ENV, escape="`") == 'a"b'
    assert expand_words("a` b c", ENV, escape="`") == ["a b", "c"]


# Behaviour pinned by the reference implementation's own tests: (word, env, expected).
REFERENCE = [
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
    ("${BAR?bbb}", {"BAR": ""}, ""),
    ("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}, "plain"),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy"),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
    ("${FOO///}", {}, ""),
    (
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
        {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
        "something-v1.2.3.linux-arm-v7.tar.gz",
    ),
]


@pytest.mark.parametrize(("word", "env", "expected"), REFERENCE)
def test_reference_behaviour(word: str, env: dict[str, str], expected: str) -> None:
    assert expand(word, env) == expected


@pytest.mark.parametrize(
    ("word", "env"),
    [
        ("${BAZ?ccc}", {}),
        ("${BAR:?bbb}", {"BAR": ""}),
        ("${BAZ:?}", {}),
        ("${FOO=aaa}", {"FOO": "x"}),
        ("${FOO=:aaa}", {"FOO": "x"}),
        ("${FOO=}", {}),
        ("${FOO//ww}", {"FOO": "xxyy"}),
        ("${FOO//}", {"FOO": "xxyy"}),
        ("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"}),
    ],
)
def test_reference_errors(word: str, env: dict[str, str]) -> None:
    with pytest.raises(SubstitutionError):
        expand(word, env)


def test_the_error_message_is_expanded() -> None:
    with pytest.raises(SubstitutionError, match="message herex"):
        expand("${VAR?message here$ARG}", {"ARG": "x"})
