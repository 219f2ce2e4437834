"""The --format template subset, the table layout and Go-like printing."""

from __future__ import annotations

from typing import Any

import pytest
from berth.cli.format import ListFormat, render_one, tabwrite
from berth.cli.template import Template, TemplateError, go_json, go_print, header_name

DATA: dict[str, Any] = {
    "Name": "overlay",
    "Status": "active",
    "Count": 3,
    "Ratio": 0.5,
    "On": True,
    "Nothing": None,
    "Tags": ["a", "b"],
    "Labels": {"z": "1", "a": "2", "com.example.x": "y"},
    "Nested": {"Inner": {"Value": "deep"}},
    "Html": "<a&b>",
}


def run(source: str, data: Any = DATA) -> str:
    return Template(source).execute(data)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{.Name}}", "overlay"),
        ("name={{.Name}} status={{ .Status }}", "name=overlay status=active"),
        ("{{.Nested.Inner.Value}}", "deep"),
        ("{{.Count}} {{.Ratio}} {{.On}}", "3 0.5 true"),
        ("{{.Nothing}}", "<no value>"),
        ("{{.Tags}}", "[a b]"),
        ("{{.Labels}}", "map[a:2 com.example.x:y z:1]"),
        ("{{json .Tags}}", '["a","b"]'),
        ("{{json .Nested}}", '{"Inner":{"Value":"deep"}}'),
        ("{{json .Html}}", '"\\u003ca\\u0026b\\u003e"'),
        ('{{index .Labels "com.example.x"}}', "y"),
        ("{{index .Tags 1}}", "b"),
        ('{{join .Tags ", "}}', "a, b"),
        ("{{.Name | upper}}", "OVERLAY"),
        ("{{upper .Name | lower}}", "overlay"),
        ("{{len .Tags}}", "2"),
        ("{{truncate .Name 4}}", "over"),
        ('{{json (index .Labels "a")}}', '"2"'),
        ("a  {{- .Name -}}  b", "aoverlayb"),
        ("{{`raw`}}", "raw"),
        ('{{"quoted\\tstring"}}', "quoted\tstring"),
    ],
)
def test_templates_render_like_go(source: str, expected: str) -> None:
    assert run(source) == expected


def test_dot_is_the_whole_value() -> None:
    assert run("{{json .}}", {"A": 1, "B": [True, None]}) == '{"A":1,"B":[true,null]}'
    assert run("{{.}}", "plain") == "plain"


def test_missing_key_is_an_error_in_gos_words() -> None:
    with pytest.raises(TemplateError) as err:
        run("{{.Nope}}")
    assert str(err.value) == (
        'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'
    )


def test_missing_keys_of_string_maps_are_empty_as_in_go() -> None:
    # Labels / Actor.Attributes are Go maps: a missing key is "", not an error
    assert run("[{{.Labels.nope}}]") == "[]"
    assert run("[{{.Empty.nope}}]", {"Empty": {}}) == "[]"
    with pytest.raises(TemplateError, match='no entry for key "Nope"'):
        run("{{.Nested.Nope}}")  # Nested has capitalised keys: a struct


def test_error_position_counts_lines_and_columns() -> None:
    with pytest.raises(TemplateError) as err:
        run("first {{.Name}}\nsecond {{.Nested.Missing}}")
    assert str(err.value).startswith('template: :2:9: executing "" at <.Nested.Missing>:')
    assert 'no entry for key "Missing"' in str(err.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.Name.Sub}}", "can't evaluate field Sub in type string"),
        ("{{.Tags.First}}", "can't evaluate field First in type []interface {}"),
        ("{{.Nothing.X}}", "nil pointer evaluating interface {}.X"),
        ("{{index .Tags 5}}", "error calling index: index out of range: 5"),
        ("{{json}}", "wrong number of args for json: want 1 got 0"),
        ("{{.Name .Status}}", "can't give argument to non-function .Name"),
    ],
)
def test_execution_errors(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        run(source)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.Name", "unclosed action"),
        ("{{nosuch .Name}}", 'function "nosuch" not defined'),
        ("{{range .Tags}}{{.}}{{end}}", '"range" actions are not supported'),
        ("{{if .On}}x{{end}}", '"if" actions are not supported'),
        ("{{$x := 1}}", "variables are not supported"),
        ("{{}}", "missing value for command"),
        ("{{(.Name}}", "unclosed left paren"),
        ("{{.Name | }}", "missing value for command"),
        ("{{ ! }}", "unexpected '!'"),
    ],
)
def test_parse_errors_are_one_clear_line(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        Template(source)
    text = str(err.value)
    assert text.startswith("template parsing error: template: :1: ")
    assert message in text


def test_go_print_and_json() -> None:
    assert go_print(None) == "<no value>"
    assert go_print([None, 1.0, {"b": 2, "a": [1]}]) == "[<nil> 1 map[a:[1] b:2]]"
    assert go_print(1e30) == "1e+30"
    assert go_json({"k": "é\u2028"}) == '{"k":"é\\u2028"}'


@pytest.mark.parametrize(
    ("field", "header"),
    [
        ("Name", "NAME"),
        ("RepoTags", "REPO TAGS"),
        ("ID", "ID"),
        ("NCPU", "NCPU"),
        ("CPUShares", "CPU SHARES"),
        ("MemTotal", "MEM TOTAL"),
    ],
)
def test_header_names(field: str, header: str) -> None:
    assert header_name(field) == header


def test_tabwrite_aligns_like_gos_tabwriter() -> None:
    lines = ["KIND\tNAME\tREASON", "storage\toverlay\t", "network\tbridge-long-name\twhy not"]
    assert tabwrite(lines, minwidth=10, padding=3) == [
        "KIND      NAME               REASON",
        "storage   overlay            ",
        "network   bridge-long-name   why not",
    ]


def test_tabwrite_columns_break_at_lines_without_the_column() -> None:
    lines = ["a\tb", "no tabs here", "longer-cell\tc"]
    assert tabwrite(lines, minwidth=0, padding=1) == ["a b", "no tabs here", "longer-cell c"]


def test_list_format_default_table() -> None:
    items = [{"Name": "overlay", "Status": "active"}, {"Name": "vfs", "Status": "ready"}]
    layout = ListFormat.from_option(None, "{{.Name}}\t{{.Status}}")
    assert layout.render(items) == "NAME      STATUS\noverlay   active\nvfs       ready\n"


def test_list_format_table_with_escaped_tabs_and_header_names() -> None:
    items = [{"Name": "overlay", "Kind": "storage"}]
    layout = ListFormat.from_option("table {{.Kind}}\\t{{.Name}}", "", names={"Kind": "TYPE"})
    assert layout.render(items) == "TYPE      NAME\nstorage   overlay\n"


def test_list_format_plain_and_json() -> None:
    items = [{"Name": "a", "N": 1}, {"Name": "b", "N": 2}]
    assert ListFormat.from_option("{{.Name}}={{.N}}", "").render(items) == "a=1\nb=2\n"
    assert ListFormat.from_option("json", "").render(items) == (
        '{"Name":"a","N":1}\n{"Name":"b","N":2}\n'
    )
    assert ListFormat.from_option("table", "{{.Name}}").render(items) == "NAME\na\nb\n"


def test_list_format_rejects_a_bad_template_before_any_output() -> None:
    with pytest.raises(TemplateError):
        ListFormat.from_option("{{.Name", "")


def test_render_one() -> None:
    assert render_one("{{.Name}}", DATA) == "overlay\n"
    assert render_one("json", {"A": 1}) == '{"A":1}\n'
