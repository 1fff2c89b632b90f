"""What the detectors leave behind for people: each sensor's highest anomaly score per minute."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from shopfloor.storage.base import Base


class AnomalyScoreMinute(Base):
    """The highest score the ``detect`` stage gave a sensor's readings within one minute.

    The maximum, not every score: a chart over days needs "was anything odd in this minute",
    and a maximum is idempotent, so a replayed message rewrites the same row. ``bucket_us`` is
    the minute's start in epoch microseconds, the same number on every database.
    """

    __tablename__ = "anomaly_scores_1m"
    __table_args__ = {"sqlite_with_rowid": False}

    sensor_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_us: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    max_score: Mapped[float] = mapped_column(Float)
