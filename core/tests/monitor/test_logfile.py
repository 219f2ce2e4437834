"""The json-file log: Docker's entry format, line splitting, rotation, and its options."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from berth.monitor.logfile import MAX_LINE, JsonFileLog, parse_log_options, parse_size

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def entries(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_entry_per_line_in_dockers_format(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "c-json.log"))
    log.write(1, b"hi\nthere\n")
    log.write(2, b"oops\n")
    log.close()
    raw = (tmp_path / "c-json.log").read_text().splitlines()
    assert raw[0].startswith('{"log":"hi\\n","stream":"stdout","time":"')
    got = entries(tmp_path / "c-json.log")
    assert [(e["log"], e["stream"]) for e in got] == [
        ("hi\n", "stdout"),
        ("there\n", "stdout"),
        ("oops\n", "stderr"),
    ]
    assert all(TIME_RE.match(e["time"]) for e in got)
    assert list(got[0]) == ["log", "stream", "time"]


def test_partial_lines_wait_for_their_end_per_stream(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "l"))
    log.write(1, b"hel")
    log.write(2, b"err")
    log.write(1, b"lo\nwor")
    log.write(2, b"or\n")
    log.close()  # the unfinished "wor" is logged as it is
    got = [(e["stream"], e["log"]) for e in entries(tmp_path / "l")]
    assert got == [("stdout", "hello\n"), ("stderr", "error\n"), ("stdout", "wor")]


def test_long_lines_are_cut_into_pieces(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "l"))
    log.write(1, b"x" * (MAX_LINE * 2 + 10) + b"\n")
    log.close()
    pieces = [e["log"] for e in entries(tmp_path / "l")]
    assert [len(p) for p in pieces] == [MAX_LINE, MAX_LINE, 11]
    assert "".join(pieces) == "x" * (MAX_LINE * 2 + 10) + "\n"


def test_bytes_that_are_not_utf8_and_control_characters(tmp_path: Path) -> None:
    log = JsonFileLog(str(tmp_path / "l"))
    log.write(1, b'caf\xc3\xa9 \xff "q" \\ \x1b[0m\ttab\r\n')
    log.close()
    (got,) = entries(tmp_path / "l")
    assert got["log"] == 'café \ufffd "q" \\ \x1b[0m\ttab\r\n'


def test_appends_to_an_existing_log(tmp_path: Path) -> None:
    for word in (b"one\n", b"two\n"):
        log = JsonFileLog(str(tmp_path / "l"))
        log.write(1, word)
        log.close()
    assert [e["log"] for e in entries(tmp_path / "l")] == ["one\n", "two\n"]


def test_rotation_keeps_max_file_files_named_like_dockers(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=200, max_file=3)
    for n in range(40):
        log.write(1, f"line {n:02d}\n".encode())
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    newest, older, oldest = (entries(tmp_path / n) for n in names)
    lines = [e["log"] for e in oldest + older + newest]
    # Kept lines are the last ones, in order, without a gap.
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 40))
    assert numbers[0] > 0  # the oldest were dropped
    for name in names[1:]:
        size = (tmp_path / name).stat().st_size
        entry_size = len((tmp_path / name).read_text().splitlines()[0]) + 1
        # A file is rotated once it has reached max-size, so it is at most one entry over.
        assert 200 <= size < 200 + entry_size


def test_max_file_1_empties_the_file_instead(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=100, max_file=1)
    for n in range(20):
        log.write(1, f"line {n}\n".encode())
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["c-json.log"]
    assert path.stat().st_size < 200
    assert entries(path)[-1]["log"] == "line 19\n"


def test_one_write_with_many_lines_rotates_between_them(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    log = JsonFileLog(str(path), max_size=300, max_file=2)
    log.write(2, b"".join(f"row {n}\n".encode() for n in range(30)))
    log.close()
    assert path.stat().st_size < 400
    assert (tmp_path / "c-json.log.1").stat().st_size < 400
    assert entries(path)[-1]["log"] == "row 29\n"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10", 10),
        ("1k", 1024),
        ("10m", 10 << 20),
        ("10M", 10 << 20),
        ("10mb", 10 << 20),
        ("3 MiB", 3 << 20),
        ("1.5g", 3 << 29),
        ("2KB", 2048),
    ],
)
def test_sizes_as_docker_reads_them(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "m", "10x", "-1m", "1.2.3m", "10 m b", "ten", "10mm"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


def test_log_options() -> None:
    assert parse_log_options({}) == (-1, 1)
    assert parse_log_options({"max-size": "1m", "max-file": "3"}) == (1 << 20, 3)
    assert parse_log_options({"max-size": "10k", "compress": "false"}) == (10240, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max-size": "lots"}, "invalid max-size 'lots'"),
        ({"max-size": "0"}, "must be positive"),
        ({"max-file": "0", "max-size": "1m"}, "invalid max-file '0'"),
        ({"max-file": "many", "max-size": "1m"}, "invalid max-file"),
        ({"max-file": "3"}, "max-file cannot be used without max-size"),
        ({"compress": "true", "max-size": "1m"}, "compress is not supported"),
        ({"mode": "non-blocking"}, "unknown log opt 'mode' for json-file log driver"),
    ],
)
def test_bad_log_options_say_what_is_wrong(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_log_options(options)
    assert "\n" not in str(caught.value)
