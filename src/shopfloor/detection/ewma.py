"""The robust baseline: distance from an exponentially weighted level, in robust units.

The surprise of a reading is its distance from the running level divided by the running mean
absolute error (scaled to a standard deviation); errors larger than six of those units are
capped when the scale learns, so one outlier does not blind the detector to the next. The
surprise is calibrated and held off like every detector's (``kernels``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from shopfloor.detection.base import Detector
from shopfloor.detection.kernels import (
    CAL_SIZE,
    NO_ALERT_YET,
    P_FLOOR,
    hold_off,
    init_calibration,
    score_from_probabilities,
    surprise,
    tail_probability,
)

COUNT, LEVEL, SCALE, SINCE_ALERT = range(4)
CAL = 4
STATE_SIZE = CAL + CAL_SIZE
WARM_UP = 5


@njit(cache=True, nogil=True)
def _ewma_kernel(state, x, out, p):  # pragma: no cover - compiled
    level_a, scale_a, fade, alert, hold, damp, decades = p
    for i in range(len(x)):
        v = x[i]
        if not math.isfinite(v):
            out[i] = 0.0
            continue
        n = state[COUNT]
        if n == 0.0:
            state[LEVEL] = v
        error = v - state[LEVEL]
        scale = state[SCALE] * 1.2533  # mean absolute error → standard deviation
        distance = surprise(abs(error), scale, n - 1.0)
        p_value = tail_probability(state, CAL, distance, fade, True)
        score = score_from_probabilities(-math.log10(max(p_value, P_FLOOR)), decades)
        out[i] = hold_off(state, SINCE_ALERT, score, alert, hold, damp)
        if n > WARM_UP:
            state[SCALE] = (1.0 - scale_a) * state[SCALE] + scale_a * min(abs(error), 6.0 * scale)
        else:
            state[SCALE] = (state[SCALE] * n + abs(error)) / (n + 1.0)
        state[LEVEL] += level_a * error
        state[COUNT] = n + 1.0


class EwmaDetector(Detector):
    """Robust z-score against an exponentially weighted level (the baseline)."""

    name = "ewma"

    def __init__(
        self,
        *,
        level_alpha: float = 0.1,
        scale_alpha: float = 0.01,
        calibration_fade: float = 0.0005,
        alert_level: float = 0.5,
        hold_readings: int = 250,
        damping: float = 0.5,
        rarity_decades: float = 6.0,
    ) -> None:
        super().__init__()
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.calibration_fade = calibration_fade
        self.alert_level = alert_level
        self.hold_readings = hold_readings
        self.damping = damping
        self.rarity_decades = rarity_decades

    def params(self) -> dict[str, Any]:
        return {
            "level_alpha": self.level_alpha,
            "scale_alpha": self.scale_alpha,
            "calibration_fade": self.calibration_fade,
            "alert_level": self.alert_level,
            "hold_readings": self.hold_readings,
            "damping": self.damping,
            "rarity_decades": self.rarity_decades,
        }

    def _new_state(self) -> np.ndarray:
        state = np.zeros(STATE_SIZE)
        state[SINCE_ALERT] = NO_ALERT_YET
        init_calibration(state, CAL)
        return state

    def _run(self, state: np.ndarray, t: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        p = self.params()
        _ewma_kernel(state, x, out, tuple(float(p[k]) for k in p))
