"""The Dockerfile parser: each instruction, directives, continuations, JSON forms and errors."""

from __future__ import annotations

import pytest
from berth.engine.build.dockerfile import (
    BuildfileError,
    Dockerfile,
    Instruction,
    parse_dockerfile,
)


def parse(text: str) -> Dockerfile:
    return parse_dockerfile(text)


def only(text: str) -> Instruction:
    """The one instruction after ``FROM scratch``."""
    df = parse("FROM scratch\n" + text)
    assert len(df.stages[0].instructions) == 1, df.stages[0].instructions
    return df.stages[0].instructions[0]


# ---- instructions, one case a row: (line, keyword, args, json_form, flags) ----

INSTRUCTIONS = [
    ("RUN echo hi", "RUN", ["echo hi"], False, {}),
    ("run   echo  hi  ", "RUN", ["echo  hi"], False, {}),
    ('RUN ["echo", "hi"]', "RUN", ["echo", "hi"], True, {}),
    ('RUN [ "echo" , "a b" ]', "RUN", ["echo", "a b"], True, {}),
    ("RUN [echo, hi]", "RUN", ["[echo, hi]"], False, {}),  # not JSON: shell form
    ("RUN ['echo', 'hi']", "RUN", ["['echo', 'hi']"], False, {}),  # single quotes: not JSON
    ('RUN ["echo" "hi"]', "RUN", ['["echo" "hi"]'], False, {}),
    ("RUN [NaN]", "RUN", ["[NaN]"], False, {}),
    ("CMD []", "CMD", [], True, {}),
    ('CMD ["/bin/app", "--flag"]', "CMD", ["/bin/app", "--flag"], True, {}),
    ("CMD exec /bin/app", "CMD", ["exec /bin/app"], False, {}),
    ("CMD", "CMD", [], False, {}),
    ('ENTRYPOINT ["/entry.sh"]', "ENTRYPOINT", ["/entry.sh"], True, {}),
    ("ENTRYPOINT /entry.sh $HOME", "ENTRYPOINT", ["/entry.sh $HOME"], False, {}),
    ('SHELL ["/bin/bash", "-c"]', "SHELL", ["/bin/bash", "-c"], True, {}),
    ("COPY a b /dst/", "COPY", ["a", "b", "/dst/"], False, {}),
    ('COPY ["a b", "/d e/"]', "COPY", ["a b", "/d e/"], True, {}),
    ("COPY --from=build /out /app", "COPY", ["/out", "/app"], False, {"from": "build"}),
    (
        "COPY --chown=1000:1000 --chmod=0755 a /b",
        "COPY",
        ["a", "/b"],
        False,
        {"chown": "1000:1000", "chmod": "0755"},
    ),
    ("COPY --link a /b", "COPY", ["a", "/b"], False, {"link": "true"}),
    ('COPY --chown="user group" a /b', "COPY", ["a", "/b"], False, {"chown": "user group"}),
    ("COPY --from=$STAGE a /b", "COPY", ["a", "/b"], False, {"from": "$STAGE"}),
    ("COPY --chown=a\\ b a /b", "COPY", ["a", "/b"], False, {"chown": "a b"}),
    ("COPY --chown='a\\'b' a /b", "COPY", ["a", "/b"], False, {"chown": "a'b"}),
    ("COPY -- --weird /b", "COPY", ["--weird", "/b"], False, {}),
    ("COPY *.txt /docs/", "COPY", ["*.txt", "/docs/"], False, {}),
    ("ADD https://example.com/x.tgz /x", "ADD", ["https://example.com/x.tgz", "/x"], False, {}),
    ("ADD --chown=0:0 a.tar /", "ADD", ["a.tar", "/"], False, {"chown": "0:0"}),
    ("ADD --checksum=sha256:abc u /x", "ADD", ["u", "/x"], False, {"checksum": "sha256:abc"}),
    ("EXPOSE 80 443/tcp 53/udp", "EXPOSE", ["80", "443/tcp", "53/udp"], False, {}),
    ("EXPOSE $PORT", "EXPOSE", ["$PORT"], False, {}),
    ("VOLUME /data /logs", "VOLUME", ["/data", "/logs"], False, {}),
    ('VOLUME ["/data"]', "VOLUME", ["/data"], True, {}),
    ("USER app:app", "USER", ["app:app"], False, {}),
    ("WORKDIR /a b", "WORKDIR", ["/a b"], False, {}),
    ("WORKDIR $HOME/src", "WORKDIR", ["$HOME/src"], False, {}),
    ("STOPSIGNAL SIGKILL", "STOPSIGNAL", ["SIGKILL"], False, {}),
    ("MAINTAINER Jane <jane@example.com>", "MAINTAINER", ["Jane <jane@example.com>"], False, {}),
]


@pytest.mark.parametrize(("line", "keyword", "args", "json_form", "flags"), INSTRUCTIONS)
def test_instruction(
    line: str, keyword: str, args: list[str], json_form: bool, flags: dict[str, str]
) -> None:
    instruction = only(line)
    assert instruction.keyword == keyword
    assert instruction.args == args
    assert instruction.json_form is json_form
    assert instruction.flags == flags
    assert instruction.line == 2
    assert instruction.original == line.strip()


# ---- ENV, LABEL, ARG: (key, raw value) pairs ----

PAIRS = [
    ("ENV A=1", [("A", "1")]),
    ("ENV A=1 B=2", [("A", "1"), ("B", "2")]),
    ('ENV A="a b" B=c\\ d', [("A", '"a b"'), ("B", "c\\ d")]),
    ("ENV A hello world", [("A", "hello world")]),  # legacy form: the rest is the value
    ("ENV A=", [("A", "")]),
    ('ENV A=""', [("A", '""')]),
    ("ENV PATH=/x:$PATH", [("PATH", "/x:$PATH")]),
    (
        'LABEL "com.example.vendor"="ACME Inc" version=1.0',
        [('"com.example.vendor"', '"ACME Inc"'), ("version", "1.0")],
    ),
    ("LABEL description=one\\ two", [("description", "one\\ two")]),
    ("LABEL legacy value here", [("legacy", "value here")]),
    ("ARG A", [("A", None)]),
    ("ARG A=1", [("A", "1")]),
    ("ARG A=1 B C=", [("A", "1"), ("B", None), ("C", "")]),
    ('ARG MSG="hello world"', [("MSG", '"hello world"')]),
    ("ARG http_proxy", [("http_proxy", None)]),
]


@pytest.mark.parametrize(("line", "pairs"), PAIRS)
def test_pairs(line: str, pairs: list[tuple[str, str | None]]) -> None:
    assert only(line).pairs == pairs


# ---- FROM and stages ----


def test_stages_names_platform_and_global_args() -> None:
    df = parse(
        "ARG BASE=debian:bookworm\n"
        "ARG VERSION\n"
        "FROM --platform=linux/amd64 $BASE AS Builder\n"
        "RUN make\n"
        "from scratch\n"
        "COPY --from=builder /out /\n"
    )
    assert [a.pairs for a in df.global_args] == [[("BASE", "debian:bookworm")], [("VERSION", None)]]
    first, second = df.stages
    assert (first.index, first.name, first.base, first.platform, first.line) == (
        0,
        "builder",
        "$BASE",
        "linux/amd64",
        3,
    )
    assert first.original == "FROM --platform=linux/amd64 $BASE AS Builder"
    assert [i.keyword for i in first.instructions] == ["RUN"]
    assert (second.index, second.name, second.base, second.platform) == (1, None, "scratch", None)
    assert df.stage("BUILDER") is first
    assert df.stage("1") is second
    assert df.stage("nope") is None


def test_from_as_is_case_insensitive() -> None:
    assert parse("FROM busybox as one\n").stages[0].name == "one"


# ---- directives, comments, continuations ----


def test_directives_escape_and_syntax() -> None:
    df = parse(
        "# syntax=docker/dockerfile:1\n"
        "# escape=`\n"
        "FROM scratch\n"
        "RUN echo a `\n"
        "    b\n"
        "COPY c:\\path d\\\n"
    )
    assert df.directives.escape == "`"
    assert df.directives.syntax == "docker/dockerfile:1"
    run, copy = df.stages[0].instructions
    assert run.args == ["echo a     b"]
    assert (run.line, run.end_line) == (4, 5)
    assert copy.args == ["c:\\path", "d\\"]  # the backslash is no longer special


def test_directive_case_and_spacing() -> None:
    assert parse("#  ESCAPE = `\nFROM scratch\n").directives.escape == "`"


def test_directives_only_at_the_top() -> None:
    assert parse("# a comment\n# escape=`\nFROM scratch\n").directives.escape == "\\"
    assert parse("\n# escape=`\nFROM scratch\n").directives.escape == "\\"
    assert parse("FROM scratch\n# escape=`\n").directives.escape == "\\"
    # an unknown directive is a comment, and ends the directives
    assert parse("# foo=bar\n# escape=`\nFROM scratch\n").directives.escape == "\\"


def test_comments_and_blank_lines() -> None:
    df = parse(
        "# leading comment\n"
        "\n"
        "FROM scratch\n"
        "   # indented comment\n"
        "RUN echo \\\n"
        "# comment inside a continuation\n"
        "  hello \\\n"
        "\n"
        "  world\n"
        "RUN echo #not a comment\n"
    )
    first, second = df.stages[0].instructions
    assert first.args == ["echo   hello   world"]
    assert (first.line, first.end_line) == (5, 9)
    assert first.original == "RUN echo   hello   world"
    assert df.warnings == ["line 5: empty continuation line"]
    assert second.args == ["echo #not a comment"]
    assert second.line == 10


def test_crlf_and_bom() -> None:
    df = parse("\ufeffFROM scratch\r\nRUN echo a \\\r\n  b\r\n")
    assert df.stages[0].base == "scratch"
    assert df.stages[0].instructions[0].args == ["echo a   b"]


def test_continuation_with_trailing_spaces_after_the_escape() -> None:
    assert only("RUN a \\   \n b").args == ["a  b"]


def test_continuation_at_end_of_file_with_arguments_is_kept() -> None:
    assert only("RUN echo hi \\").args == ["echo hi"]


# ---- HEALTHCHECK and ONBUILD ----


def test_healthcheck_shell_form_with_options() -> None:
    instruction = only(
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms "
        "--retries=3 CMD curl -f http://localhost/ || exit 1"
    )
    check = instruction.healthcheck
    assert check is not None
    assert check.test == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    assert check.interval == 300_000_000_000
    assert check.timeout == 3_000_000_000
    assert check.start_period == 90_000_000_000
    assert check.start_interval == 500_000_000
    assert check.retries == 3


def test_healthcheck_exec_form_and_none() -> None:
    check = only('HEALTHCHECK CMD ["/bin/check", "-q"]').healthcheck
    assert check is not None
    assert check.test == ["CMD", "/bin/check", "-q"]
    assert (check.interval, check.retries) == (0, 0)
    none = only("HEALTHCHECK NONE").healthcheck
    assert none is not None
    assert none.test == ["NONE"]


def test_onbuild_carries_its_trigger() -> None:
    instruction = only("ONBUILD COPY --chown=1:1 . /app")
    assert instruction.args == ["COPY --chown=1:1 . /app"]
    trigger = instruction.trigger
    assert trigger is not None
    assert (trigger.keyword, trigger.args, trigger.flags) == (
        "COPY",
        [".", "/app"],
        {"chown": "1:1"},
    )


# ---- errors: (text, line, message fragment) ----

ERRORS = [
    ("", 1, "no instructions"),
    ("# only a comment\n\n", 3, "no instructions"),
    ("RUN echo hi\n", 1, "no build stage in current context: RUN before the first FROM"),
    ("ARG A\n", 1, "no FROM"),
    ("FROM scratch\nFOO bar\n", 2, "unknown instruction: FOO"),
    ("FROM scratch\n\n\nRUNN echo\n", 4, "unknown instruction: RUNN (did you mean run?)"),
    ("FROM scratch\ncopy-file a b\n", 2, "unknown instruction: copy-file"),
    ("FROM\n", 1, "FROM requires either one or three arguments"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a IS b\n", 1, "FROM expects 'AS'"),
    ("FROM a AS 1st\n", 1, "invalid name for build stage: '1st'"),
    ("FROM a AS x\nFROM b AS X\n", 2, "duplicate stage name 'x'"),
    ("FROM --platfrom=x a\n", 1, "unknown flag: --platfrom"),
    ("FROM scratch\nCOPY --form=x a b\n", 2, "unknown flag: --form"),
    ("FROM scratch\nCOPY --from a b\n", 2, "missing a value on flag: --from"),
    ("FROM scratch\nCOPY --from=a --from=b a b\n", 2, "duplicate flag specified: --from"),
    ("FROM scratch\nCOPY --link=maybe a b\n", 2, "expecting a boolean value"),
    ("FROM scratch\nRUN --mount=type=cache,target=/x make\n", 2, "requires BuildKit"),
    ("FROM scratch\nRUN --foo echo\n", 2, "unknown flag: --foo"),
    ("FROM scratch\nCOPY a\n", 2, "COPY requires at least two arguments"),
    ("FROM scratch\nADD\n", 2, "ADD requires at least two arguments"),
    ("FROM scratch\nRUN\n", 2, "RUN requires at least one argument"),
    ("FROM scratch\nRUN \\\n", 2, "ends inside a line continuation"),
    ("FROM scratch\nRUN \\\n# just a comment\n", 2, "ends inside a line continuation"),
    ('FROM scratch\nRUN ["echo", 1]\n', 2, "arrays must be comprised of strings only"),
    ("FROM scratch\nSHELL /bin/sh -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM scratch\nSHELL []\n", 2, "SHELL requires at least one argument"),
    ("FROM scratch\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM scratch\nENV A\n", 2, "ENV must have two arguments"),
    ("FROM scratch\nENV A=1 B\n", 2, "can't find = in 'B'"),
    ("FROM scratch\nENV =1\n", 2, "ENV names can not be blank"),
    ("FROM scratch\nLABEL\n", 2, "LABEL requires at least one argument"),
    ("FROM scratch\nARG\n", 2, "ARG requires at least one argument"),
    ("FROM scratch\nARG =x\n", 2, "ARG names can not be blank"),
    ("FROM scratch\nARG 1abc=x\n", 2, "invalid ARG name '1abc'"),
    ("FROM scratch\nARG a-b\n", 2, "invalid ARG name 'a-b'"),
    ("FROM scratch\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
    ("FROM scratch\nUSER\n", 2, "USER requires exactly one argument"),
    ("FROM scratch\nUSER a b\n", 2, "USER requires exactly one argument"),
    ("FROM scratch\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
    ("FROM scratch\nSTOPSIGNAL\n", 2, "STOPSIGNAL requires exactly one argument"),
    ("FROM scratch\nVOLUME\n", 2, "VOLUME requires at least one argument"),
    ('FROM scratch\nVOLUME [""]\n', 2, "VOLUME requires at least one argument"),
    ("FROM scratch\nMAINTAINER\n", 2, "MAINTAINER requires exactly one argument"),
    ("FROM scratch\nONBUILD\n", 2, "ONBUILD requires at least one argument"),
    ("FROM scratch\nONBUILD ONBUILD RUN x\n", 2, "chaining ONBUILD"),
    ("FROM scratch\nONBUILD FROM x\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM scratch\nONBUILD BOGUS x\n", 2, "unknown instruction: BOGUS"),
    ("FROM scratch\nHEALTHCHECK\n", 2, "HEALTHCHECK requires at least one argument"),
    ("FROM scratch\nHEALTHCHECK CMD\n", 2, "missing command after HEALTHCHECK CMD"),
    ("FROM scratch\nHEALTHCHECK NONE x\n", 2, "HEALTHCHECK NONE takes no arguments"),
    ("FROM scratch\nHEALTHCHECK --retries=1 NONE\n", 2, "HEALTHCHECK NONE takes no"),
    ("FROM scratch\nHEALTHCHECK EXEC x\n", 2, "unknown type 'EXEC' in HEALTHCHECK"),
    ("FROM scratch\nHEALTHCHECK --interval=5 CMD x\n", 2, "--interval: missing unit"),
    ("FROM scratch\nHEALTHCHECK --interval=abc CMD x\n", 2, "--interval: invalid duration"),
    ("FROM scratch\nHEALTHCHECK --timeout=10us CMD x\n", 2, "cannot be less than 1ms"),
    ("FROM scratch\nHEALTHCHECK --retries=-1 CMD x\n", 2, "--retries cannot be negative"),
    ("FROM scratch\nHEALTHCHECK --retries=x CMD x\n", 2, "--retries must be a whole number"),
    ("FROM scratch\nHEALTHCHECK --bogus=1 CMD x\n", 2, "unknown flag: --bogus"),
    ("FROM scratch\nCOPY --chown='x a b\n", 2, "unterminated quote"),
    ("# escape=x\nFROM scratch\n", 1, "invalid escape token 'x'"),
    ("# escape=`\n# escape=\\\nFROM scratch\n", 2, "only one escape parser directive"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_errors_name_the_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(BuildfileError) as caught:
        parse_dockerfile(text, "build/Dockerfile.dev")
    error = caught.value
    assert error.line == line
    assert error.filename == "build/Dockerfile.dev"
    assert message in error.message
    assert str(error) == f"build/Dockerfile.dev:{line}: {error.message}"
    assert "\n" not in str(error)


def test_a_real_world_multi_stage_dockerfile() -> None:
    df = parse(
        """# syntax=docker/dockerfile:1
ARG DEBIAN=bookworm
FROM debian:${DEBIAN}-slim AS build
ARG DEBIAN
ENV DEBIAN_FRONTEND=noninteractive \\
    CC=gcc
RUN apt-get update \\
 && apt-get install -y gcc libc6-dev \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY hello.c .
RUN ${CC} -static -O2 -o hello hello.c

FROM scratch
LABEL org.opencontainers.image.title="hello" \\
      org.opencontainers.image.version="1.0"
COPY --from=build /src/hello /hello
USER 65534:65534
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD ["/hello", "--check"]
ENTRYPOINT ["/hello"]
CMD ["--greeting", "hi"]
"""
    )
    build, final = df.stages
    assert build.base == "debian:${DEBIAN}-slim"
    assert [i.keyword for i in build.instructions] == [
        "ARG",
        "ENV",
        "RUN",
        "WORKDIR",
        "COPY",
        "RUN",
    ]
    env = build.instructions[1]
    assert env.pairs == [("DEBIAN_FRONTEND", "noninteractive"), ("CC", "gcc")]
    assert [i.keyword for i in final.instructions] == [
        "LABEL",
        "COPY",
        "USER",
        "EXPOSE",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    ]
    assert final.instructions[0].pairs == [
        ("org.opencontainers.image.title", '"hello"'),
        ("org.opencontainers.image.version", '"1.0"'),
    ]
    assert [i.line for i in final.instructions] == [15, 17, 18, 19, 20, 21, 22, 23]


def test_a_dockerfile_sent_under_a_random_name_is_called_dockerfile() -> None:
    with pytest.raises(BuildfileError) as caught:
        parse_dockerfile("FROM scratch\nBAD x\n", ".dockerfile.0123456789abcdef0123")
    assert str(caught.value) == "Dockerfile:2: unknown instruction: BAD"
