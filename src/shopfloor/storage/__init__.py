from shopfloor.storage.base import Base
from shopfloor.storage.database import Database

__all__ = ["Base", "Database"]
