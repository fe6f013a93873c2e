"""Bad input through the real command line: exit code 2, a precise message, never a traceback.

Every ``tests/fixtures/scenarios/wrong_*.yaml`` has an entry in :data:`EXPECTED` giving the
line, column and key path it must be reported at and the text saying what is allowed.

Each case runs the CLI in its own process. Starting ``python -m pipesim.cli.main`` costs about 1.5 s
of CPU (the package imports pandas and scipy), so most cases go through a small driver: one
interpreter imports :func:`pipesim.cli.main` once, then forks a child per case that runs
``main(args)`` with stdout and stderr redirected and exits with the CLI's exit status. A few
cases (:func:`cli_e2e`) run the real ``python -m pipesim.cli.main`` end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "scenarios"
TYPO = FIXTURES / "wrong_typo_key.yaml"
MISSING = FIXTURES / "no_such_scenario.yaml"

GOOD = """\
name: good
target:
  revenue: 2_400_000
  horizon_weeks: 26
competitors:
  Acme: {presence: 0.8}
  Globex: {presence: 0.5}
segments:
  SMB: {buyers_per_week: 12, competitors: [Acme]}
  Enterprise: {buyers_per_week: 2}
campaigns:
  webinar:
    segments: {SMB: 0.7, Enterprise: 0.3}
open_pipeline:
  - {segment: SMB, stage: decision, count: 3}
"""


@dataclass(frozen=True)
class Expect:
    """Where a fixture's problem must be reported and what the message must say."""

    line: int
    column: int
    path: str
    says: tuple[str, ...]


EXPECTED: dict[str, Expect] = {
    "wrong_typo_key": Expect(
        6, 3, "reps.cuont",
        ("unknown key 'cuont'", "did you mean 'count'?", "allowed here: count, members"),
    ),
    "wrong_type": Expect(
        7, 3, "reps.hours_per_week", ("expected a number", "(got 'forty')"),
    ),
    "wrong_probability": Expect(
        8, 5, "segments.S1.inbound_share",
        ("must be between 0 and 1", "(got 35)", "0.35 for 35%"),
    ),
    "wrong_negative_rate": Expect(
        7, 5, "leads.referrals.per_week", ("must be between 0 and 10000", "(got -2)"),
    ),
    "wrong_missing_name": Expect(2, 1, "name", ("required field is missing",)),
    "wrong_missing_revenue": Expect(
        3, 1, "target.revenue", ("required field is missing", "Bookings target"),
    ),
    "wrong_unknown_competitor": Expect(
        13, 25, "segments.S1.competitors[1]",
        ("unknown competitor 'Globx'", "did you mean 'Globex'?", "allowed: Acme, Globex"),
    ),
    "wrong_unknown_segment_campaign": Expect(
        13, 7, "campaigns.webinar.segments.Entreprise",
        ("unknown segment 'Entreprise'", "did you mean 'Enterprise'?", "allowed: Enterprise, SMB"),
    ),
    "wrong_unknown_segment_pipeline": Expect(
        12, 5, "open_pipeline[1].segment",
        ("unknown segment 'Mid-market'", "allowed: Enterprise, SMB"),
    ),
    "wrong_malformed": Expect(
        7, 12, "(top level)",
        ("malformed YAML", "expected ',' or ']'", "flow sequence on line 6"),
    ),
    "wrong_duplicate_key": Expect(
        8, 3, "reps.count", ("duplicated key", "first given on line 6", "only once"),
    ),
    "wrong_unknown_criterion": Expect(
        9, 5, "us.scores.prise",
        ("unknown criterion 'prise'", "did you mean 'price'?",
         "allowed: functionality, price, risk, service"),
    ),
    "wrong_unknown_weight": Expect(
        10, 7, "segments.S1.criteria_weights.servise",
        ("unknown criterion 'servise'", "did you mean 'service'?", "allowed: functionality"),
    ),
    "wrong_choice": Expect(
        6, 3, "qualification.policy",
        ("unknown qualification policy 'thresold'", "did you mean 'threshold'?",
         "allowed: discretion, pursue_all, threshold"),
    ),
    "wrong_not_a_mapping": Expect(
        1, 1, "(top level)", ("a scenario must be a mapping of keys to values",),
    ),
    "wrong_extends_segment_case": Expect(
        5, 3, "segments.s1",
        ("unknown segment 's1'", "did you mean 'S1'?", "S1, S2, S3, S4", "new: true"),
    ),
    "wrong_extends_competitor": Expect(
        5, 3, "competitors.Incumbant",
        ("unknown competitor 'Incumbant'", "did you mean 'Incumbent'?", "Incumbent, Challenger"),
    ),
    "wrong_team_count": Expect(
        5, 3, "reps.count",
        ("20 conflicts with reps.members", "(18 reps)", "set reps.members to null"),
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- running the CLI
_ENV = {
    **os.environ,
    # rich wraps at 80 columns when not on a terminal; see test_messages_are_not_wrapped
    "COLUMNS": "1000",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "PYTHONWARNINGS": "ignore",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}

_DRIVER = r"""
import json, os, sys, tempfile, traceback
from pipesim.cli.main import main

def one(args):
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                try:
                    main(args=args, prog_name="pipesim")
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                except BaseException:
                    traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return [os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode()]

json.dump([one(args) for args in json.load(sys.stdin)], sys.stdout)
"""

Key = tuple[str, ...]
_forked: dict[Key, subprocess.CompletedProcess[str]] = {}
_e2e: dict[tuple[Key, bool], subprocess.CompletedProcess[str]] = {}


def _key(args: tuple[str | Path, ...]) -> Key:
    return tuple(str(a) for a in args)


def _run_e2e(args: Key, wide: bool = True) -> subprocess.CompletedProcess[str]:
    env = _ENV if wide else {k: v for k, v in _ENV.items() if k != "COLUMNS"}
    return subprocess.run(
        [sys.executable, "-m", "pipesim.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _run_forked(jobs: list[Key]) -> list[subprocess.CompletedProcess[str]]:
    if not hasattr(os, "fork"):  # no fork (Windows): one interpreter per case
        return [_run_e2e(args) for args in jobs]
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        subprocess.CompletedProcess(["pipesim", *args], code, out, err)
        for args, (code, out, err) in zip(jobs, json.loads(proc.stdout), strict=True)
    ]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``pipesim ARGS`` in a forked child of the driver (started up front by the fixture)."""
    key = _key(args)
    if key not in _forked:
        (_forked[key],) = _run_forked([key])
    return _forked[key]


def cli_e2e(*args: str | Path, wide: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m pipesim.cli.main ARGS`` in a fresh interpreter."""
    key = (_key(args), wide)
    if key not in _e2e:
        _e2e[key] = _run_e2e(*key)
    return _e2e[key]


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run") / "out"


@pytest.fixture(scope="module", autouse=True)
def _start_all(good_file: Path, run_out: Path) -> None:
    """Start every invocation the tests below make, concurrently."""
    forked = [_key(("validate", f)) for f in sorted(FIXTURES.glob("wrong_*.yaml"))]
    forked += [
        _key(args)
        for args in (
            ("validate", good_file),
            ("validate", MISSING),
            ("validate", good_file, "--set", "reps.cuont=12"),
            ("validate", good_file, "--set", "reps.count=twelve"),
            ("validate", good_file, "--set", "segments.SMB.competitors.0=Globx"),
            ("validate", good_file, "--set", "reps"),
            ("validate", good_file, "--set", "open_pipeline.0.count=5", "--set", "reps.count=9"),
            ("validate", TYPO, "--debug"),
            ("run", good_file, "--replications", "0"),
        )
    ]
    e2e = [
        (_key(args), wide)
        for args, wide in (
            (("validate", good_file), True),
            (("validate", TYPO), True),
            (("validate", TYPO), False),
            (("run", TYPO, "-n", "2", "--quiet", "--out", run_out), True),
            (("validate", good_file, "--no-such-option"), True),
        )
    ]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        batch = pool.submit(_run_forked, forked)
        singles = list(pool.map(lambda k: _run_e2e(*k), e2e))
        _forked.update(zip(forked, batch.result(), strict=True))
    _e2e.update(zip(e2e, singles, strict=True))


def assert_bad_input(result: subprocess.CompletedProcess[str]) -> str:
    """Exit code 2, no traceback; return everything printed."""
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "Traceback" not in text, text
    return text


# --------------------------------------------------------------------------- the fixtures
def test_every_fixture_has_an_expectation() -> None:
    names = {p.stem for p in FIXTURES.glob("wrong_*.yaml")}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_is_explained(name: str) -> None:
    expect = EXPECTED[name]
    path = FIXTURES / f"{name}.yaml"
    text = assert_bad_input(cli("validate", path))
    assert f"{path}:{expect.line}:{expect.column}: {expect.path}: " in text
    for phrase in expect.says:
        assert phrase in text


def test_good_file_exits_zero(good_file: Path) -> None:
    for result in (cli("validate", good_file), cli_e2e("validate", good_file)):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "ok" in result.stdout and "scenario 'good'" in result.stdout


def test_end_to_end_bad_fixture() -> None:
    """The real ``python -m pipesim.cli.main`` prints exactly what the forked runs print."""
    text = assert_bad_input(cli_e2e("validate", TYPO))
    assert f"{TYPO}:6:3: reps.cuont: unknown key 'cuont' (did you mean 'count'?)" in text
    assert text == cli("validate", TYPO).stdout + cli("validate", TYPO).stderr


def test_missing_file() -> None:
    text = assert_bad_input(cli("validate", MISSING))
    assert f"{MISSING}: (top level): file not found" in text


# --------------------------------------------------------------------------- --set overrides
def test_typo_in_override_reads_like_the_same_typo_in_the_file(good_file: Path) -> None:
    text = assert_bad_input(cli("validate", good_file, "--set", "reps.cuont=12"))
    origin = "--set reps.cuont=12: reps.cuont: "
    assert origin in text
    from_override = text.split(origin, 1)[1].splitlines()[0]
    from_file = cli("validate", TYPO).stderr.split(f"{TYPO}:6:3: reps.cuont: ", 1)[1]
    assert from_override == from_file.splitlines()[0]
    assert "did you mean 'count'?" in from_override


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("reps.count=twelve", "--set reps.count=twelve: reps.count: expected a whole number"),
        (
            "segments.SMB.competitors.0=Globx",
            "--set segments.SMB.competitors.0=Globx: segments.SMB.competitors[0]: "
            "unknown competitor 'Globx' (did you mean 'Globex'?)",
        ),
        ("reps", "--set reps: reps: override 'reps' must look like dotted.key=value"),
    ],
)
def test_bad_override_names_the_override(good_file: Path, override: str, expected: str) -> None:
    text = assert_bad_input(cli("validate", good_file, "--set", override))
    assert expected in text
    assert str(good_file) + ":" not in text  # the file is fine: do not blame it


def test_good_overrides_apply(good_file: Path) -> None:
    result = cli("validate", good_file, "--set", "open_pipeline.0.count=5", "--set", "reps.count=9")
    assert result.returncode == 0, result.stderr
    assert "9 reps" in result.stdout


# --------------------------------------------------------------------------- the commands
def test_run_rejects_a_bad_scenario_before_running(run_out: Path) -> None:
    text = assert_bad_input(cli_e2e("run", TYPO, "-n", "2", "--quiet", "--out", run_out))
    assert f"{TYPO}:6:3: reps.cuont: unknown key 'cuont'" in text
    assert not run_out.exists()


def test_debug_still_exits_2() -> None:
    result = cli("validate", TYPO, "--debug")
    assert result.returncode == 2
    assert "reps.cuont" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("validate", "GOOD", "--no-such-option"), ("run", "GOOD", "--replications", "0")],
)
def test_bad_command_line_exits_2(good_file: Path, args: tuple[str, ...]) -> None:
    real = tuple(good_file if a == "GOOD" else a for a in args)
    result = cli_e2e(*real) if "--no-such-option" in args else cli(*real)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Usage:" in result.stderr


def test_messages_are_not_wrapped() -> None:
    result = cli_e2e("validate", TYPO, wide=False)
    assert result.returncode == 2
    problem = [line for line in result.stderr.splitlines() if "reps.cuont" in line]
    assert problem and problem[0].rstrip().endswith("cost_per_hour")
