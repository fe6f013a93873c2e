"""A misspelt name never creates something new, and every scenario that validates runs.

* Names: a file that ``extends:`` another, a ``--plan``, ``--set`` and ``pipesim.what_if`` change
  the segments, competitors and campaigns their parent has; a name the parent lacks is an error
  with a did-you-mean, unless the entity is marked ``new: true``.
* Keys without effect: ``reps.count`` beside ``reps.members``, a policy's parameters under
  another policy.
* Bounds: every number has an upper and a lower bound; a scenario at its bounds runs, one
  beyond them is bad input (exit 2).
* ``pipesim.what_if``: the validated what-if from Python.
* ``--pipeline`` with a missing or binary file: exit 2 naming the file.
"""

from __future__ import annotations

import copy
import math
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from click.testing import CliRunner

import pipesim
from pipesim.cli.main import main
from pipesim.scenario.errors import Problem, ScenarioError
from pipesim.scenario.introspect import expected_at
from pipesim.scenario.loader import dump_scenario, load_scenario, validate
from pipesim.scenario.schema import Scenario, Segment

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
HIRE_THREE = ROOT / "scenarios" / "hire_three.yaml"
TEAM_BASE = ROOT / "scenarios" / "research" / "05_team_base.yaml"
FIXTURES = Path(__file__).parent / "fixtures" / "scenarios"


def write(folder: Path, text: str, name: str = "what_if.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def extending(folder: Path, body: str, base: Path = BASELINE, name: str = "what_if.yaml") -> Path:
    return write(folder, f"extends: {base}\nname: what_if\n{body}", name)


def problem_of(exc: pytest.ExceptionInfo[ScenarioError]) -> Problem:
    (problem,) = exc.value.problems
    return problem


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_exit_2(result: Any) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return str(result.output)


# --------------------------------------------------------------------------- names: extends
def test_extends_with_a_misspelt_segment_is_an_error_not_a_fifth_segment(tmp_path: Path) -> None:
    path = extending(tmp_path, "segments:\n  s1: {buyers_per_week: 30}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("segments", "s1")
    assert (problem.line, problem.column) == (4, 3)
    assert exc.value.source == str(path)
    assert "did you mean 'S1'?" in problem.message
    assert "S1, S2, S3, S4" in problem.message and "new: true" in problem.message


def test_extends_with_a_misspelt_competitor_is_an_error(tmp_path: Path) -> None:
    path = extending(tmp_path, "competitors:\n  Incumbant:\n    presence: 0.3\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("competitors", "Incumbant")
    assert (problem.line, problem.column) == (4, 3)
    assert "unknown competitor 'Incumbant' (did you mean 'Incumbent'?)" in problem.message


def test_the_cli_reports_a_misspelt_name_with_file_line_and_exit_2() -> None:
    path = FIXTURES / "wrong_extends_segment_case.yaml"
    text = assert_exit_2(cli("validate", path))
    assert f"{path}:5:3: segments.s1: unknown segment 's1' (did you mean 'S1'?)" in text


def test_a_new_name_far_from_any_is_an_error_too_listing_the_names(tmp_path: Path) -> None:
    path = extending(tmp_path, "campaigns:\n  podcasts: {budget_per_week: 500}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("campaigns", "podcasts")
    assert "did you mean" not in problem.message
    assert "paid_search, webinars, trade_shows" in problem.message


def test_entities_marked_new_are_added_and_the_marker_removed() -> None:
    sc = load_scenario(FIXTURES / "names_new_entities.yaml")
    base = load_scenario(BASELINE)
    assert list(sc.competitors) == [*base.competitors, "Disruptor"]
    assert list(sc.segments) == [*base.segments, "S5"]
    assert list(sc.campaigns) == [*base.campaigns, "fairs"]
    assert sc.competitors["Disruptor"].presence == 0.3
    assert sc.segments["S5"].buyers_per_week == 3
    assert sc.campaigns["fairs"].budget_per_week == 900
    # what the file does not say comes from the schema, as for any other entity
    assert sc.segments["S5"].inbound_share == Segment.model_fields["inbound_share"].default


def test_marking_an_existing_entity_new_is_an_error(tmp_path: Path) -> None:
    path = extending(tmp_path, "segments:\n  S1: {new: true, buyers_per_week: 30}\n")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("segments", "S1", "new")
    assert "already in" in problem.message


def test_names_differing_only_in_case_in_one_file_are_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: t\ntarget: {revenue: 1000000}\n"
        "competitors:\n  Acme: {presence: 0.5}\n  ACME: {presence: 0.4}\n",
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("competitors", "ACME") and problem.line == 5
    assert "differs from competitor 'Acme' only in case" in problem.message


def test_a_restated_team_with_a_misspelt_rep_is_an_error(tmp_path: Path) -> None:
    base = write(
        tmp_path,
        "name: t\ntarget: {revenue: 1000000}\n"
        "reps:\n  members: [{name: Ana}, {name: Ben}, {name: Quentin}]\n",
        "base.yaml",
    )
    typo = extending(
        tmp_path,
        "reps:\n  members: [{name: Ana}, {name: Ben, skill: 1.2}, {name: Quentn}]\n",
        base,
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(typo)
    problem = problem_of(exc)
    assert problem.path == ("reps", "members", 2, "name")
    assert "did you mean 'Quentin'?" in problem.message
    # a new rep beside the old ones is a restated team, and one marked new is explicit
    grown = extending(
        tmp_path,
        "reps:\n  members: [{name: Ana}, {name: Ben}, {name: Quentin}, {name: Rosa}]\n",
        base,
        "grown.yaml",
    )
    assert [m.name for m in load_scenario(grown).reps.members or []][-1] == "Rosa"
    renamed = extending(
        tmp_path,
        "reps:\n  members: [{name: Ana}, {name: Ben}, {name: Quentn, new: true}]\n",
        base,
        "renamed.yaml",
    )
    assert [m.name for m in load_scenario(renamed).reps.members or []] == ["Ana", "Ben", "Quentn"]


# --------------------------------------------------------------------------- names: --set, --plan
def test_set_never_creates_a_campaign_from_a_misspelt_name() -> None:
    override = "campaigns.webinar.budget_per_week=4000"
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, [override])
    problem = problem_of(exc)
    assert problem.origin == f"--set {override}"
    assert problem.path == ("campaigns", "webinar")
    assert "did you mean 'webinars'?" in problem.message
    assert "paid_search, webinars, trade_shows" in problem.message
    text = assert_exit_2(cli("validate", BASELINE, "--set", override))
    assert f"--set {override}: campaigns.webinar: unknown campaign 'webinar'" in text
    # the right name changes the campaign that exists
    sc = load_scenario(BASELINE, ["campaigns.webinars.budget_per_week=4000"])
    assert sc.campaigns["webinars"].budget_per_week == 4000 and len(sc.campaigns) == 3


@pytest.mark.parametrize(
    "overrides",
    [
        ["campaigns.fairs={new: true, budget_per_week: 900, segments: {S3: 1}}"],
        [
            "campaigns.fairs.new=true",
            "campaigns.fairs.budget_per_week=900",
            "campaigns.fairs.segments={S3: 1}",
        ],
    ],
)
def test_set_adds_an_entity_only_in_the_explicit_form(overrides: list[str]) -> None:
    sc = load_scenario(BASELINE, overrides)
    assert list(sc.campaigns)[-1] == "fairs"
    assert sc.campaigns["fairs"].budget_per_week == 900


def test_set_addresses_a_rep_by_name_and_suggests_the_spelling() -> None:
    sc = load_scenario(HIRE_THREE, ["reps.members.Pia.tenure_weeks=6"])
    assert next(m for m in sc.reps.members or [] if m.name == "Pia").tenure_weeks == 6
    with pytest.raises(ScenarioError) as exc:
        load_scenario(HIRE_THREE, ["reps.members.pia.tenure_weeks=6"])
    assert "did you mean 'Pia'?" in problem_of(exc).message


def test_plan_with_a_misspelt_campaign_is_blamed_at_its_line(tmp_path: Path) -> None:
    plan = write(tmp_path, "# plan\ncampaigns:\n  paid_serch: {budget_per_week: 3000}\n", "p.yaml")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, plan=plan)
    problem = problem_of(exc)
    assert problem.origin == f"{plan}:3:3"
    assert "did you mean 'paid_search'?" in problem.message


# --------------------------------------------------------------------------- keys without effect
def test_set_count_beside_members_is_an_error_naming_both_keys() -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(TEAM_BASE, ["reps.count=18"])
    problem = problem_of(exc)
    assert problem.path == ("reps", "count") and problem.origin == "--set reps.count=18"
    assert "reps.members" in problem.message and "(5 reps)" in problem.message
    text = assert_exit_2(cli("validate", TEAM_BASE, "--set", "reps.count=18"))
    assert "--set reps.count=18: reps.count: 18 conflicts with reps.members" in text
    # with the members removed, the count is the team
    assert load_scenario(TEAM_BASE, ["reps.members=null", "reps.count=18"]).reps.seats == 18


def test_a_file_setting_count_over_members_is_an_error() -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(FIXTURES / "wrong_team_count.yaml")
    problem = problem_of(exc)
    assert problem.path == ("reps", "count") and (problem.line, problem.column) == (5, 3)
    # hire_three itself lists 18 reps over the baseline's count of 15: the members are the team
    assert load_scenario(HIRE_THREE).reps.seats == 18


def test_a_standalone_file_setting_count_and_other_members_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: team\ntarget: {revenue: 1000000}\nsegments: {S1: {}}\n"
        "reps:\n  count: 12\n  members: [{name: a}, {name: b}]\n",
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problem = problem_of(exc)
    assert problem.path == ("reps", "count") and "(2 reps)" in problem.message
    assert_exit_2(cli("validate", path))


def test_a_saved_scenario_holds_the_count_the_members_make() -> None:
    """The count a run folder's scenario.yaml holds is the team's, so it reloads as it ran."""
    sc = load_scenario(HIRE_THREE)
    assert sc.reps.count == sc.reps.seats == 18
    data = yaml.safe_load(dump_scenario(sc))
    assert data["reps"]["count"] == len(data["reps"]["members"]) == 18
    assert validate(data, "scenario.yaml").reps.seats == 18


@pytest.mark.parametrize(
    ("override", "other"),
    [
        ("flanking.max_success=0.9", "flanking.policy is 'none'"),
        ("engagement.proactive_share=0.5", "engagement.policy is 'reactive'"),
        ("qualification.deviation_rate=0.5", "qualification.policy is 'threshold'"),
    ],
)
def test_a_policy_parameter_under_another_policy_is_an_error(override: str, other: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, [override])
    problem = problem_of(exc)
    assert problem.origin == f"--set {override}"
    assert other in problem.message


def test_a_policy_parameter_with_its_policy_is_fine() -> None:
    sc = load_scenario(BASELINE, ["flanking.policy=flank", "flanking.max_success=0.9"])
    assert sc.flanking.max_success == 0.9
    with pytest.raises(ScenarioError, match=r"flanking\.move_last is true"):
        load_scenario(BASELINE, ["flanking.policy=flank", "flanking.early_move_success=0.2"])


def test_a_campaign_ending_before_it_starts_is_an_error() -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, ["campaigns.trade_shows.end_week=5"])
    problem = problem_of(exc)
    assert problem.path == ("campaigns", "trade_shows", "end_week")
    assert "after start_week (8)" in problem.message


# --------------------------------------------------------------------------- bounds
def _bounds(path: tuple[str | int, ...]) -> tuple[tuple[float, bool] | None, ...]:
    """(lower, strict), (upper, strict) of a numeric leaf, from the schema."""
    _, info = expected_at(Scenario, path)
    metadata = list(info.metadata) if info is not None else []
    if info is None:  # an entry of a map of numbers: its bounds are on the value type
        parent, _ = expected_at(Scenario, path[:-1])
        value = typing.get_args(parent)[1]
        metadata = [m for f in typing.get_args(value)[1:] for m in getattr(f, "metadata", [])]
    lo = hi = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge | annotated_types.Gt):
            lo = (
                float(getattr(m, "ge", getattr(m, "gt", math.nan))),
                isinstance(m, annotated_types.Gt),
            )
        if isinstance(m, annotated_types.Le | annotated_types.Lt):
            hi = (
                float(getattr(m, "le", getattr(m, "lt", math.nan))),
                isinstance(m, annotated_types.Lt),
            )
    return lo, hi


def _small_scenario() -> dict[str, Any]:
    """The baseline over two weeks with every optional number given, as raw data."""
    sc = load_scenario(BASELINE, ["target.horizon_weeks=2", "prehistory_days=30"])
    data = sc.model_dump(mode="json")
    data["reps"]["members"] = None
    data["open_pipeline"][0].update(value=1000.0, days_in_stage=3.0, buying_group=3)
    data["target"]["rep_quota"] = 1000.0
    data["campaigns"]["trade_shows"]["end_week"] = 44.0
    data["leads"]["referrals"]["segments"] = {"S1": 1.0}
    data["leads"]["outbound"]["segments"] = {"S2": 1.0}
    return data


def _numeric_leaves(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """One path per schema parameter (the first segment, competitor, campaign, list item)."""
    out: list[tuple[str | int, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _numeric_leaves(value, (*prefix, key))
    elif isinstance(data, list) and data:
        out += _numeric_leaves(data[0], (*prefix, 0))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out.append(prefix)
    seen: dict[tuple[str | int, ...], tuple[str | int, ...]] = {}
    for path in out:
        generic = tuple(
            "<name>" if i >= 1 and path[i - 1] in ("segments", "competitors", "campaigns") else p
            for i, p in enumerate(path)
        )
        seen.setdefault(generic, path)
    return list(seen.values())


PARAMETERS = _numeric_leaves(_small_scenario())
MEMBER_PATHS = [("reps", "members", 0, k) for k in ("skill", "qualification_noise", "tenure_weeks")]


def _at_bound(path: tuple[str | int, ...], which: int) -> tuple[dict[str, Any], float]:
    """The small scenario with ``path`` at its lower (0) or upper (1) bound."""
    data = _small_scenario()
    bound = _bounds(path)[which]
    assert bound is not None, f"{path} has no {'upper' if which else 'lower'} bound"
    value, strict = bound
    if strict:
        value += -1e-9 * max(1.0, abs(value)) if which else 1e-9 * max(1.0, abs(value))
    node: Any = data
    for part in path[:-1]:
        if path[:2] == ("reps", "members") and node is data["reps"] and part == "members":
            node["members"] = [{"name": "a"}]
        node = node[part]
    integer = isinstance(node.get(path[-1]), int) and not isinstance(node.get(path[-1]), bool)
    node[path[-1]] = int(value) if integer or path[-1] in ("count", "buying_group") else value
    if path[-1] == "start_week":  # the campaign ends after it starts
        node["end_week"] = None
    if path[-1] == "end_week":
        node["start_week"] = 0.0
    return data, value


def test_every_number_has_a_lower_and_an_upper_bound() -> None:
    missing = [
        ".".join(map(str, p))
        + (" (lower)" if lo is None else "")
        + (" (upper)" if hi is None else "")
        for p in [*PARAMETERS, *MEMBER_PATHS]
        if p[0] != "uncertainty"
        for lo, hi in [_bounds(p)]
        if lo is None or hi is None
    ]
    assert not missing, "numbers without bounds: " + ", ".join(missing)


LARGE = [
    ("target", "horizon_weeks"),
    ("prehistory_days",),
    ("segments", "S1", "buyers_per_week"),
    ("segments", "S1", "buying_group_mean"),
    ("segments", "S1", "deal_size", "mean"),
    ("segments", "S1", "deal_size", "cv"),
    ("segments", "S1", "weight_noise"),
    ("segments", "S1", "journey_scale"),
    ("journey", "decision", "cv"),
    ("journey", "group_dwell_elasticity"),
    ("choice", "sensitivity"),
    ("reps", "count"),
    ("reps", "attrition_per_year"),
    ("leads", "referrals", "per_week"),
    ("leads", "prospecting", "hours_per_week"),
    ("campaigns", "paid_search", "budget_per_week"),
    ("open_pipeline", 0, "count"),
]


@pytest.mark.parametrize("path", LARGE, ids=lambda p: ".".join(map(str, p)))
def test_a_large_number_at_its_upper_bound_runs(path: tuple[str | int, ...]) -> None:
    data, _ = _at_bound(path, 1)
    res = pipesim.run(validate(data, "bounds"), replications=1, seed=2, workers=1)
    assert math.isfinite(float(res.table["revenue"].iloc[0]))


@pytest.mark.slow
@pytest.mark.parametrize("which", [1, 0], ids=["upper", "lower"])
def test_every_number_at_its_bounds_runs(which: int) -> None:
    failed = []
    for path in [*PARAMETERS, *MEMBER_PATHS]:
        if path[0] == "uncertainty":
            continue
        data, value = _at_bound(path, which)
        if which == 0 and path[-2:] == ("fit", "mean"):
            # open deals are buyers the policy pursued: a segment no one pursues cannot have any
            data["open_pipeline"] = []
        try:
            res = pipesim.run(validate(data, "bounds"), replications=1, seed=2, workers=1)
            assert math.isfinite(float(res.table["revenue"].iloc[0]))
        except Exception as exc:
            failed.append(f"{'.'.join(map(str, path))}={value}: {type(exc).__name__}: {exc}")
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("path", [*PARAMETERS, *MEMBER_PATHS], ids=lambda p: ".".join(map(str, p)))
def test_a_number_beyond_its_bounds_is_rejected(path: tuple[str | int, ...]) -> None:
    if path[0] == "uncertainty":
        pytest.skip("an uncertainty sd is bounded by its parameter's range (tested below)")
    for which, step in ((1, 1.0), (0, -1.0)):
        data, value = _at_bound(path, which)
        beyond = copy.deepcopy(data)
        node: Any = beyond
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = type(node[path[-1]])(value + step * max(1.0, abs(value)))
        with pytest.raises(ScenarioError) as exc:
            validate(beyond, "bounds")
        assert tuple(problem_of(exc).path) == path


@pytest.mark.parametrize(
    "override", ["segments.S2.buyers_per_week=1.0e+308", "segments.S4.buying_group_mean=1.0e+308"]
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_huge_values_are_bad_input_not_a_crash(tmp_path: Path, command: str, override: str) -> None:
    extra = ["-n", "1", "--quiet", "--out", tmp_path / "run"] if command == "run" else []
    text = assert_exit_2(cli(command, BASELINE, *extra, "--set", override))
    key = override.split("=")[0]
    assert f"--set {override}: {key}: must be between" in text
    assert not (tmp_path / "run").exists()


def test_numbers_in_exponent_form_say_how_yaml_reads_them() -> None:
    text = assert_exit_2(cli("validate", BASELINE, "--set", "segments.S2.deal_size.mean=2.5e6"))
    assert "YAML reads 2.5e6 as text: write 2.5e+06" in text


def test_bounded_flows_whose_product_is_too_large_are_rejected() -> None:
    overrides = ["target.horizon_weeks=520", "leads.referrals.per_week=10000"]
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, overrides)
    problem = problem_of(exc)
    assert problem.path == ("leads", "referrals", "per_week")
    assert "buyers and leads a replication" in problem.message and "1,000,000" in problem.message
    # each alone is fine
    load_scenario(BASELINE, overrides[:1])
    load_scenario(BASELINE, overrides[1:])


@pytest.mark.parametrize(
    ("block", "says"),
    [
        ('{"segments.S1.deal_size.mean": {"sd": 5, "distribution": "lognormal"}}', "at most 3"),
        ('{"choice.stickiness": {"sd": 2}}', "wider than the range"),
        ('{"us.scores.price": {"sd": 0.5}}', "entry of a map"),
    ],
)
def test_uncertainty_that_could_not_be_drawn_is_rejected(block: str, says: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(BASELINE, [f"uncertainty={block}"])
    assert says in problem_of(exc).message


# --------------------------------------------------------------------------- pipesim.what_if
def test_what_if_validates_like_set() -> None:
    base = load_scenario(BASELINE)
    more = pipesim.what_if(base, {"reps.count": 18, "campaigns.webinars.budget_per_week": 4000})
    assert more == load_scenario(
        BASELINE, ["reps.count=18", "campaigns.webinars.budget_per_week=4000"]
    )
    assert base.reps.count == 15  # the original is untouched


@pytest.mark.parametrize(("count", "says"), [(-4, "between 1 and 1000"), (0, "between 1 and 1000")])
def test_what_if_rejects_what_the_cli_rejects(count: int, says: str) -> None:
    base = load_scenario(BASELINE)
    with pytest.raises(ScenarioError) as exc:
        pipesim.what_if(base, {"reps.count": count})
    problem = problem_of(exc)
    assert problem.path == ("reps", "count") and problem.origin == f"what_if reps.count={count}"
    assert says in problem.message


def test_what_if_follows_the_name_and_team_rules() -> None:
    base = load_scenario(BASELINE)
    with pytest.raises(ScenarioError) as exc:
        pipesim.what_if(base, {"campaigns.webinar.budget_per_week": 4000})
    assert "did you mean 'webinars'?" in problem_of(exc).message
    added = pipesim.what_if(base, {"segments.S5": {"new": True, "buyers_per_week": 3}})
    assert list(added.segments)[-1] == "S5"
    with pytest.raises(ScenarioError, match=r"conflicts with reps\.members"):
        pipesim.what_if(load_scenario(TEAM_BASE), {"reps.count": 18})


def test_readme_python_api_uses_what_if_not_model_copy() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    assert "pipesim.what_if(" in section
    assert "what-if is a copy\n(`scenario.model_copy" not in section
    assert all(
        "model_copy" not in line or "skips validation" in line for line in section.splitlines()
    )


# --------------------------------------------------------------------------- --pipeline files
def test_a_missing_pipeline_file_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "open.csv"
    text = assert_exit_2(cli("run", BASELINE, "-n", "1", "--quiet", "--pipeline", missing))
    assert f"{missing}: (top level): file not found" in text


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 4, b"segment,stage\nS1,decision\n\xff\xfe\x00\n"],
    ids=["binary", "binary_after_the_header"],
)
def test_a_binary_pipeline_file_is_bad_input(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "open.csv"
    path.write_bytes(content)
    text = assert_exit_2(cli("run", BASELINE, "-n", "1", "--quiet", "--pipeline", path))
    assert f"{path}: (top level): cannot read the file: not UTF-8 text" in text
