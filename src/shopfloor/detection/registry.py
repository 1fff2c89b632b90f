"""Detectors by name, as sensors (``sensor.detector``), settings and the CLI name them."""

from __future__ import annotations

from shopfloor.detection.base import Detector, UnknownDetector
from shopfloor.detection.ewma import EwmaDetector
from shopfloor.detection.seasonal import SeasonalDetector

DETECTORS: dict[str, type[Detector]] = {
    SeasonalDetector.name: SeasonalDetector,
    EwmaDetector.name: EwmaDetector,
}
# The best of them on the Numenta Anomaly Benchmark (docs/benchmarks.md).
DEFAULT_DETECTOR = SeasonalDetector.name


def detector_class(name: str) -> type[Detector]:
    try:
        return DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise UnknownDetector(f"unknown detector {name!r}; known: {known}") from None


def make_detector(name: str | None = None) -> Detector:
    """A new detector of that name (the default one without a name), default hyperparameters."""
    return detector_class(name or DEFAULT_DETECTOR)()
