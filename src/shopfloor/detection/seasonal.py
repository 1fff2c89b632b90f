"""The default detector: a weekly profile plus a noise-change test, both calibrated.

Two surprises per reading:

* **against the week**: the distance of the value from what this hour of the week looked like
  (an exponentially weighted profile of 168 hourly slots, so a daily cycle, a weekday/weekend
  difference and a slow drift are all expected), in units of the profile's typical miss. A
  spike, a level shift or a cycle that fails to come stand out; data without any cycle just
  see a profile that follows the recent level.
* **against its own noise**: the log ratio of the short-term to the long-term variance of the
  one-step-ahead error, so a sensor that starts to chatter (or goes suspiciously flat) stands
  out even when its values stay in range.

Each surprise becomes a tail probability against the sensor's own history of it
(``kernels.tail_probability``); the score adds their rarities (``-log10 p``, the noise one
weighted) and a hold-off reports one event once. Chosen as the default for its score on the
Numenta Anomaly Benchmark (``benchmarks/nab.py``; figures in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np

from shopfloor.detection.base import Detector
from shopfloor.detection.kernels import (
    CAL_NOISE,
    CAL_WEEK,
    HOLD,
    SEASONAL_STATE_SIZE,
    init_calibration,
    init_hold,
    seasonal_kernel,
)


class SeasonalDetector(Detector):
    """Weekly-profile and noise-change surprises, calibrated per sensor (the default)."""

    name = "seasonal"

    def __init__(
        self,
        *,
        level_alpha: float = 0.1,
        scale_alpha: float = 0.01,
        slow_alpha: float = 0.001,
        noise_alpha: float = 0.1,
        profile_alpha: float = 0.3,
        noise_weight: float = 0.6,
        calibration_fade: float = 0.0005,
        alert_level: float = 0.5,
        hold_readings: int = 200,
        damping: float = 0.5,
        rarity_decades: float = 6.0,
    ) -> None:
        super().__init__()
        self.level_alpha = level_alpha
        self.scale_alpha = scale_alpha
        self.slow_alpha = slow_alpha
        self.noise_alpha = noise_alpha
        self.profile_alpha = profile_alpha
        self.noise_weight = noise_weight
        self.calibration_fade = calibration_fade
        self.alert_level = alert_level
        self.hold_readings = hold_readings
        self.damping = damping
        self.rarity_decades = rarity_decades

    def _new_state(self) -> np.ndarray:
        state = np.zeros(SEASONAL_STATE_SIZE)
        init_hold(state, HOLD)
        init_calibration(state, CAL_WEEK)
        init_calibration(state, CAL_NOISE)
        return state

    def _run(self, state: np.ndarray, t: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        seasonal_kernel(state, t, x, out, self._kernel_params())
