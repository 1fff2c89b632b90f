"""Pipeline stages on the bus: the Stage protocol, the supervising runner, checkpointed state."""

from shopfloor.pipeline.runner import PipelineRunner
from shopfloor.pipeline.stage import BaseStage, Stage, StageContext, StageUnavailable
from shopfloor.pipeline.state import Checkpointer, StateStore

__all__ = [
    "BaseStage",
    "Checkpointer",
    "PipelineRunner",
    "Stage",
    "StageContext",
    "StageUnavailable",
    "StateStore",
]
