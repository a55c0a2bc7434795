"""The metrics service's pure core: per-appeal facts, figures per level and period, rankings.

No I/O here: the faust entrypoint folds events into ``AppealFacts`` and the reports API and
``appeals metrics rebuild`` call ``aggregate``; the Prometheus adapter turns both into series.
"""

from services.metrics.domain.facts import (
    NONE,
    OPEN_STATES,
    AppealFacts,
    Assignment,
    Overdue,
    Place,
    districts_of,
    fold,
)
from services.metrics.domain.figures import (
    LEVELS,
    MIN_SAMPLE,
    RANKABLE,
    RATES,
    Bucket,
    Counters,
    LevelFigures,
    aggregate,
    current_figures,
    ranking,
    street_ranking,
    unit_ranking,
)
from services.metrics.domain.formulas import (
    CITY_TZ,
    Ranked,
    RankEntry,
    Weights,
    composite_score,
    percentile,
    period_key,
    rank,
    wilson_interval,
)

__all__ = [
    "CITY_TZ",
    "LEVELS",
    "MIN_SAMPLE",
    "NONE",
    "OPEN_STATES",
    "RANKABLE",
    "RATES",
    "AppealFacts",
    "Assignment",
    "Bucket",
    "Counters",
    "LevelFigures",
    "Overdue",
    "Place",
    "RankEntry",
    "Ranked",
    "Weights",
    "aggregate",
    "composite_score",
    "current_figures",
    "districts_of",
    "fold",
    "percentile",
    "period_key",
    "rank",
    "ranking",
    "street_ranking",
    "unit_ranking",
    "wilson_interval",
]
