"""The scenario: a frozen, validated description of a sales organisation and its market.

Every number the model uses lives here, as a field with a default, a unit and a source. The
engine only reads a :class:`Scenario`; a what-if is a new, validated copy
(:func:`pipesim.scenario.loader.what_if`, or a dot-path override through
:func:`pipesim.scenario.loader.load_scenario`), never ``model_copy``, which skips validation.
Every number has a lower and an upper bound that keep a replication finite and runnable.

Times are in days inside the engine; fields say their unit in their name (``_days``, ``_weeks``,
``_per_week``). Money is in the scenario's currency.

Sources are cited as ``domain.md §N (seed file)``, pointing at the team's domain brief; values
marked *judgement* are modelling choices tuned so the baseline reproduces the seed figures (see
``docs/model.md``, calibration table).

The blocks live in :mod:`~pipesim.scenario.schema.base` (the parameter declaration, the block
base, the random-quantity blocks and the shared vocabularies),
:mod:`~pipesim.scenario.schema.market` (segments, vendors, journey, choice),
:mod:`~pipesim.scenario.schema.sales` (engagement, flanking, lead sources, reps, qualification),
:mod:`~pipesim.scenario.schema.forecast` (open pipeline, uncertainty, target, economics) and
:mod:`~pipesim.scenario.schema.root` (the :class:`Scenario` that gathers them); checks across
blocks are in :mod:`pipesim.scenario.references`.
"""

from pipesim.scenario.schema.base import (
    QUALIFICATION_CHECKS,
    STAGES,
    TERMINAL_STATES,
    BetaShare,
    SizeDistribution,
    Spec,
    param,
)
from pipesim.scenario.schema.forecast import (
    BookedDeal,
    Economics,
    OpenOpportunities,
    Target,
    Uncertainty,
)
from pipesim.scenario.schema.market import (
    Choice,
    Competitor,
    Impact,
    Journey,
    Segment,
    StageTiming,
    Vendor,
)
from pipesim.scenario.schema.organisation import Team
from pipesim.scenario.schema.root import Scenario
from pipesim.scenario.schema.sales import (
    Campaign,
    Engagement,
    Flanking,
    LeadResponse,
    Leads,
    Outbound,
    Prospecting,
    Qualification,
    Referrals,
    Reps,
    RepSpec,
    ResponseCurve,
)

__all__ = [
    "QUALIFICATION_CHECKS",
    "STAGES",
    "TERMINAL_STATES",
    "BetaShare",
    "BookedDeal",
    "Campaign",
    "Choice",
    "Competitor",
    "Economics",
    "Engagement",
    "Flanking",
    "Impact",
    "Journey",
    "LeadResponse",
    "Leads",
    "OpenOpportunities",
    "Outbound",
    "Prospecting",
    "Qualification",
    "Referrals",
    "RepSpec",
    "Reps",
    "ResponseCurve",
    "Scenario",
    "Segment",
    "SizeDistribution",
    "Spec",
    "StageTiming",
    "Target",
    "Team",
    "Uncertainty",
    "Vendor",
    "param",
]
