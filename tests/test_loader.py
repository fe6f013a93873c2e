"""Unit tests of the scenario loader: YAML with positions, overrides, messages, round trip."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipesim.scenario import yaml_io
from pipesim.scenario.edit import KeyPath, format_path
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.loader import (
    apply_overrides,
    dump_scenario,
    load_scenario,
    parse_override,
    validate,
)
from pipesim.scenario.schema import Scenario
from pipesim.scenario.yaml_io import read_yaml

MINIMAL = {"name": "t", "target": {"revenue": 1_000_000}}

RICH = """\
name: rich
description: every kind of block, for the round trip
target: {revenue: 3_000_000, horizon_weeks: 26, start_date: 2026-07-01, rep_quota: 250000}
criteria: [functionality, price, service, risk]
competitors:
  Acme: {presence: 0.8, scores: {functionality: 8, price: 5, service: 6, risk: 7}}
  Globex: {presence: 0.4}
segments:
  SMB: {buyers_per_week: 12, competitors: [Acme]}
  "yes": {buyers_per_week: 1.5, deal_size: {mean: 250000, cv: 0.8}}
campaigns:
  webinar: {segments: {SMB: 0.7, "yes": 0.3}, end_week: 20}
leads:
  referrals: {per_week: 1.0, segments: {SMB: 1}}
reps:
  members:
    - {name: Ann, skill: 1.3}
    - {name: Bob, tenure_weeks: 2}
qualification: {policy: pursue_all, checks: [budget]}
open_pipeline:
  - {segment: SMB, stage: decision, count: 3, value: 40000, days_in_stage: 5}
  - {segment: "yes", engaged_early: false}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(exc_info: pytest.ExceptionInfo[ScenarioError]) -> list[Problem]:
    return exc_info.value.problems


def only_problem(data: Any, **kwargs: Any) -> Problem:
    with pytest.raises(ScenarioError) as exc:
        validate(data, "s.yaml", **kwargs)
    assert len(problems(exc)) == 1, str(exc.value)
    return problems(exc)[0]


# --------------------------------------------------------------------------- parse_override
@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("reps.count=12", ["reps", "count"], 12),
        ("segments.S1.inbound_share=0.4", ["segments", "S1", "inbound_share"], 0.4),
        ("open_pipeline.0.count=3", ["open_pipeline", "0", "count"], 3),
        ("open_pipeline.1.engaged_early=false", ["open_pipeline", "1", "engaged_early"], False),
        ("criteria=[price, risk]", ["criteria"], ["price", "risk"]),
        ("reps={count: 3, hours_per_week: 38}", ["reps"], {"count": 3, "hours_per_week": 38}),
        ("target.start_date=2026-03-01", ["target", "start_date"], dt.date(2026, 3, 1)),
        ("name='12'", ["name"], "12"),
        ("name=Q3 plan", ["name"], "Q3 plan"),
        ("description=", ["description"], ""),
        ("campaigns.webinar.end_week=null", ["campaigns", "webinar", "end_week"], None),
        (" reps.count = 7", ["reps", "count"], 7),
        ("description=a=b", ["description"], "a=b"),
    ],
)
def test_parse_override_yaml_typed(text: str, path: list[str], value: Any) -> None:
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("reps.count", "must look like dotted.key=value"),
        ("=3", "empty key part"),
        ("reps..count=3", "empty key part"),
        ("reps.=3", "empty key part"),
        ("reps.count=[1, 2", "not valid YAML"),
        ("reps={count: 1, count: 2}", "duplicated key"),
        ("name=!!python/object:os.system x", "not valid YAML"),
    ],
)
def test_parse_override_rejects(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="override") as exc:
        parse_override(text)
    assert says in str(exc.value)


# --------------------------------------------------------------------------- apply_overrides
def test_apply_overrides_list_index_and_origins() -> None:
    data = {**MINIMAL, "open_pipeline": [{"segment": "S1"}, {"segment": "S2", "count": 1}]}
    origins: dict[KeyPath, str] = {}
    out = apply_overrides(data, ["open_pipeline.1.count=3", "reps.count=4"], origins)
    assert out["open_pipeline"][1] == {"segment": "S2", "count": 3}
    assert out["reps"] == {"count": 4}
    assert data["open_pipeline"][1]["count"] == 1 and "reps" not in data  # input untouched
    assert origins[("open_pipeline", 1, "count")] == "--set open_pipeline.1.count=3"
    assert origins[("reps",)] == "--set reps.count=4"  # created by the override


def test_later_override_wins() -> None:
    out = apply_overrides(MINIMAL, ["reps.count=4", "reps.count=5"], {})
    assert out["reps"]["count"] == 5


@pytest.mark.parametrize(
    ("data", "override", "says"),
    [
        ({"open_pipeline": [{"segment": "S1"}]}, "open_pipeline.2.count=3", "from 0 to 0"),
        ({"open_pipeline": [{"segment": "S1"}]}, "open_pipeline.x.count=3", "list index 'x'"),
        ({"open_pipeline": []}, "open_pipeline.0.count=3", "empty list"),
        ({}, "open_pipeline.0.count=3", "set the whole list instead"),
        ({"name": "t"}, "name.first=3", "name is a single value, not a mapping"),
        ({}, "reps", "must look like dotted.key=value"),
    ],
)
def test_apply_overrides_errors_name_the_override(
    data: dict[str, Any], override: str, says: str
) -> None:
    with pytest.raises(ScenarioError) as exc:
        apply_overrides(data, [override], {})
    (problem,) = problems(exc)
    assert problem.origin == f"--set {override}"
    assert says in problem.message
    assert str(exc.value).startswith(f"--set {override}: ")


# --------------------------------------------------------------------------- overrides == file
def _file_problem(tmp_path: Path, text: str) -> Problem:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, text, "file.yaml"))
    (problem,) = problems(exc)
    return problem


def _override_problem(tmp_path: Path, override: str) -> Problem:
    base = write(tmp_path, "name: t\ntarget: {revenue: 1000000}\nreps: {count: 3}\n", "base.yaml")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(base, [override])
    (problem,) = problems(exc)
    return problem


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ("reps.cuont=12", "reps: {count: 3, cuont: 12}"),
        ("reps.count=twelve", "reps: {count: twelve}"),
        ("reps.admin_share=1.5", "reps: {count: 3, admin_share: 1.5}"),
        (
            "segments.S1.competitors=[Acme]",
            "reps: {count: 3}\nsegments: {S1: {competitors: [Acme]}}",
        ),
        ("us.scores.prise=4", "reps: {count: 3}\nus: {scores: {prise: 4}}"),
        ("qualification.policy=pursue_al", "reps: {count: 3}\nqualification: {policy: pursue_al}"),
    ],
)
def test_override_validates_exactly_like_the_file(tmp_path: Path, override: str, text: str) -> None:
    from_file = _file_problem(tmp_path, "name: t\ntarget: {revenue: 1000000}\n" + text + "\n")
    from_override = _override_problem(tmp_path, override)
    assert from_override.path == from_file.path
    assert from_override.message == from_file.message
    assert from_override.origin == f"--set {override}" and from_override.line is None
    assert from_file.origin is None and from_file.line is not None


def test_override_replacing_a_block_is_blamed_not_the_file(tmp_path: Path) -> None:
    base = write(tmp_path, "name: t\ntarget: {revenue: 1}\nreps:\n  count: 3\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(base, ["reps={count: abc}"])
    (problem,) = problems(exc)
    assert problem.path == ("reps", "count")
    assert problem.origin == "--set reps={count: abc}"


def test_plan_overlay_is_blamed_with_its_own_line(tmp_path: Path) -> None:
    base = write(tmp_path, "name: t\ntarget: {revenue: 1}\nreps:\n  count: 3\n")
    plan = write(tmp_path, "# plan\nreps:\n  count: 0\n", "plan.yaml")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(base, plan=plan)
    (problem,) = problems(exc)
    assert str(exc.value) == f"{plan}:3:3: reps.count: must be between 1 and 1000 (got 0)"
    assert problem.path == ("reps", "count")


def test_overrides_and_plan_apply(tmp_path: Path) -> None:
    base = write(tmp_path, "name: t\ntarget: {revenue: 1}\nreps:\n  count: 3\n")
    plan = write(tmp_path, "reps:\n  count: 5\n  hours_per_week: 38\n", "plan.yaml")
    sc = load_scenario(base, ["reps.count=7", "target.revenue=2e6"], plan=plan)
    assert (sc.reps.count, sc.reps.hours_per_week, sc.target.revenue) == (7, 38, 2e6)


# --------------------------------------------------------------------------- YAML reading
def test_read_yaml_records_key_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ntarget:\n  revenue: 1\nopen_pipeline:\n  - segment: S1\n")
    data, marks = read_yaml(path)
    assert data["open_pipeline"] == [{"segment": "S1"}]
    assert marks[("target", "revenue")] == (3, 3)
    assert marks[("open_pipeline", 0)] == (5, 5)
    assert marks[("open_pipeline", 0, "segment")] == (5, 5)


@pytest.mark.parametrize(
    ("text", "path", "line", "first"),
    [
        ("name: a\nname: b\n", ("name",), 2, 1),
        ("name: t\nreps:\n  count: 3\n  skill_sd: 0.2\n  count: 4\n", ("reps", "count"), 5, 3),
        ("open_pipeline:\n  - segment: A\n    segment: B\n", ("open_pipeline", 0, "segment"), 3, 2),
        ("segments: {S1: {}, S1: {}}\n", ("segments", "S1"), 1, 1),
    ],
)
def test_duplicate_keys_are_rejected(
    tmp_path: Path, text: str, path: tuple[Any, ...], line: int, first: int
) -> None:
    with pytest.raises(ScenarioError) as exc:
        read_yaml(write(tmp_path, text))
    (problem,) = problems(exc)
    assert (problem.path, problem.line) == (path, line)
    assert f"duplicated key (first given on line {first})" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("name: t\ntarget:\n\trevenue: 1\n", 3, "indent with spaces, not tabs"),
        ("name: t\nreps: {count: 3\n", 3, "flow mapping on line 2"),
        ("name: !!python/object/apply:os.system [ls]\n", 1, "YAML tags (!!...) are not allowed"),
        ("name: t\nreps:\n  count: 3\n   hours_per_week: 3\n", 4, "mapping values are not allowed"),
        ("name: t\x01\n", 1, "unacceptable character #x0001"),
        ("base: &b {count: 3}\nreps:\n  <<: *b\n", 3, "merge keys (<<) are not supported"),
        ("name: t\nloop: &a [1, *a]\n", 2, "an alias refers to itself"),
        ("{[1]: 2}\n", 1, "keys must be plain names"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, line: int, says: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        read_yaml(write(tmp_path, text))
    problem = problems(exc)[0]
    assert problem.line == line
    assert says in problem.message


def test_alias_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_io, "MAX_YAML_NODES", 1000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    with pytest.raises(ScenarioError, match="too many aliases"):
        read_yaml(write(tmp_path, "\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    ("text", "says"),
    [("- a\n- b\n", "must be a mapping"), ("just text\n", "must be a mapping")],
)
def test_scenario_must_be_a_mapping(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ScenarioError, match=says):
        read_yaml(write(tmp_path, text))


def test_empty_file_reports_both_required_fields(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, "# nothing yet\n"))
    assert {p.path for p in problems(exc)} == {("name",), ("target",)}


def test_missing_file_suggests_a_sibling(tmp_path: Path) -> None:
    write(tmp_path, "name: t\n", "baseline.yaml")
    with pytest.raises(ScenarioError) as exc:
        read_yaml(tmp_path / "baselin.yaml")
    assert str(exc.value) == (
        f"{tmp_path / 'baselin.yaml'}: (top level): file not found (did you mean 'baseline.yaml'?)"
    )


def test_folder_and_binary_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a folder"):
        read_yaml(tmp_path)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        read_yaml(binary)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: t\ntarget: {revenue: 1}\n".encode())
    assert load_scenario(path).name == "t"


# --------------------------------------------------------------------------- messages
@pytest.mark.parametrize(
    ("data", "path", "says"),
    [
        ({"reps": {"cuont": 3}}, ("reps", "cuont"), "unknown key 'cuont' (did you mean 'count'?)"),
        ({"segmnets": {}}, ("segmnets",), "did you mean 'segments'?"),
        (
            {"segments": {"S1": {"inbound_shar": 0.3}}},
            ("segments", "S1", "inbound_shar"),
            "did you mean 'inbound_share'?",
        ),
        (
            {"open_pipeline": [{"segment": "S1", "cuont": 2}]},
            ("open_pipeline", 0, "cuont"),
            "did you mean 'count'?",
        ),
        (
            {"reps": {"members": [{"name": "A", "skil": 1}]}},
            ("reps", "members", 0, "skil"),
            "did you mean 'skill'?",
        ),
        ({"revenue": 3}, ("revenue",), "'revenue' belongs under target"),
        ({"reps": {"xyzzy": 3}}, ("reps", "xyzzy"), "unknown key 'xyzzy'; allowed here: count,"),
    ],
)
def test_unknown_keys_get_did_you_mean(
    data: dict[str, Any], path: tuple[Any, ...], says: str
) -> None:
    problem = only_problem({**MINIMAL, **data})
    assert problem.path == path
    assert says in problem.message


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            {"segments": {"S1": {"p_budget": 1.2}}},
            ("segments", "S1", "p_budget"),
            "must be between 0 and 1 (got 1.2)",
        ),
        (
            {"segments": {"S1": {"p_budget": 80}}},
            ("segments", "S1", "p_budget"),
            "must be between 0 and 1 (got 80); write shares as fractions, e.g. 0.8 for 80%",
        ),
        (
            {"segments": {"S1": {"fit": {"mean": 1}}}},
            ("segments", "S1", "fit", "mean"),
            "must be greater than 0 and less than 1 (got 1)",
        ),
        (
            {"reps": {"admin_share": -0.1}},
            ("reps", "admin_share"),
            "must be at least 0 and less than 1 (got -0.1)",
        ),
        (
            {"reps": {"attrition_per_year": -1}},
            ("reps", "attrition_per_year"),
            "must be between 0 and 10 (got -1)",
        ),
        ({"reps": {"count": 0}}, ("reps", "count"), "must be between 1 and 1000 (got 0)"),
        (
            {"reps": {"hours_per_week": 0}},
            ("reps", "hours_per_week"),
            "must be greater than 0 and at most 168 (got 0)",
        ),
        ({"reps": {"count": 2.5}}, ("reps", "count"), "expected a whole number (got 2.5)"),
        ({"reps": {"skill_sd": "high"}}, ("reps", "skill_sd"), "expected a number (got 'high')"),
        (
            {"open_pipeline": [{"segment": "S1", "engaged_early": "maybe"}]},
            ("open_pipeline", 0, "engaged_early"),
            "expected true or false (got 'maybe')",
        ),
        (
            {"name": 2024},
            ("name",),
            "expected text (quote values that look like numbers or dates) (got 2024)",
        ),
        ({"name": ""}, ("name",), "must not be empty (got '')"),
        ({"criteria": "price"}, ("criteria",), "expected a list (got 'price')"),
        ({"segments": [1]}, ("segments",), "expected a mapping of names to values (got a list)"),
        (
            {"target": {"revenue": 1, "start_date": "soon"}},
            ("target", "start_date"),
            "expected a date like 2026-01-01 (got 'soon')",
        ),
        (
            {"qualification": {"checks": ["budget", "money"]}},
            ("qualification", "checks", 1),
            "must be one of 'budget', 'authority', 'timing' (got 'money')",
        ),
        (
            {"open_pipeline": [{"segment": "S1", "stage": "decison"}]},
            ("open_pipeline", 0, "stage"),
            "must be one of 'awareness', 'interest', 'preference', 'decision' (got 'decison')"
            " (did you mean 'decision'?)",
        ),
        (
            {"target": {"revenue": 0}},
            ("target", "revenue"),
            "must be greater than 0 and at most 1e+13 (got 0)",
        ),
        (
            {"target": {}},
            ("target", "revenue"),
            "required field is missing: Bookings target over the horizon (currency)",
        ),
        (
            {"open_pipeline": [{"count": 2}]},
            ("open_pipeline", 0, "segment"),
            "required field is missing: Segment of these opportunities (a key of segments)",
        ),
    ],
)
def test_messages_say_what_is_allowed(
    data: dict[str, Any], path: tuple[Any, ...], message: str
) -> None:
    problem = only_problem({**MINIMAL, **data})
    assert problem.path == path
    assert problem.message == message


def test_model_type_lists_the_allowed_keys() -> None:
    problem = only_problem({**MINIMAL, "reps": 12})
    assert problem.path == ("reps",)
    assert problem.message.startswith(
        "expected a mapping of keys to values (got 12); allowed keys: count,"
    )


@pytest.mark.parametrize(
    ("data", "path", "says"),
    [
        (
            {"competitors": {"Acme": {}}, "segments": {"S1": {"competitors": ["Acne"]}}},
            ("segments", "S1", "competitors", 0),
            "unknown competitor 'Acne' (did you mean 'Acme'?); allowed: Acme",
        ),
        (
            {"segments": {"S1": {}}, "campaigns": {"c": {"segments": {"S2": 1}}}},
            ("campaigns", "c", "segments", "S2"),
            "unknown segment 'S2'; allowed: S1",
        ),
        (
            {"segments": {"S1": {}}, "open_pipeline": [{"segment": "S9"}]},
            ("open_pipeline", 0, "segment"),
            "unknown segment 'S9'; allowed: S1",
        ),
        (
            {"segments": {"S1": {}}, "leads": {"referrals": {"segments": {"s1": 1}}}},
            ("leads", "referrals", "segments", "s1"),
            "unknown segment 's1' (did you mean 'S1'?); allowed: S1",
        ),
        (
            {"us": {"scores": {"pryce": 5}}},
            ("us", "scores", "pryce"),
            "unknown criterion 'pryce' (did you mean 'price'?); allowed: functionality, price,",
        ),
        (
            {"segments": {"S1": {"competitors": ["X"]}}},
            ("segments", "S1", "competitors", 0),
            "unknown competitor 'X'; allowed: (none defined)",
        ),
    ],
)
def test_unknown_references(data: dict[str, Any], path: tuple[Any, ...], says: str) -> None:
    problem = only_problem({**MINIMAL, **data})
    assert problem.path == path
    assert says in problem.message


def test_problems_point_at_the_right_line(tmp_path: Path) -> None:
    text = """\
name: t
target:
  revenue: 1
competitors:
  Acme:
    scores:
      price: 12
segments:
  S1:
    competitors: [Acme, Nope]
"""
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, text))
    # the score check is a model validator on the competitor: still reported at the score
    (problem,) = problems(exc)
    assert (problem.path, problem.line, problem.column) == (
        ("competitors", "Acme", "scores", "price"),
        7,
        7,
    )
    assert "must be at most 10 (got 12)" in problem.message
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, text.replace("12", "8")))
    (problem,) = problems(exc)
    assert (problem.path, problem.line, problem.column) == (
        ("segments", "S1", "competitors", 1),
        10,
        25,
    )


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = "name: t\ntarget: {revenue: -1}\nreps: {count: 0, cuont: 1}\n"
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, text, "many.yaml"))
    lines = str(exc.value).splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{tmp_path / 'many.yaml'}:") for line in lines)


# --------------------------------------------------------------------------- rendering
def test_format_path() -> None:
    assert format_path(("open_pipeline", 0, "segment")) == "open_pipeline[0].segment"
    assert format_path(("segments", "S1", "fit", "mean")) == "segments.S1.fit.mean"
    assert format_path(()) == ""


def test_problem_render() -> None:
    assert Problem(("reps", "count"), "bad", 3, 5).render("s.yaml") == "s.yaml:3:5: reps.count: bad"
    assert Problem((), "file not found").render("s.yaml") == "s.yaml: (top level): file not found"
    assert (
        Problem(("reps",), "bad", origin="--set reps=1").render("s.yaml")
        == "--set reps=1: reps: bad"
    )


# --------------------------------------------------------------------------- round trip
def test_good_scenario_loads(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, RICH))
    assert sc.segments["yes"].buyers_per_week == 1.5  # a YAML-1.1 boolean word kept as a name
    assert sc.target.start_date == dt.date(2026, 7, 1)
    assert [m.name for m in sc.reps.members or []] == ["Ann", "Bob"]


@pytest.mark.parametrize("text", [RICH, "name: t\ntarget: {revenue: 1}\n"])
def test_dump_round_trip(tmp_path: Path, text: str) -> None:
    scenario = load_scenario(write(tmp_path, text))
    dumped = dump_scenario(scenario)
    again = load_scenario(write(tmp_path, dumped, "dumped.yaml"))
    assert again == scenario
    assert dump_scenario(again) == dumped
    assert isinstance(validate(yaml.safe_load(dumped), "dumped"), Scenario)


def test_dump_has_every_default_resolved() -> None:
    dumped = yaml.safe_load(dump_scenario(Scenario.model_validate(MINIMAL)))
    assert dumped["reps"]["count"] == 15
    assert set(dumped["segments"]) == {"S1", "S2", "S3", "S4"}


def test_extends_merges_over_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "name: base\ntarget: {revenue: 1000}\nreps: {count: 4, hours_per_week: 38}\n"
    )
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\nreps: {count: 6}\n")
    sc = load_scenario(tmp_path / "child.yaml")
    assert sc.name == "child"
    assert sc.reps.count == 6 and sc.reps.hours_per_week == 38
    assert sc.target.revenue == 1000


def test_extends_points_inherited_errors_at_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: base\ntarget: {revenue: 1000}\nreps:\n  count: -1\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "child.yaml")
    text = str(info.value)
    assert f"{tmp_path / 'base.yaml'}:4:3: reps.count: must be between 1 and 1000" in text


def test_extends_rejects_cycles_and_missing_bases(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\ntarget: {revenue: 1}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError, match="circular extends"):
        load_scenario(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\nname: c\n")
    with pytest.raises(ScenarioError, match=r"c.yaml:1:1: extends: file not found"):
        load_scenario(tmp_path / "c.yaml")
