"""The image commands against the fake daemon: docker's output shapes, queries and bad inputs.

`images`, `image ls`, `inspect`, `history`, `tag`, `rmi`, `image prune` and `system df`; the
streaming commands (`save`, `load`, `import`) are in test_cli_image_streams.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from click.testing import Result

Berth = Callable[..., Result]

BUSYBOX_ID = "sha256:bb7ba331993d422fa2f1e25778861765931790d3e776cd926e304f2734603c71"
APP_ID = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
DANGLING_ID = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
DIGEST = "sha256:" + "d" * 64
WEEK = 7 * 86400


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def sample_images(now: float) -> list[dict[str, Any]]:
    return [
        {
            "Id": APP_ID,
            "ParentId": "",
            "RepoTags": ["localhost:5000/me/app:v1"],
            "RepoDigests": [],
            "Created": int(now) - 90,
            "Size": 123456789,
            "SharedSize": -1,
            "Labels": {},
            "Containers": -1,
        },
        {
            "Id": BUSYBOX_ID,
            "ParentId": "",
            "RepoTags": ["busybox:latest", "busybox:1.35"],
            "RepoDigests": [f"busybox@{DIGEST}"],
            "Created": int(now) - 3 * WEEK - 100,
            "Size": 4261550,
            "SharedSize": -1,
            "Labels": None,
            "Containers": -1,
        },
        {
            "Id": DANGLING_ID,
            "ParentId": "",
            "RepoTags": [],
            "RepoDigests": [],
            "Created": 1700000000,
            "Size": 0,
            "SharedSize": -1,
            "Labels": {},
            "Containers": -1,
        },
    ]


INSPECT_BUSYBOX: dict[str, Any] = {
    "Id": BUSYBOX_ID,
    "RepoTags": ["busybox:latest"],
    "RepoDigests": [],
    "Parent": "",
    "Comment": "<imported>",
    "Created": "2023-11-14T22:13:20Z",
    "Config": {"Cmd": ["sh"], "Env": None, "Labels": {}},
    "Architecture": "amd64",
    "Os": "linux",
    "Size": 4261550,
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "a" * 64]},
}


@pytest.fixture
def images_daemon(daemon: Any, fakes: ModuleType) -> Any:
    now = time.time()
    daemon.routes[("GET", "/images/json")] = fakes.Reply(body=sample_images(now))

    def inspect(request: Any) -> Any:
        return fakes.Reply(body=INSPECT_BUSYBOX)

    def missing(name: str) -> Any:
        return fakes.Reply(404, {"message": f"No such image: {name}"})

    daemon.routes[("GET", "/images/busybox/json")] = inspect
    daemon.routes[("GET", "/images/nope/json")] = missing("nope:latest")
    daemon.routes[("GET", "/images/busybox/history")] = fakes.Reply(
        body=[
            {
                "Id": BUSYBOX_ID,
                "Created": int(now) - 2 * 3600,
                "CreatedBy": '/bin/sh -c #(nop)\tCMD ["sh"] and a long tail of words here',
                "Tags": ["busybox:latest"],
                "Size": 0,
                "Comment": "",
            },
            {
                "Id": "<missing>",
                "Created": int(now) - 2 * 3600 - 5,
                "CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ",
                "Tags": None,
                "Size": 4261550,
                "Comment": "imported",
            },
        ]
    )
    daemon.routes[("GET", "/images/nope/history")] = missing("nope:latest")
    return daemon


# --- images -------------------------------------------------------------------------------------


def test_images_default_table(berth: Berth, images_daemon: Any) -> None:
    result = berth("images")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "REPOSITORY              TAG       IMAGE ID       CREATED              SIZE\n"
        "localhost:5000/me/app   v1        0123456789ab   About a minute ago   123MB\n"
        "busybox                 latest    bb7ba331993d   3 weeks ago          4.26MB\n"
        "busybox                 1.35      bb7ba331993d   3 weeks ago          4.26MB\n"
        "<none>                  <none>    fedcba987654   3 years ago          0B\n"
    )
    request = images_daemon.requests[-1]
    assert request.path == "/images/json" and "all" not in request.query
    assert "filters" not in request.query


def test_images_is_image_ls(berth: Berth, images_daemon: Any) -> None:
    assert berth("image", "ls").stdout == berth("images").stdout
    assert berth("image", "list").stdout == berth("images").stdout


def test_images_quiet_repeats_ids_per_tag(berth: Berth, images_daemon: Any) -> None:
    assert berth("images", "-q").stdout == (
        "0123456789ab\nbb7ba331993d\nbb7ba331993d\nfedcba987654\n"
    )
    lines = berth("images", "-q", "--no-trunc").stdout.splitlines()
    assert lines == [APP_ID, BUSYBOX_ID, BUSYBOX_ID, DANGLING_ID]


def test_images_digests_column(berth: Berth, images_daemon: Any) -> None:
    lines = berth("images", "--digests").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[2].split()[:4] == ["busybox", "latest", DIGEST, "bb7ba331993d"]
    assert lines[1].split()[:3] == ["localhost:5000/me/app", "v1", "<none>"]


def test_images_format_json_has_dockers_fields(berth: Berth, images_daemon: Any) -> None:
    result = berth("images", "--format", "json")
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    first = json.loads(lines[1])
    assert list(first) == sorted(first)  # Go writes a map's keys sorted
    assert first == {
        "Containers": "N/A",
        "CreatedAt": first["CreatedAt"],
        "CreatedSince": "3 weeks ago",
        "Digest": "<none>",
        "ID": "bb7ba331993d",
        "Repository": "busybox",
        "SharedSize": "N/A",
        "Size": "4.26MB",
        "Tag": "latest",
        "UniqueSize": "N/A",
        "VirtualSize": "4.262MB",
    }
    assert "\\u003cnone\\u003e" in lines[1]  # < and > escaped as Go does


def test_images_format_created_at_is_gos_time_string(
    berth: Berth, images_daemon: Any, utc: None
) -> None:
    lines = berth("images", "--format", "{{.CreatedAt}}").stdout.splitlines()
    assert lines[-1] == "2023-11-14 22:13:20 +0000 UTC"


def test_images_custom_table_and_template(berth: Berth, images_daemon: Any) -> None:
    out = berth("images", "--format", "table {{.Repository}}:{{.Tag}}\t{{.Size}}").stdout
    assert out.splitlines()[:2] == [
        "REPOSITORY:TAG             SIZE",
        "localhost:5000/me/app:v1   123MB",
    ]
    plain = berth("images", "--format", "{{.Repository}} {{.ID}}").stdout
    assert plain.splitlines()[0] == "localhost:5000/me/app 0123456789ab"
    with_digest = berth("images", "--digests", "--format", "table {{.Tag}}").stdout
    assert with_digest.splitlines()[0].split() == ["TAG", "DIGEST"]


def test_images_filters_reference_and_all(berth: Berth, images_daemon: Any) -> None:
    result = berth("images", "-a", "-f", "dangling=true", "--filter", "Label = a=b ", "busybox")
    assert result.exit_code == 0
    query = images_daemon.requests[-1].query
    assert query["all"] == ["1"]
    assert json.loads(query["filters"][0]) == {
        "dangling": {"true": True},
        "label": {"a=b": True},
        "reference": {"busybox": True},
    }


def test_images_go_style_boolean_values(berth: Berth, images_daemon: Any) -> None:
    assert berth("images", "--no-trunc=true", "-q").stdout.splitlines()[0] == APP_ID
    assert berth("images", "--no-trunc=false", "-q=1").stdout.splitlines()[0] == "0123456789ab"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("images", "-f", "dangling"), "bad format of filter (expected name=value)"),
        (("images", "a", "b"), "Got unexpected extra argument (b)"),
        (("images", "--format", "{{.Nope}}"), 'map has no entry for key "Nope"'),
        (("images", "--format", "{{.ID"), "unclosed action"),
    ],
)
def test_images_bad_input(
    berth: Berth, images_daemon: Any, args: tuple[str, ...], message: str
) -> None:
    result = berth(*args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_images_daemon_error_is_one_line(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/images/json")] = fakes.Reply(
        400, {"message": "invalid filter 'colour'"}
    )
    result = berth("images", "-f", "colour=red")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error response from daemon: invalid filter 'colour'\n"


def test_images_empty(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/images/json")] = fakes.Reply(body=[])
    assert berth("images").stdout == "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"


# --- inspect ------------------------------------------------------------------------------------


def test_image_inspect_is_a_4_space_indented_array(berth: Berth, images_daemon: Any) -> None:
    result = berth("image", "inspect", "busybox")
    assert result.exit_code == 0
    assert result.stdout.startswith('[\n    {\n        "Id": "sha256:bb7b')
    assert '        "Comment": "\\u003cimported\\u003e",\n' in result.stdout
    assert '            "Env": null,\n' in result.stdout
    assert '            "Labels": {}\n' in result.stdout
    assert json.loads(result.stdout) == [INSPECT_BUSYBOX]


def test_inspect_format_and_json(berth: Berth, images_daemon: Any) -> None:
    assert berth("inspect", "-f", "{{.Id}} {{.Os}}", "busybox").stdout == f"{BUSYBOX_ID} linux\n"
    assert berth("image", "inspect", "--format", "{{json .Config.Cmd}}", "busybox").stdout == (
        '["sh"]\n'
    )
    compact = berth("image", "inspect", "--format", "json", "busybox").stdout
    assert compact.count("\n") == 1 and json.loads(compact) == [INSPECT_BUSYBOX]


def test_image_inspect_missing_prints_what_it_found_then_fails(
    berth: Berth, images_daemon: Any
) -> None:
    result = berth("image", "inspect", "nope", "busybox")
    assert result.exit_code == 1
    assert json.loads(result.stdout)[0]["Id"] == BUSYBOX_ID
    assert result.stderr == "Error response from daemon: No such image: nope:latest\n"
    only_missing = berth("image", "inspect", "nope")
    assert (only_missing.exit_code, only_missing.stdout) == (1, "[]\n")


def test_inspect_without_type_says_no_such_object(berth: Berth, images_daemon: Any) -> None:
    result = berth("inspect", "nope")
    assert (result.exit_code, result.stdout) == (1, "[]\n")
    assert result.stderr == "Error: No such object: nope\n"
    typed = berth("inspect", "--type", "image", "nope")
    assert typed.stderr == "Error response from daemon: No such image: nope:latest\n"


@pytest.mark.parametrize(
    ("type_", "message"),
    [
        ("container", "Error response from daemon: page not found: /containers/x/json"),
        ("bogus", 'unknown type: "bogus": must be one of "config", "container"'),
    ],
)
def test_inspect_other_types(berth: Berth, images_daemon: Any, type_: str, message: str) -> None:
    result = berth("inspect", "--type", type_, "x")
    assert result.exit_code == 1 and message in result.stderr


def test_inspect_needs_a_name(berth: Berth) -> None:
    result = berth("image", "inspect")
    assert result.exit_code == 2 and "Missing argument" in result.stderr


# --- history ------------------------------------------------------------------------------------


def test_history_table(berth: Berth, images_daemon: Any) -> None:
    result = berth("history", "busybox")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "IMAGE          CREATED       CREATED BY                                      SIZE      "
        "COMMENT",
        'bb7ba331993d   2 hours ago   /bin/sh -c #(nop) CMD ["sh"] and a long tail…   0B        ',
        "<missing>      2 hours ago   /bin/sh -c #(nop) ADD file:abc in /             4.26MB    "
        "imported",
    ]
    assert berth("image", "history", "busybox").stdout == result.stdout


def test_history_not_human_no_trunc_quiet(berth: Berth, images_daemon: Any, utc: None) -> None:
    raw = berth("history", "-H=false", "busybox").stdout.splitlines()
    assert raw[0].split()[:4] == ["IMAGE", "CREATED", "AT", "CREATED"]
    assert raw[2].split()[-2:] == ["4261550", "imported"]
    assert raw[2].split()[1].endswith("Z")
    assert berth("history", "--human=false", "busybox").stdout.splitlines() == raw
    assert berth("history", "--no-human", "busybox").stdout.splitlines() == raw
    full = berth("history", "--no-trunc", "busybox").stdout
    assert BUSYBOX_ID in full and "and a long tail of words here" in full
    assert berth("history", "-q", "busybox").stdout == "bb7ba331993d\n<missing>\n"


def test_history_format_json(berth: Berth, images_daemon: Any) -> None:
    first = json.loads(berth("history", "--format", "json", "busybox").stdout.splitlines()[0])
    assert sorted(first) == ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"]
    assert first["CreatedSince"] == "2 hours ago" and first["Size"] == "0B"


def test_history_of_a_missing_image(berth: Berth, images_daemon: Any) -> None:
    result = berth("history", "nope")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error response from daemon: No such image: nope:latest\n"


# --- tag ----------------------------------------------------------------------------------------


def test_tag_sends_repo_and_tag(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/images/busybox/tag")] = fakes.Reply(201, "")
    result = berth("tag", "busybox", "localhost:5000/me/bb:v2")
    assert (result.exit_code, result.output) == (0, "")
    query = daemon.requests[-1].query
    assert query == {"repo": ["localhost:5000/me/bb"], "tag": ["v2"]}
    assert berth("image", "tag", "busybox", "mine").exit_code == 0
    assert daemon.requests[-1].query == {"repo": ["docker.io/library/mine"], "tag": ["latest"]}


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        (
            "busybox",
            "Bad/Name",
            'Error parsing reference: "Bad/Name" is not a valid repository/tag: '
            "invalid reference format: repository name (Name) must be lowercase",
        ),
        (
            "busybox",
            "x:-tag",
            'Error parsing reference: "x:-tag" is not a valid repository/tag: '
            "invalid reference format",
        ),
        ("busybox", f"x@{DIGEST}", "refusing to create a tag with a digest reference"),
        (
            "busy!",
            "x",
            'Error parsing reference: "busy!" is not a valid repository/tag: '
            "invalid reference format",
        ),
    ],
)
def test_tag_bad_references_are_refused_before_asking(
    berth: Berth, daemon: Any, source: str, target: str, message: str
) -> None:
    result = berth("tag", source, target)
    assert (result.exit_code, result.stderr) == (1, message + "\n")
    assert daemon.requests == []


def test_tag_missing_source(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/images/nope/tag")] = fakes.Reply(
        404, {"message": "No such image: nope:latest"}
    )
    result = berth("tag", "nope", "x")
    assert result.stderr == "Error response from daemon: No such image: nope:latest\n"
    assert result.exit_code == 1


# --- rmi ----------------------------------------------------------------------------------------


@pytest.fixture
def rmi_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("DELETE", "/images/busybox")] = fakes.Reply(
        body=[{"Untagged": "busybox:latest"}, {"Deleted": BUSYBOX_ID}, {"Deleted": DIGEST}]
    )
    daemon.routes[("DELETE", "/images/nope")] = fakes.Reply(
        404, {"message": "No such image: nope:latest"}
    )
    daemon.routes[("DELETE", "/images/used")] = fakes.Reply(
        409, {"message": 'conflict: unable to remove repository reference "used"'}
    )
    return daemon


def test_rmi_prints_untagged_and_deleted(berth: Berth, rmi_daemon: Any) -> None:
    result = berth("rmi", "busybox")
    assert result.exit_code == 0
    assert result.stdout == (
        f"Untagged: busybox:latest\nDeleted: {BUSYBOX_ID}\nDeleted: {DIGEST}\n"
    )
    assert rmi_daemon.requests[-1].query == {}
    berth("image", "rm", "-f", "--no-prune", "busybox")
    assert rmi_daemon.requests[-1].query == {"force": ["1"], "noprune": ["1"]}


def test_rmi_missing_fails_but_goes_on(berth: Berth, rmi_daemon: Any) -> None:
    result = berth("rmi", "nope", "busybox")
    assert result.exit_code == 1
    assert result.stdout.startswith("Untagged: busybox:latest\n")
    assert result.stderr == "Error response from daemon: No such image: nope:latest\n"


def test_rmi_force_forgives_only_missing_images(berth: Berth, rmi_daemon: Any) -> None:
    forgiven = berth("rmi", "-f", "nope")
    assert forgiven.exit_code == 0
    assert forgiven.stderr == "Error response from daemon: No such image: nope:latest\n"
    conflict = berth("rmi", "-f", "nope", "used")
    assert conflict.exit_code == 1
    assert conflict.stderr.splitlines() == [
        "Error response from daemon: No such image: nope:latest",
        'Error response from daemon: conflict: unable to remove repository reference "used"',
    ]


# --- prune --------------------------------------------------------------------------------------


@pytest.fixture
def prune_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("POST", "/images/prune")] = fakes.Reply(
        body={
            "ImagesDeleted": [{"Untagged": "old:1"}, {"Deleted": DANGLING_ID}],
            "SpaceReclaimed": 4261550,
        }
    )
    return daemon


def test_prune_asks_first_and_no_means_nothing_happens(berth: Berth, prune_daemon: Any) -> None:
    result = berth("image", "prune", input="n\n")
    assert result.exit_code == 0
    assert result.stdout == (
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    )
    assert prune_daemon.requests == []
    assert berth("image", "prune", input="").exit_code == 0  # end of input is a no
    assert prune_daemon.requests == []


def test_prune_yes_reports_what_went(berth: Berth, prune_daemon: Any) -> None:
    result = berth("image", "prune", input=" Y \n")
    assert result.exit_code == 0
    assert result.stdout.endswith(
        "[y/N] Deleted Images:\nuntagged: old:1\ndeleted: "
        f"{DANGLING_ID}\n\nTotal reclaimed space: 4.262MB\n"
    )
    filters = json.loads(prune_daemon.requests[-1].query["filters"][0])
    assert filters == {"dangling": {"true": True}}


def test_prune_all_force_and_filters(berth: Berth, prune_daemon: Any, fakes: ModuleType) -> None:
    prune_daemon.routes[("POST", "/images/prune")] = fakes.Reply(
        body={"ImagesDeleted": None, "SpaceReclaimed": 0}
    )
    result = berth("image", "prune", "-a", "-f", "--filter", "until=24h", "--filter", "label=a")
    assert (result.exit_code, result.stdout) == (0, "Total reclaimed space: 0B\n")
    filters = json.loads(prune_daemon.requests[-1].query["filters"][0])
    assert filters == {"until": {"24h": True}, "label": {"a": True}, "dangling": {"false": True}}
    asked = berth("image", "prune", "--all", input="n\n").stdout
    assert "remove all images without at least one container associated to them" in asked


def test_prune_daemon_error(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/images/prune")] = fakes.Reply(
        400, {"message": "invalid filter 'bogus'"}
    )
    result = berth("image", "prune", "-f", "--filter", "bogus=1")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: invalid filter 'bogus'\n",
    )


# --- system df ----------------------------------------------------------------------------------


@pytest.fixture
def df_daemon(daemon: Any, fakes: ModuleType) -> Any:
    now = time.time()
    images = sample_images(now)[:2]
    images[0]["SharedSize"] = 0
    images[1]["SharedSize"] = 0
    images[0]["Containers"] = 0
    images[1]["Containers"] = 0
    daemon.routes[("GET", "/system/df")] = fakes.Reply(
        body={
            "LayersSize": 127718339,
            "Images": images,
            "Containers": [],
            "Volumes": [],
            "BuildCache": [],
            "BuilderSize": 0,
        }
    )
    return daemon


def test_system_df_table(berth: Berth, df_daemon: Any) -> None:
    result = berth("system", "df")
    assert result.exit_code == 0
    assert result.stdout == (
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"
        "Images          2         0         127.7MB   127.7MB (100%)\n"
        "Containers      0         0         0B        0B\n"
        "Local Volumes   0         0         0B        0B\n"
        "Build Cache     0         0         0B        0B\n"
    )


def test_system_df_verbose(berth: Berth, df_daemon: Any) -> None:
    out = berth("system", "df", "-v").stdout
    assert out.startswith("Images space usage:\n\nREPOSITORY              TAG ")
    lines = out.splitlines()
    assert lines[4].split()[:3] == ["busybox", "latest", "bb7ba331993d"]  # first tag only
    assert len([line for line in lines if line.startswith("busybox")]) == 1
    assert "\nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES" in out
    assert "\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n" in out
    assert out.endswith(
        "\nBuild cache usage: 0B\n\n"
        "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
    )


def test_system_df_formats(berth: Berth, df_daemon: Any) -> None:
    rows = [
        json.loads(line) for line in berth("system", "df", "--format", "json").stdout.splitlines()
    ]
    assert rows[0] == {
        "Active": "0",
        "Reclaimable": "127.7MB (100%)",
        "Size": "127.7MB",
        "TotalCount": "2",
        "Type": "Images",
    }
    assert berth("system", "df", "--format", "{{.Type}}: {{.Size}}").stdout.splitlines()[-1] == (
        "Build Cache: 0B"
    )
    verbose = json.loads(berth("system", "df", "-v", "--format", "json").stdout)
    assert list(verbose) == ["Images", "Containers", "Volumes", "BuildCache"]
    assert verbose["Images"][0]["ID"] == APP_ID and verbose["Images"][0]["Digest"] == ""


def test_inspect_bad_template_fails_before_asking(berth: Berth, images_daemon: Any) -> None:
    result = berth("image", "inspect", "-f", "{{.Id", "busybox")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "template parsing error: template: :1: unclosed action\n"
    assert images_daemon.requests == []
