"""A run's record, read from the files of its run folder.

A folder written by ``pipesim run`` holds ``run.json`` (the manifest, with the note given by
``--note`` and, for a what-if, its settings), ``summary.json`` and ``scenario.yaml`` (the resolved
scenario). :func:`read_run_folder` turns them into a :class:`RunRecord`, the row the run catalogue
(:mod:`pipesim.runs.catalogue`) holds; every value comes from these files, so the catalogue can be
rebuilt from the folders at any time. Each run has a stable key (:func:`run_key`), whose first 8
hex digits are its short id, identical after a rebuild.

A run made with ``--set``, ``--plan`` or a ``--pipeline`` other than the scenario's own is a
*what-if*: a variant of its scenario, identified by its :class:`RunSettings` (the settings id, a
short hash of them). It gets its own default folder (:func:`default_run_folder`) and is kept apart
from the scenario's forecast in the run history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RUN_JSON, SUMMARY_JSON, SCENARIO_YAML = "run.json", "summary.json", "scenario.yaml"
RUN_FILES = (RUN_JSON, SUMMARY_JSON, SCENARIO_YAML)
"""Files that make a folder a recordable run."""

SHORT_ID_LENGTH = 8
"""Hex digits of a run's key shown and accepted as its short id."""

VARIANT_ID_LENGTH = 8
"""Hex digits of the hash of a what-if's settings: its settings id (and folder suffix)."""

VARIANT_KEY = "variant"
"""Key of ``run.json`` holding a what-if's settings (absent for the scenario's forecast)."""

LABEL_OVERRIDES = 3
"""``--set`` overrides named in a what-if's short label; the rest are counted (``+2 more``)."""


class RunFolderError(ValueError):
    """A folder that does not hold a complete, consistent run (missing or unreadable files)."""


def normalise_overrides(overrides: Sequence[str]) -> tuple[str, ...]:
    """``--set`` overrides as one canonical text each: ``key=value``, spaces trimmed.

    When no key is another's key or lies inside it (so the order cannot matter), they are sorted
    by key; otherwise the given order is kept, since a later override may rewrite an earlier one.
    """
    pairs = []
    for text in overrides:
        key, sep, value = text.partition("=")
        pairs.append((key.strip(), f"{key.strip()}{sep}{value.strip()}"))
    keys = [k for k, _ in pairs]
    overlap = any(
        a == b or b.startswith(a + ".") for i, a in enumerate(keys) for j, b in enumerate(keys)
        if i != j
    )  # fmt: skip
    return tuple(t for _, t in (pairs if overlap else sorted(pairs)))


@dataclass(frozen=True)
class RunSettings:
    """What a run changed on its scenario file: the settings that make it a what-if.

    A run without any is the scenario's forecast; a run with any is a what-if, a variant of the
    scenario identified by :attr:`variant` (the same settings always give the same id).

    Attributes
    ----------
    overrides
        ``--set`` overrides, canonical (:func:`normalise_overrides`).
    plan
        Absolute path of the ``--plan`` overlay.
    pipeline, pipeline_history, pipeline_mapping
        Absolute paths of a ``--pipeline`` file that replaced the scenario's own open pipeline
        (and of the CRM export's stage history and column mapping given with it).
    """

    overrides: tuple[str, ...] = ()
    plan: str | None = None
    pipeline: str | None = None
    pipeline_history: str | None = None
    pipeline_mapping: str | None = None

    @classmethod
    def of(
        cls,
        overrides: Sequence[str] = (),
        plan: str | Path | None = None,
        pipeline: str | Path | None = None,
        pipeline_history: str | Path | None = None,
        pipeline_mapping: str | Path | None = None,
    ) -> RunSettings:
        """Settings as given on the command line (paths made absolute, overrides canonical)."""

        def absolute(path: str | Path | None) -> str | None:
            return None if path is None else str(Path(path).resolve())

        return cls(
            normalise_overrides(overrides),
            absolute(plan),
            absolute(pipeline),
            absolute(pipeline_history) if pipeline is not None else None,
            absolute(pipeline_mapping) if pipeline is not None else None,
        )

    @property
    def is_what_if(self) -> bool:
        """Whether the run changed anything on its scenario file."""
        return bool(self.overrides) or self.plan is not None or self.pipeline is not None

    @property
    def variant(self) -> str | None:
        """The settings id: first hex digits of a hash of the settings (None: the forecast)."""
        if not self.is_what_if:
            return None
        text = json.dumps(self.to_json(with_id=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:VARIANT_ID_LENGTH]

    def items(self) -> list[str]:
        """Every setting as text: each override, ``plan FILE``, ``pipeline FILE`` (names only)."""
        out = list(self.overrides)
        if self.plan is not None:
            out.append(f"plan {Path(self.plan).name}")
        if self.pipeline is not None:
            out.append(f"pipeline {Path(self.pipeline).name}")
        return out

    def label(self, limit: int = LABEL_OVERRIDES) -> str:
        """A short name for the what-if, e.g. ``what-if: reps.count=18`` ("" for the forecast)."""
        if not self.is_what_if:
            return ""
        shown = list(self.overrides[:limit])
        if len(self.overrides) > limit:
            shown.append(f"+{len(self.overrides) - limit} more")
        rest = self.items()[len(self.overrides) :]
        return "what-if: " + ", ".join(shown + rest)

    def to_json(self, *, with_id: bool = True) -> dict[str, Any]:
        """What ``run.json`` holds under ``variant`` (only the settings given, and the id)."""
        data: dict[str, Any] = {"id": self.variant} if with_id else {}
        if self.overrides:
            data["overrides"] = list(self.overrides)
        for name in ("plan", "pipeline", "pipeline_history", "pipeline_mapping"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunSettings:
        """Settings read back from ``run.json``; :class:`RunFolderError` naming a bad value."""
        if not isinstance(data, dict):
            raise RunFolderError(f"{where}: {VARIANT_KEY} must be an object")
        overrides = data.get("overrides", [])
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise RunFolderError(f"{where}: {VARIANT_KEY}.overrides must be a list of texts")
        paths: dict[str, str | None] = {}
        for name in ("plan", "pipeline", "pipeline_history", "pipeline_mapping"):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise RunFolderError(f"{where}: {VARIANT_KEY}.{name} must be a path")
            paths[name] = value
        return cls(tuple(overrides), **paths)


def default_run_folder(scenario: str, settings: RunSettings, root: str | Path = "reports") -> Path:
    """Where a run goes without ``--out``: ``reports/<scenario>/``, a what-if beside it.

    A what-if goes to ``reports/<scenario>--<settings id>/``, so it never overwrites the
    scenario's forecast, and the same what-if run again replaces its own earlier folder.
    """
    variant = settings.variant
    return Path(root) / (scenario if variant is None else f"{scenario}--{variant}")


@dataclass(frozen=True)
class RunRecord:
    """One run as the catalogue holds it (every value read from the run folder's files).

    Attributes
    ----------
    key
        SHA-256 (hex) of the scenario hash, seed, replications, finish time and run time; its
        first 8 digits are the short id.
    finished_at
        When the run finished (``summary.json``'s ``finished_at``, ISO 8601, UTC).
    recorded_at
        When the record was written (ISO 8601, UTC); a rebuild writes it anew.
    scenario, scenario_sha256, scenario_yaml
        Scenario name, hash of the resolved scenario and the resolved scenario (YAML text).
    seed, replications
        Root seed and finished replications.
    p_target, p_target_low, p_target_high
        Estimated P(target) and its 95% interval.
    revenue_p10, revenue_p50, revenue_p90, revenue_mean
        Revenue over the horizon, in ``currency``.
    target, currency, horizon_weeks
        The revenue target and its horizon.
    partial
        True for an interrupted run (a ``summary.json`` marked partial).
    note
        Free text given with ``--note``.
    folder
        Absolute path of the run folder.
    pipesim_version
        Version that made the run.
    variant
        For a what-if, its settings id (:attr:`RunSettings.variant`); None for the forecast.
    overrides, plan, pipeline, pipeline_history, pipeline_mapping
        A what-if's settings (:class:`RunSettings`).
    id
        Integer id in this catalogue (None before the record is stored).
    """

    key: str
    finished_at: str
    recorded_at: str
    scenario: str
    scenario_sha256: str
    scenario_yaml: str
    seed: int
    replications: int
    p_target: float | None
    p_target_low: float | None
    p_target_high: float | None
    revenue_p10: float | None
    revenue_p50: float | None
    revenue_p90: float | None
    revenue_mean: float | None
    target: float | None
    currency: str | None
    horizon_weeks: float | None
    partial: bool
    note: str | None
    folder: str
    pipesim_version: str | None
    variant: str | None = None
    overrides: tuple[str, ...] = ()
    plan: str | None = None
    pipeline: str | None = None
    pipeline_history: str | None = None
    pipeline_mapping: str | None = None
    id: int | None = field(default=None)

    @property
    def short_id(self) -> str:
        """The first 8 hex digits of :attr:`key`: what ``pipesim diff`` accepts."""
        return self.key[:SHORT_ID_LENGTH]

    @property
    def settings(self) -> RunSettings:
        """The what-if settings of the run (empty for the scenario's forecast)."""
        return RunSettings(
            tuple(self.overrides),
            self.plan,
            self.pipeline,
            self.pipeline_history,
            self.pipeline_mapping,
        )

    @property
    def what_if(self) -> str:
        """The what-if's short label (``what-if: reps.count=18``), "" for the forecast."""
        return self.settings.label()

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (with ``short_id``)."""
        return {**asdict(self), "short_id": self.short_id}


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second (how records and catalogues stamp it)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunFolderError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(float(value)) else float(value)
    return None


def _need(data: dict[str, Any], keys: Sequence[str], path: Path) -> Any:
    """``data[k0][k1]...``, or a :class:`RunFolderError` naming the file and the key."""
    cur: Any = data
    for depth, k in enumerate(keys):
        if not isinstance(cur, dict) or k not in cur:
            raise RunFolderError(f"{path}: missing key {'.'.join(keys[: depth + 1])}")
        cur = cur[k]
    return cur


def run_key(
    scenario_sha256: str,
    seed: int,
    replications: int,
    finished_at: str,
    runtime_s: Any,
    partial: bool,
) -> str:
    """The stable key of a run (hex SHA-256); the same files always give the same key."""
    text = "|".join(
        [scenario_sha256, str(seed), str(replications), finished_at, repr(runtime_s), str(partial)]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_run_folder(folder: str | Path, note: str | None = None) -> RunRecord:
    """Read a run folder's ``run.json``, ``summary.json`` and ``scenario.yaml`` into a record.

    Parameters
    ----------
    folder
        A folder written by ``pipesim run`` (or :func:`pipesim.run` with ``out``).
    note
        Note for the record; None takes the ``note`` saved in ``run.json`` (if any).

    Raises
    ------
    RunFolderError
        When a file is missing or unreadable, a required value is absent, or the files
        disagree (``scenario.yaml`` is not the scenario ``run.json`` names).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder")
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise RunFolderError(f"{folder}: not a finished run folder (missing {', '.join(missing)})")
    manifest_path, summary_path = folder / RUN_JSON, folder / SUMMARY_JSON
    manifest = _read_json(manifest_path)
    summary = _read_json(summary_path)
    try:
        yaml_bytes = (folder / SCENARIO_YAML).read_bytes()
        scenario_yaml = yaml_bytes.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFolderError(f"{folder / SCENARIO_YAML}: unreadable ({exc})") from None
    sha = str(_need(manifest, ["scenario_sha256"], manifest_path))
    if hashlib.sha256(yaml_bytes).hexdigest() != sha:
        raise RunFolderError(
            f"{folder / SCENARIO_YAML}: does not match the scenario_sha256 in {manifest_path} "
            "(edited after the run, or left from another run)"
        )
    seed = _need(summary, ["seed"], summary_path)
    if manifest.get("seed") is not None and manifest["seed"] != seed:
        raise RunFolderError(
            f"{summary_path}: seed {seed} differs from {manifest_path}'s seed {manifest['seed']} "
            "(the summary is left from another run)"
        )
    replications = int(_need(summary, ["replications"], summary_path))
    finished_at = summary.get("finished_at")
    if not isinstance(finished_at, str) or not finished_at:
        finished_at = dt.datetime.fromtimestamp(summary_path.stat().st_mtime, dt.UTC).isoformat(
            timespec="seconds"
        )
    partial = bool(summary.get("partial", False))
    p = _need(summary, ["p_target"], summary_path)
    revenue = _need(summary, ["revenue"], summary_path)
    target = summary.get("target") or {}
    if note is None:
        saved = manifest.get("note")
        note = saved if isinstance(saved, str) and saved else None
    settings, variant = _manifest_settings(manifest, manifest_path)
    return RunRecord(
        key=run_key(sha, int(seed), replications, finished_at, summary.get("runtime_s"), partial),
        finished_at=finished_at,
        recorded_at=utc_now(),
        scenario=str(_need(summary, ["scenario"], summary_path)),
        scenario_sha256=sha,
        scenario_yaml=scenario_yaml,
        seed=int(seed),
        replications=replications,
        p_target=_number(p.get("estimate")),
        p_target_low=_number(p.get("ci_low")),
        p_target_high=_number(p.get("ci_high")),
        revenue_p10=_number(revenue.get("p10")),
        revenue_p50=_number(revenue.get("p50")),
        revenue_p90=_number(revenue.get("p90")),
        revenue_mean=_number(revenue.get("mean")),
        target=_number(target.get("amount")),
        currency=target.get("currency"),
        horizon_weeks=_number(target.get("horizon_weeks")),
        partial=partial,
        note=note,
        folder=str(folder.resolve()),
        pipesim_version=summary.get("pipesim_version") or manifest.get("pipesim_version"),
        variant=variant,
        overrides=settings.overrides,
        plan=settings.plan,
        pipeline=settings.pipeline,
        pipeline_history=settings.pipeline_history,
        pipeline_mapping=settings.pipeline_mapping,
    )


def _manifest_settings(manifest: dict[str, Any], path: Path) -> tuple[RunSettings, str | None]:
    """A manifest's what-if settings and settings id (empty and None for the forecast)."""
    data = manifest.get(VARIANT_KEY)
    if data is None:
        return RunSettings(), None
    settings = RunSettings.from_json(data, str(path))
    saved = data.get("id")
    # the id the run's folder was named after wins (it is what the user sees)
    variant = saved if isinstance(saved, str) and saved else settings.variant
    return settings, variant if settings.is_what_if else None


def saved_settings(folder: str | Path | None) -> tuple[RunSettings, str | None]:
    """A run folder's what-if settings and settings id from its ``run.json``.

    Empty settings and None for the scenario's forecast, and when the folder (or its
    ``run.json``) is missing or unreadable: what a report shows is then an unlabelled run.
    """
    if folder is None:
        return RunSettings(), None
    path = Path(folder) / RUN_JSON
    try:
        return _manifest_settings(_read_json(path), path)
    except RunFolderError:
        return RunSettings(), None


def saved_note(folder: str | Path) -> str | None:
    """The note stored in a run folder's ``run.json``, if any (None when absent or unreadable)."""
    try:
        manifest = _read_json(Path(folder) / RUN_JSON)
    except RunFolderError:
        return None
    note = manifest.get("note")
    return note if isinstance(note, str) and note else None


def save_note(folder: str | Path, note: str | None) -> None:
    """Store ``note`` in the run folder's ``run.json`` so a rebuild keeps it.

    The file is rewritten atomically (a temporary file renamed over it, as
    :func:`pipesim.runs.runner.write_json_atomic` does), so a crash leaves the old or the new file.
    """
    path = Path(folder) / RUN_JSON
    manifest = _read_json(path)
    if note:
        manifest["note"] = note
    else:
        manifest.pop("note", None)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def find_run_folders(root: str | Path) -> list[Path]:
    """Folders under ``root`` (``root`` included) that hold a ``run.json``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise RunFolderError(f"{root}: not a folder")
    return sorted({p.parent for p in root.rglob(RUN_JSON) if p.is_file()})
