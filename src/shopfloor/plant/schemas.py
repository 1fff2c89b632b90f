"""Request and response bodies of the plant API."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shopfloor.core.paths import path_problem
from shopfloor.detection.registry import DETECTORS

AssetKind = Literal["site", "area", "line", "cell", "machine"]


def _checked_path(value: str) -> str:
    problem = path_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class AssetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(examples=["acme/stamping/line-1/press-3"])
    kind: AssetKind
    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)

    _path = field_validator("path")(_checked_path)


class AssetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] | None = None


class AssetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    kind: str
    name: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class SensorFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=32)
    low_limit: float | None = None
    high_limit: float | None = None
    sampling_interval_s: float | None = Field(default=None, gt=0)
    detector: str | None = Field(default=None, max_length=64)

    _finite_limits = field_validator("low_limit", "high_limit")(_finite)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str | None) -> str | None:
        if value is not None and value not in DETECTORS:
            raise ValueError(f"unknown detector; known: {', '.join(sorted(DETECTORS))}")
        return value

    @model_validator(mode="after")
    def _limits_in_order(self) -> SensorFields:
        if (
            self.low_limit is not None
            and self.high_limit is not None
            and self.low_limit >= self.high_limit
        ):
            raise ValueError("low_limit must be below high_limit")
        return self


class SensorCreate(SensorFields):
    path: str = Field(examples=["acme/stamping/line-1/press-3/oil-temp"])

    _path = field_validator("path")(_checked_path)


class SensorUpdate(SensorFields):
    pass


class SensorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    asset_id: int
    name: str
    unit: str | None
    low_limit: float | None
    high_limit: float | None
    sampling_interval_s: float | None
    detector: str | None
    created_at: datetime
    updated_at: datetime
