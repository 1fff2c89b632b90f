"""The robust baseline: distance from an exponentially weighted level, in robust units.

The surprise of a reading is its distance from the running level divided by the running mean
absolute error (scaled to a standard deviation); errors larger than six of those units are
capped when the scale learns, so one outlier does not blind the detector to the next. The
surprise is calibrated and held off like every detector's (``kernels``).
"""

from __future__ import annotations

import numpy as np

from shopfloor.detection.base import Detector
from shopfloor.detection.kernels import (
    E_CAL,
    E_HOLD,
    EWMA_STATE_SIZE,
    ewma_kernel,
    init_calibration,
    init_hold,
)


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

    def _new_state(self) -> np.ndarray:
        state = np.zeros(EWMA_STATE_SIZE)
        init_hold(state, E_HOLD)
        init_calibration(state, E_CAL)
        return state

    def _run(self, state: np.ndarray, t: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        ewma_kernel(state, t, x, out, self._kernel_params())
