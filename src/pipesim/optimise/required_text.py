"""The words of a ``pipesim required`` answer: the sentence, the step below, today, resolution.

:func:`message` turns a :class:`~pipesim.optimise.required.RequiredResult` into what the command
prints: the answer with its interval, the value one step below and today's, whether the answer is
resolved at the replications run (or which way it could move at the limit), and the report's
"new opportunities needed" beside the simulated answer.
"""

from __future__ import annotations

from itertools import pairwise

from pipesim.optimise.required import Evaluation, RequiredResult, Resolution
from pipesim.optimise.text import money, number, pct
from pipesim.report.data import article


def _ci(ev: Evaluation) -> str:
    return f"95% CI {pct(ev.p_target['ci_low'])}-{pct(ev.p_target['ci_high'])}"


def message(r: RequiredResult) -> str:
    """The answer in one sentence, then the point one step below and today's."""
    a, b, t = r.answer, r.below, r.today
    assert a is not None
    chance = f"{article(pct(a.p, 0))} {pct(a.p, 0)} chance ({_ci(a)})"
    lines = []
    if r.kind == "outbound":
        lines.append(
            f"each rep needs {number(a.new_opportunities, 1)} new opportunities per week "
            f"(today {number(t.new_opportunities, 1)}) for {chance} of reaching "
            f"{money(r.target, r.currency)}"
        )
        lines.append(
            f"  = {number(a.value - t.value, 3)} more outbound opportunities per rep per week "
            f"(leads.outbound.opportunities_per_rep_week = {number(a.value, 3)}, today "
            f"{number(t.value, 3)}), measured as new_opportunities_per_rep_week"
        )
        if b is not None:
            lines.append(
                f"  one step below (leads.outbound.opportunities_per_rep_week = "
                f"{number(b.value, 3)}, {number(b.new_opportunities, 1)} new opportunities per "
                f"week): P(target) = {pct(b.p)} ({_ci(b)})"
            )
    elif r.kind == "reps":
        hires = "new hires ramp up" if r.hires == "ramping" else "new reps fully productive"
        lines.append(
            f"the team needs {int(a.value)} reps (today {int(t.value)}; {hires}) for {chance} "
            f"of reaching {money(r.target, r.currency)}"
        )
        if b is not None:
            lines.append(
                f"  one step below ({int(b.value)} reps): P(target) = {pct(b.p)} ({_ci(b)})"
            )
    else:
        lines.append(
            f"{r.lever} needs {money(a.value, r.currency)} per week (today "
            f"{money(t.value, r.currency)}) for {chance} of reaching "
            f"{money(r.target, r.currency)}"
        )
        if b is not None:
            lines.append(
                f"  one step below ({money(b.value, r.currency)} per week): P(target) = "
                f"{pct(b.p)} ({_ci(b)})"
            )
    if b is None and a.value > t.value - 1e-12 and a is not t:
        lines.append("  (no grid point lies below the answer)")
    if a is t or abs(a.value - t.value) < 1e-12:
        lines.append(f"  today's value already gives P(target) = {pct(t.p)} ({_ci(t)})")
    elif a.value < t.value:
        lines.append(f"  today's value gives P(target) = {pct(t.p)} ({_ci(t)}): more than needed")
    else:
        lines.append(f"  today: P(target) = {pct(t.p)} ({_ci(t)})")
    if r.kind == "outbound" and _indicator_line(r):
        lines.append(_indicator_line(r))
    if r.resolution is not None:
        lines += _resolution_lines(r, r.resolution)
    more = ""
    if a.replications > r.replications:
        more = f", {a.replications:,} at the answer and the step below"
    lines.append(
        f"  ({r.replications:,} replications per value{more}; seed {r.seed}, common random "
        f"numbers; grid step {number(r.step, 3)})"
    )
    return "\n".join(lines)


def _resolution_lines(r: RequiredResult, res: Resolution) -> list[str]:
    a, b = r.answer, r.below
    assert a is not None
    c = pct(r.confidence, 0)
    if res.resolved:
        first = f"  {res.text()}: at the answer P(target) >= {c} ({_ci(a)})"
        if b is not None:
            first += f", one step below < {c} ({_ci(b)})"
        lines = [first]
    else:
        why = []
        if res.lower:
            why.append(f"the step below's 95% interval reaches {c}")
        if res.higher:
            why.append(f"the answer's 95% interval reaches below {c}")
        lines = [f"  {res.text()} ({' and '.join(why)}); raise --max-replications for more"]
    if res.difference is not None:
        est, lo, hi = res.difference
        lines.append(
            f"  paired difference, answer minus one step below: {100 * est:+.1f} pp (95% CI "
            f"{100 * lo:+.1f} to {100 * hi:+.1f} pp, the same {res.replications:,} replications)"
        )
    return lines


def _on_average(r: RequiredResult) -> str:
    """Where the simulated mean revenue reaches the target, between two simulated values."""
    evs = sorted(r.evaluations, key=lambda e: e.value)
    if evs and evs[0].revenue_mean >= r.target:
        return f"at or below {number(evs[0].new_opportunities, 1)} (the least simulated)"
    for lo, hi in pairwise(evs):
        if lo.revenue_mean < r.target <= hi.revenue_mean:
            return (
                f"between {number(lo.new_opportunities, 1)} and {number(hi.new_opportunities, 1)}"
            )
    return ""


def _indicator_line(r: RequiredResult) -> str:
    """Where the simulated mean revenue crosses the target (a mean, not the chance asked for)."""
    where = _on_average(r)
    if not where:
        return ""
    return (
        f"  on average: simulated mean revenue reaches the target {where} new opportunities "
        "per week (a mean, not the chance asked for)"
    )
