"""Statistical process control as a pure library: chart constants, Shewhart control charts,
Western Electric / Nelson rules and process capability. No database, no HTTP: the quality
service feeds it values and maps ``SpcInputError`` (a ValueError) to a 422 problem."""

from shopfloor.quality.spc.capability import Capability, capability
from shopfloor.quality.spc.charts import compute_chart
from shopfloor.quality.spc.constants import (
    ChartConstants,
    CountError,
    SpcInputError,
    SubgroupSizeError,
    TooFewPointsError,
    constants,
)
from shopfloor.quality.spc.results import (
    ATTRIBUTE_CHARTS,
    CHART_KINDS,
    VARIABLES_CHARTS,
    ChartResult,
    FrozenLimits,
    Point,
    PointLimits,
)
from shopfloor.quality.spc.rules import (
    ALL,
    NELSON,
    WESTERN_ELECTRIC,
    Violation,
    evaluate,
    evaluate_chart,
)

__all__ = [
    "ALL",
    "ATTRIBUTE_CHARTS",
    "CHART_KINDS",
    "NELSON",
    "VARIABLES_CHARTS",
    "WESTERN_ELECTRIC",
    "Capability",
    "ChartConstants",
    "ChartResult",
    "CountError",
    "FrozenLimits",
    "Point",
    "PointLimits",
    "SpcInputError",
    "SubgroupSizeError",
    "TooFewPointsError",
    "Violation",
    "capability",
    "compute_chart",
    "constants",
    "evaluate",
    "evaluate_chart",
]
