"""Imports every domain's tables so that ``Base.metadata`` is complete for migrations."""

from shopfloor.alarms import models as alarm_models  # noqa: F401
from shopfloor.auth import models as auth_models  # noqa: F401
from shopfloor.bus import outbox  # noqa: F401
from shopfloor.connectors import models as connector_models  # noqa: F401
from shopfloor.core import idempotency  # noqa: F401
from shopfloor.detection import models as detection_models  # noqa: F401
from shopfloor.ml import models as ml_models  # noqa: F401
from shopfloor.notify import models as notify_models  # noqa: F401
from shopfloor.pipeline import models as pipeline_models  # noqa: F401
from shopfloor.plant import models as plant_models  # noqa: F401
from shopfloor.quality import models as quality_models  # noqa: F401
from shopfloor.storage.base import Base

target_metadata = Base.metadata
