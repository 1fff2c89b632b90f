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

HOURS_PER_WEEK = 168
# Epoch 0 was a Thursday: shifting by three days makes slot 0 Monday 00:00 UTC.
WEEK_OFFSET_H = 72

# State layout.
COUNT, LEVEL, SCALE, PROFILE_SCALE, PROFILE_MISSES, FAST_VAR, SLOW_VAR, SINCE_ALERT = range(8)
CAL_WEEK = 8
CAL_NOISE = CAL_WEEK + CAL_SIZE
PROFILE = CAL_NOISE + CAL_SIZE
VISITS = PROFILE + HOURS_PER_WEEK
STATE_SIZE = VISITS + HOURS_PER_WEEK
WARM_UP = 5  # readings averaged before the scale follows its exponential average
NOISE_WARM_UP = 10


@njit(cache=True, nogil=True)
def _seasonal_kernel(state, t, x, out, p):  # pragma: no cover - compiled
    level_a, scale_a, slow_a, noise_a, profile_a, noise_w, fade, alert, hold, damp, decades = p
    for i in range(len(x)):
        v = x[i]
        if not (math.isfinite(v) and math.isfinite(t[i])):
            out[i] = 0.0
            continue
        n = state[COUNT]
        if n == 0.0:
            state[LEVEL] = v
        hour = int((math.floor(t[i] / 3600.0) + WEEK_OFFSET_H) % HOURS_PER_WEEK)
        slot = PROFILE + hour
        expected = state[slot]
        seen = state[VISITS + hour] >= 2.0
        error = v - state[LEVEL]
        scale = state[SCALE] * 1.2533  # mean absolute error → standard deviation
        profile_scale = state[PROFILE_SCALE]

        week_surprise = 0.0
        if seen:
            week_surprise = surprise(abs(v - expected), profile_scale, state[PROFILE_MISSES])
        noise_surprise = 0.0
        if n > NOISE_WARM_UP:
            noise_surprise = abs(math.log((state[FAST_VAR] + 1e-12) / (state[SLOW_VAR] + 1e-12)))
        p_week = tail_probability(state, CAL_WEEK, week_surprise, fade, True)
        p_noise = tail_probability(state, CAL_NOISE, noise_surprise, fade, True)
        rarity = -math.log10(max(p_week, P_FLOOR)) - noise_w * math.log10(max(p_noise, P_FLOOR))
        score = score_from_probabilities(rarity, decades)
        out[i] = hold_off(state, SINCE_ALERT, score, alert, hold, damp)

        # Learn the reading.
        if seen:
            miss = abs(v - expected)
            if profile_scale > 0.0:
                state[PROFILE_SCALE] = profile_scale + scale_a * (
                    min(miss, 6.0 * profile_scale + 1e-12) - profile_scale
                )
            else:
                state[PROFILE_SCALE] = miss
            state[PROFILE_MISSES] += 1.0
        if state[VISITS + hour] > 0.0:
            state[slot] = expected + profile_a * (v - expected)
        else:
            state[slot] = v
        state[VISITS + hour] += 1.0
        state[FAST_VAR] += noise_a * (error * error - state[FAST_VAR])
        capped = min(error * error, 36.0 * scale * scale + 1e-12)
        state[SLOW_VAR] += slow_a * (capped - state[SLOW_VAR])
        if n > WARM_UP:
            state[SCALE] = (1.0 - scale_a) * state[SCALE] + scale_a * min(abs(error), 6.0 * scale)
        else:
            state[SCALE] = (state[SCALE] * n + abs(error)) / (n + 1.0)
        state[LEVEL] += level_a * error
        state[COUNT] = n + 1.0


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

    def params(self) -> dict[str, Any]:
        return {
            "level_alpha": self.level_alpha,
            "scale_alpha": self.scale_alpha,
            "slow_alpha": self.slow_alpha,
            "noise_alpha": self.noise_alpha,
            "profile_alpha": self.profile_alpha,
            "noise_weight": self.noise_weight,
            "calibration_fade": self.calibration_fade,
            "alert_level": self.alert_level,
            "hold_readings": self.hold_readings,
            "damping": self.damping,
            "rarity_decades": self.rarity_decades,
        }

    def _new_state(self) -> np.ndarray:
        state = np.zeros(STATE_SIZE)
        state[SINCE_ALERT] = NO_ALERT_YET
        init_calibration(state, CAL_WEEK)
        init_calibration(state, CAL_NOISE)
        return state

    def _run(self, state: np.ndarray, t: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
        p = self.params()
        _seasonal_kernel(
            state,
            t,
            x,
            out,
            (
                float(p["level_alpha"]),
                float(p["scale_alpha"]),
                float(p["slow_alpha"]),
                float(p["noise_alpha"]),
                float(p["profile_alpha"]),
                float(p["noise_weight"]),
                float(p["calibration_fade"]),
                float(p["alert_level"]),
                float(p["hold_readings"]),
                float(p["damping"]),
                float(p["rarity_decades"]),
            ),
        )
