"""Documented shapes of the readings API (the hot paths serialise without pydantic)."""

from __future__ import annotations

from pydantic import BaseModel


class ReadingIn(BaseModel):
    sensor: str
    ts: str | float
    value: float


class SeriesIn(BaseModel):
    sensor: str
    ts: list[str | float]
    values: list[float]


class ReadingsBody(BaseModel):
    """Exactly one of ``readings`` (rows) or ``series`` (columns)."""

    readings: list[ReadingIn] | None = None
    series: list[SeriesIn] | None = None


class IngestOut(BaseModel):
    accepted: int
    duplicates: int


class Point(BaseModel):
    ts: str
    value: float


class Aggregate(BaseModel):
    ts: str
    min: float
    max: float
    mean: float
    count: int


class ReadingsPage(BaseModel):
    items: list[Point] | list[Aggregate]
    next_cursor: str | None = None


class Latest(BaseModel):
    sensor: str
    ts: str
    value: float


class LatestList(BaseModel):
    items: list[Latest]
