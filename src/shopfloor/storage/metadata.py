"""Imports every domain's tables so that ``Base.metadata`` is complete for migrations."""

from shopfloor.core import idempotency  # noqa: F401
from shopfloor.plant import models as plant_models  # noqa: F401
from shopfloor.storage.base import Base

target_metadata = Base.metadata
