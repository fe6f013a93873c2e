"""The root of the schema: :class:`Scenario`, which gathers every block of a scenario.

Its fields come in the order a scenario file (and its dump) lists them.
"""

from __future__ import annotations

from pipesim.scenario.schema.base import MAX_DAYS, Spec, param
from pipesim.scenario.schema.forecast import (
    BookedDeal,
    Economics,
    OpenOpportunities,
    Target,
    Uncertainty,
)
from pipesim.scenario.schema.market import Choice, Competitor, Journey, Segment, Vendor
from pipesim.scenario.schema.organisation import Team
from pipesim.scenario.schema.sales import (
    Campaign,
    Engagement,
    Flanking,
    Leads,
    Qualification,
    Reps,
)


class Scenario(Spec):
    """A complete, validated scenario: market, vendors, team, lead sources, policy and target."""

    name: str = param(
        ..., "Scenario name (used for output folders and reports).", "user data", min_length=1
    )
    description: str = param("", "Free-text description of the scenario.", "user data")
    target: Target
    segments: dict[str, Segment] = param(
        {
            "S1": Segment(),
            "S2": Segment(),
            "S3": Segment(),
            "S4": Segment(),
        },
        "Market segments by name.",
        "domain.md §3 (000, 002)",
    )
    criteria: list[str] = param(
        ["functionality", "price", "service", "risk"],
        "Purchase criteria buyers weigh.",
        "domain.md §2 (003)",
    )
    us: Vendor = Vendor()
    competitors: dict[str, Competitor] = param({}, "Competitors by name.", "domain.md §2 (003)")
    journey: Journey = Journey()
    engagement: Engagement = Engagement()
    choice: Choice = Choice()
    reps: Reps = Reps()
    teams: dict[str, Team] = param(
        {},
        "Sales teams and regions by name (docs/organisation.md); none: one team.",
        "user data",
    )
    qualification: Qualification = Qualification()
    flanking: Flanking = Flanking()
    leads: Leads = Leads()
    campaigns: dict[str, Campaign] = param({}, "Marketing campaigns by name.", "domain.md §3")
    open_pipeline: list[OpenOpportunities] = param(
        [], "Opportunities open at the start of the horizon.", "user data"
    )
    booked: list[BookedDeal] = param(
        [],
        "Deals already won in the target period before target.start_date (bookings to date, "
        "from target.period_start): they count toward revenue and the target, not toward a "
        "rep's or team's bookings over the horizon.",
        "user data",
    )
    economics: Economics = Economics()
    uncertainty: dict[str, Uncertainty] = param(
        {},
        "Parameter uncertainty by dotted path (e.g. segments.S1.deal_size.mean): with "
        "`pipesim run --parameter-uncertainty` each replication draws these parameters first, "
        "so P(target) reflects how little history there is. Written by `pipesim calibrate`.",
        "calibration (pipesim calibrate)",
    )
    prehistory_days: float = param(
        400.0,
        "Days of buyer arrivals simulated before day 0 so inbound flow is in steady state.",
        "judgement",
        ge=0,
        le=MAX_DAYS,
    )

    @property
    def horizon_days(self) -> float:
        """Horizon length in days."""
        return self.target.horizon_weeks * 7.0

    @property
    def rep_quota(self) -> float:
        """Quota per seat over the horizon."""
        return self.target.rep_quota or self.target.revenue / self.reps.seats

    def team_seats(self) -> dict[str, list[int]]:
        """Each team's seats: its own reps' and those of every team under it, in team order."""
        index = {label: k for k, label in enumerate(self.reps.labels())}
        children: dict[str, list[str]] = {name: [] for name in self.teams}
        for name, team in self.teams.items():
            if team.parent in children:
                children[team.parent].append(name)

        def seats(name: str, seen: frozenset[str]) -> list[int]:
            own = [index[r] for r in self.teams[name].reps if r in index]
            for child in children[name]:
                if child not in seen:  # a cycle is a validation error; never loop on it
                    own += seats(child, seen | {child})
            return sorted(own)

        return {name: seats(name, frozenset({name})) for name in self.teams}

    @property
    def booked_total(self) -> float:
        """Bookings to date: the sum of the ``booked`` deals."""
        return float(sum(d.value for d in self.booked))

    def deal_ids(self) -> list[str]:
        """Each open-pipeline deal's id, in deal order.

        The entry's ``id``, suffixed -1, -2 ... when its count is over 1; without an id: the
        segment, stage and position.
        """
        out: list[str] = []
        for i, opp in enumerate(self.open_pipeline):
            for k in range(opp.count):
                if opp.id is None:
                    out.append(f"{opp.segment}-{opp.stage}-{i + 1}.{k + 1}")
                else:
                    out.append(opp.id if opp.count == 1 else f"{opp.id}-{k + 1}")
        return out

    def seat_quotas(self) -> list[float]:
        """Each seat's quota over the horizon: ``target.rep_quotas`` by label, else rep_quota."""
        default, named = self.rep_quota, self.target.rep_quotas
        return [named.get(label, default) for label in self.reps.labels()]
