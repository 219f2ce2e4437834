"""The pieces under the image commands: references, docker's sizes and times, progress lines,
and Go-style boolean flags."""

from __future__ import annotations

import pytest
from berth.cli import image_views as views
from berth.cli.image_views import ellipsis, image_format, truncate_id
from berth.cli.jsonmessage import StreamError, display, human_size, progress_text
from berth.client.reference import (
    ReferenceError,
    check_any,
    familiar_string,
    is_image_id,
    parse_normalized,
)
from berth.humanize import human_duration

HEX = "a" * 64

# --- references ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("me/app", "docker.io/me/app", "me/app"),
        ("index.docker.io/library/debian:12", "docker.io/library/debian:12", "debian:12"),
        ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b"),
        ("localhost/app", "localhost/app", "localhost/app"),
        ("localhost:5000/x/y:2", "localhost:5000/x/y:2", "localhost:5000/x/y:2"),
        ("[::1]:5000/foo", "[::1]:5000/foo", "[::1]:5000/foo"),
        ("a__b.c-d---e", "docker.io/library/a__b.c-d---e", "a__b.c-d---e"),
        (f"x@sha256:{HEX}", f"docker.io/library/x@sha256:{HEX}", f"x@sha256:{HEX}"),
        (f"x:t@sha256:{HEX}", f"docker.io/library/x:t@sha256:{HEX}", f"x:t@sha256:{HEX}"),
    ],
)
def test_references_normalise_as_dockers(text: str, full: str, familiar: str) -> None:
    ref = parse_normalized(text)
    assert (str(ref), ref.familiar()) == (full, familiar)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference format"),
        (
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        ("Bad/Name", "invalid reference format: repository name (Name) must be lowercase"),
        ("x:", "invalid reference format"),
        ("x:-tag", "invalid reference format"),
        ("a/-b", "invalid reference format"),
        ("x@sha256:abc", "invalid reference format"),
        (f"x@sha256:{HEX}aa", "invalid checksum digest length"),
        (f"x@md5:{HEX}", "unsupported digest algorithm"),
        (HEX, f"invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
        ("a" * 256, "repository name must not be more than 255 characters"),
        ("x:" + "t" * 129, "invalid reference format"),
    ],
)
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(ReferenceError) as caught:
        parse_normalized(text)
    assert str(caught.value) == message


def test_any_reference_accepts_ids_and_digests() -> None:
    check_any(HEX)
    check_any(f"sha256:{HEX}")
    check_any("sha256:abc")  # short: read as the name "sha256" with the tag "abc", as docker
    with pytest.raises(ReferenceError):
        check_any("NOPE!")
    assert is_image_id(f"sha256:{HEX}") and is_image_id(HEX) and not is_image_id("abc")


def test_familiar_string_leaves_non_references_alone() -> None:
    assert familiar_string("docker.io/library/busybox:latest") == "busybox:latest"
    assert familiar_string("<none>:<none>") == "<none>:<none>"


def test_default_tag() -> None:
    assert parse_normalized("busybox").with_default_tag().familiar() == "busybox:latest"
    digested = parse_normalized(f"x@sha256:{HEX}")
    assert digested.with_default_tag() is digested


# --- sizes, times, IDs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "precision", "text"),
    [
        (0, 4, "0B"),
        (999, 4, "999B"),
        (1000, 4, "1kB"),
        (32768, 4, "32.77kB"),
        (4261550, 4, "4.262MB"),
        (4261550, 3, "4.26MB"),
        (1984132, 3, "1.98MB"),
        (123456789, 3, "123MB"),
        (999999, 3, "1e+03kB"),
        (2 * 10**12, 4, "2TB"),
    ],
)
def test_human_size_is_go_units(size: int, precision: int, text: str) -> None:
    assert human_size(size, precision) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5399, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (13 * 86400, "13 days"),
        (14 * 86400, "2 weeks"),
        (59 * 86400, "8 weeks"),
        (60 * 86400, "2 months"),
        (729 * 86400, "24 months"),
        (730 * 86400, "2 years"),
    ],
)
def test_human_duration_is_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_ids_and_ellipsis() -> None:
    assert truncate_id(f"sha256:{HEX}") == "a" * 12
    assert truncate_id("<missing>") == "<missing>"
    assert ellipsis("abcdef", 4) == "abc…"
    assert ellipsis("abc", 4) == "abc"
    assert ellipsis("abc", 0) == ""


def test_image_format_choice() -> None:
    assert image_format(None, quiet=True, digests=True) == "{{.ID}}"
    assert "{{.Digest}}" in image_format("table", quiet=False, digests=True)
    assert image_format("table {{.ID}}", quiet=False, digests=True) == (
        "table {{.ID}}\t{{.Digest}}"
    )
    assert image_format("{{.ID}}", quiet=True, digests=True) == "{{.ID}}"  # a format wins


# --- progress -----------------------------------------------------------------------------------


def test_progress_text() -> None:
    assert progress_text({}, 80) == ""
    assert progress_text({"current": 5000}, 80) == "     5kB"
    assert progress_text({"current": 3, "total": 0, "units": "files"}, 80) == "3 files"
    half = progress_text({"current": 50, "total": 100}, 120)
    assert half == "[" + "=" * 25 + ">" + " " * 25 + "]      50B/100B"
    assert progress_text({"current": 150, "total": 100}, 80) == "    150B"
    timed = progress_text({"current": 25, "total": 100, "start": 1000}, 80, now=1010.0)
    assert timed == "     25B/100B 30s"


def test_display_off_a_terminal_skips_progress() -> None:
    out: list[str] = []
    messages = [
        {"status": "Loading layer", "id": "abc", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Done", "id": "abc"},
        {"stream": "Loaded image: x:1\n"},
        {"aux": {"ID": "sha256:x"}},
        {"status": "sha256:123"},
    ]
    display(messages, out.append, terminal=False)
    assert "".join(out) == "abc: Done\nLoaded image: x:1\nsha256:123\n"


def test_display_stops_at_the_first_error() -> None:
    out: list[str] = []
    messages = iter(
        [
            {"stream": "one\n"},
            {"error": "short", "errorDetail": {"message": "the long one"}},
            {"stream": "never\n"},
        ]
    )
    with pytest.raises(StreamError) as caught:
        display(messages, out.append, terminal=False)
    assert str(caught.value) == "the long one"
    assert "".join(out) == "one\n"
    assert next(messages) == {"stream": "never\n"}  # not read past the error


def test_display_on_a_terminal_keeps_a_line_per_id() -> None:
    out: list[str] = []
    messages = [
        {"status": "Loading layer", "id": "a", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Loading layer", "id": "b", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Loading layer", "id": "a", "progressDetail": {"current": 2, "total": 2}},
    ]
    display(messages, out.append, terminal=True)
    assert "".join(out) == (
        "\n\x1b[1A\x1b[2K\ra: Loading layer       1B/2B\r\x1b[1B"
        "\n\x1b[1A\x1b[2K\rb: Loading layer       1B/2B\r\x1b[1B"
        "\x1b[2A\x1b[2K\ra: Loading layer       2B/2B\r\x1b[2B"
    )


# --- Go-style boolean flags ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-q"], (True, True)),
        (["-q=false"], (False, True)),
        (["--quiet=TRUE"], (True, True)),
        (["-H=false"], (False, False)),
        (["--human=0"], (False, False)),
        (["-H=true", "-q=t"], (True, True)),
        (["--", "-q=true"], (False, True)),
    ],
)
def test_go_style_boolean_values(args: list[str], expected: tuple[bool, bool]) -> None:
    import click
    from berth.cli.goflags import GoFlagsCommand
    from click.testing import CliRunner

    @click.command(cls=GoFlagsCommand)
    @click.option("-q", "--quiet", is_flag=True)
    @click.option("-H", "--human/--no-human", default=True)
    @click.argument("rest", nargs=-1)
    def command(quiet: bool, human: bool, rest: tuple[str, ...]) -> None:
        click.echo(f"{quiet} {human} {list(rest)}")

    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    quiet, human = expected
    assert result.stdout.startswith(f"{quiet} {human} ")


def test_go_style_value_for_a_non_boolean_stays_a_value() -> None:
    import click
    from berth.cli.goflags import GoFlagsCommand
    from click.testing import CliRunner

    @click.command(cls=GoFlagsCommand)
    @click.option("--format", "format_")
    def command(format_: str) -> None:
        click.echo(format_)

    assert CliRunner().invoke(command, ["--format=false"]).stdout == "false\n"


@pytest.mark.parametrize(
    ("layout", "headers"),
    [
        ("table " + views.IMAGE_TABLE, views.IMAGE_HEADERS),
        ("table " + views.IMAGE_TABLE_DIGESTS, views.IMAGE_HEADERS),
        ("table " + views.HISTORY_TABLE, views.HISTORY_HEADERS),
        ("table " + views.HISTORY_TABLE_NOT_HUMAN, views.HISTORY_HEADERS),
    ],
)
def test_default_tables_without_templates_are_the_same_text(
    layout: str, headers: dict[str, str]
) -> None:
    from berth.cli.format import ListFormat

    fields = views.default_fields(layout)
    assert fields is not None
    rows = [{field: f"{field.lower()}-{i}" * (i + 1) for field in fields} for i in range(3)]
    assert views.plain_table(fields, headers, rows) == ListFormat.from_option(
        layout, "", headers
    ).render(rows)


def test_fancier_layouts_go_through_the_template_engine() -> None:
    assert views.default_fields("{{.ID}}") is None
    assert views.default_fields("table {{.ID}}:{{.Tag}}") is None
    assert views.default_fields("table {{ .ID }}") is None
    assert views.default_fields("table {{.ID}}\\t{{.Tag}}") is None  # typed, not a tab
    assert views.default_fields("table {{.ID}}\t{{.Tag}}") == ["ID", "Tag"]
