"""Training data in the shape the models read, whichever way it came: a file or stored readings.

A failure model reads ``read_ai4i``'s inputs and labels; a remaining-useful-life model reads
``read_cmapss``'s run-to-failure histories. Both carry ``source``, where the rows came from in
words, which the registered version repeats in its description and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from shopfloor.core.errors import BadRequest

# Fewer rows than this of either class leave too few failures for a stratified hold-out share
# and the failure model's five inner folds.
MIN_ROWS_PER_CLASS = 10
# A fifth of the units is held out for the hold-out score: five leave one to score, four to learn.
MIN_UNITS = 5


@dataclass(frozen=True)
class FailureFrames:
    """Inputs as ``read_ai4i`` returns them (``type`` and the five measurements) and the
    ``machine_failure`` labels (0/1) on the same index."""

    features: pd.DataFrame
    labels: pd.Series
    source: str
    skipped: tuple[str, ...] = ()  # assets left out, each with the reason
    kind: ClassVar[str] = "failure"


@dataclass(frozen=True)
class RulFrames:
    """Run-to-failure histories as ``read_cmapss`` returns them: ``unit``, ``cycle`` and sensor
    columns (``s_1`` …), sorted by unit then cycle; each unit's last cycle is its failure."""

    histories: pd.DataFrame
    source: str
    skipped: tuple[str, ...] = ()
    kind: ClassVar[str] = "rul"


TrainingFrames = FailureFrames | RulFrames


def failure_frames_from_file(path: Path) -> FailureFrames:
    """The inputs and labels of an AI4I 2020 CSV; BadRequest naming what is wrong with it."""
    from shopfloor.ml.ai4i import read_ai4i

    try:
        features, labels, _modes = read_ai4i(path)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return FailureFrames(features, labels, source=f"file {path.name}")


def rul_frames_from_file(path: Path) -> RulFrames:
    """The histories of a C-MAPSS file; BadRequest naming the line that is wrong."""
    from shopfloor.ml.cmapss import read_cmapss

    try:
        return RulFrames(read_cmapss(path), source=f"file {path.name}")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def frames_from_file(kind: str, path: Path) -> TrainingFrames:
    """The training data of a file in the format of the model's kind (ai4i or cmapss)."""
    if kind == "failure":
        return failure_frames_from_file(path)
    if kind == "rul":
        return rul_frames_from_file(path)
    raise BadRequest(f"training {kind or 'unknown'} models is not supported")


def check_trainable(frames: TrainingFrames) -> None:
    """BadRequest, naming what is missing, when the data cannot train and score a model."""
    if isinstance(frames, FailureFrames):
        failures = int(frames.labels.sum())
        healthy = len(frames.labels) - failures
        if not failures or not healthy:
            only = "0 (no failure)" if not failures else "1 (failure)"
            raise BadRequest(
                f"{frames.source}: every one of the {len(frames.labels)} rows is labelled {only};"
                " a failure model needs rows of both classes"
            )
        if min(failures, healthy) < MIN_ROWS_PER_CLASS:
            raise BadRequest(
                f"{frames.source}: too few rows: {failures} failure(s) and {healthy} healthy"
                f" row(s); at least {MIN_ROWS_PER_CLASS} of each are needed"
            )
        return
    units = int(frames.histories["unit"].nunique())
    if units < MIN_UNITS:
        raise BadRequest(
            f"{frames.source}: too few rows: {units} run-to-failure unit(s); at least"
            f" {MIN_UNITS} are needed"
        )
