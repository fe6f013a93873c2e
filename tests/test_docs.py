"""The model reference stays true to the code: parameter table and per-field documentation."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipesim.scenario.paramdoc import (
    END_MARKER,
    START_MARKER,
    extract_table,
    iter_parameters,
    leaf_parameters,
    parameter_table,
    replace_table,
)

MODEL_MD = Path(__file__).resolve().parents[1] / "docs" / "model.md"
REGENERATE = "python -m pipesim.scenario.paramdoc --write docs/model.md"


def test_parameter_table_in_docs_matches_schema() -> None:
    text = MODEL_MD.read_text(encoding="utf-8")
    documented = extract_table(text)
    assert documented is not None, (
        f"docs/model.md has no {START_MARKER} ... {END_MARKER} block; add the markers and run "
        f"`{REGENERATE}`"
    )
    assert documented == parameter_table(), (
        "the parameter table in docs/model.md differs from the scenario schema "
        f"(pipesim.scenario.schema); regenerate it with `{REGENERATE}`"
    )


def test_every_scenario_value_has_description_and_source() -> None:
    missing = [
        f"{p.path}: "
        + " and ".join(
            what
            for what, text in (("description", p.description), ("source", p.source))
            if not text
        )
        for p in leaf_parameters()
        if not p.description or not p.source
    ]
    assert not missing, (
        "scenario fields without a description or source (pipesim.scenario.schema):\n"
        + ("\n".join(missing))
    )


def test_table_has_one_row_per_parameter_and_unique_keys() -> None:
    rows = parameter_table().splitlines()[2:]
    paths = [p.path for p in iter_parameters()]
    assert len(rows) == len(paths)
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    ("path", "default"),
    [
        # defaults in context: a stage's own default, not the generic stage block's
        ("journey.awareness.mean_days", "`35.0`"),
        ("journey.interest.mean_days", "`45.0`"),
        ("campaigns.<name>.engagement.mean", "`0.4`"),
        ("leads.prospecting.engagement.mean", "`0.35`"),
        ("target.revenue", "required"),
        ("open_pipeline[].stage", "`interest`"),
        ("reps.members[].skill", "`null`"),
    ],
)
def test_defaults_are_taken_in_context(path: str, default: str) -> None:
    found = {p.path: p for p in iter_parameters()}
    assert found[path].default == default


def test_constraints_come_from_field_metadata() -> None:
    found = {p.path: p for p in iter_parameters()}
    assert found["segments.<name>.inbound_share"].constraints == "≥ 0, ≤ 1"
    assert found["reps.admin_share"].constraints == "≥ 0, < 1"
    assert found["open_pipeline[].stage"].constraints.startswith("one of awareness")


def test_replace_table_round_trip() -> None:
    doc = f"intro\n\n{START_MARKER}\nold\n{END_MARKER}\n\nmore\n"
    new = replace_table(doc, "| a |\n|---|")
    assert extract_table(new) == "| a |\n|---|"
    assert new.startswith("intro\n\n") and new.endswith("\n\nmore\n")
    with pytest.raises(ValueError, match="markers"):
        replace_table("no markers here", "x")
