"""Compiled building blocks shared by the detectors: score calibration and alert hold-off.

Each detector turns a reading into one or more *surprises* (non-negative, like |z|). A surprise
means nothing on its own: the same |z| is routine on a spiky sensor and alarming on a steady
one. ``tail_probability`` calibrates it against the sensor's own recent surprises, kept in an
exponentially fading histogram on a log scale, so that a score says "this rare, here" on every
sensor. ``hold_off`` damps the scores that follow an alert, so that one event is reported once
rather than on every reading while it lasts.

Everything works on one flat float64 state vector per sensor (offsets given by the caller), so
a detector's state is a single array: cheap to copy, to measure and to save.
"""

from __future__ import annotations

import math

from numba import njit

HIST_BINS = 48
HIST_TOP = 5.0  # log1p of the largest surprise that gets its own bin (e^5 - 1 ≈ 147)
# Slots of one calibrated surprise: total weight, increment weight, fading maximum, then bins.
CAL_TOTAL, CAL_WEIGHT, CAL_MAX, CAL_BINS = 0, 1, 2, 3
CAL_SIZE = CAL_BINS + HIST_BINS
MIN_HISTORY = 50.0  # surprises needed before a probability is trusted
P_FLOOR = 1e-12
SURPRISE_CAP = 1e6
MIN_ERRORS = 5.0
NO_ALERT_YET = 1e18  # readings since the last alert, before any


@njit(cache=True, nogil=True)
def init_calibration(state, at):  # pragma: no cover - compiled
    state[at + CAL_TOTAL] = 0.0
    state[at + CAL_WEIGHT] = 1.0
    state[at + CAL_MAX] = 0.0
    for j in range(HIST_BINS):
        state[at + CAL_BINS + j] = 0.0


@njit(cache=True, nogil=True)
def tail_probability(state, at, surprise, fade, learn):  # pragma: no cover - compiled
    """P(a past surprise ≥ ``surprise``), then (if ``learn``) add it to the history.

    Returns 1.0 until ``MIN_HISTORY`` surprises were seen. A surprise beyond all remembered
    ones gets a probability below one in the history's size, shrinking with how far beyond.
    Fading is lazy: each new entry weighs 1/(1-fade) times the previous one, and the whole
    histogram is rescaled only when the weights grow large.
    """
    r = min(surprise, SURPRISE_CAP)
    u = math.log1p(r) / HIST_TOP * HIST_BINS
    b = int(u)
    frac = 1.0
    if b < HIST_BINS:
        frac = u - b
    else:
        b = HIST_BINS - 1
    total = state[at + CAL_TOTAL]
    weight = state[at + CAL_WEIGHT]
    p = 1.0
    if total >= MIN_HISTORY * weight:  # the faded count, in units of the newest entry
        above = state[at + CAL_BINS + b] * (1.0 - frac)
        for j in range(b + 1, HIST_BINS):
            above += state[at + CAL_BINS + j]
        p = (above + 0.5 * weight) / (total + weight)
        top = state[at + CAL_MAX]
        if r > top:
            p *= (top + 1e-9) / (r + 1e-9)
        p = max(p, P_FLOOR)
    if learn:
        weight /= 1.0 - fade
        state[at + CAL_BINS + b] += weight
        total += weight
        if weight > 1e200:
            for j in range(HIST_BINS):
                state[at + CAL_BINS + j] /= weight
            total /= weight
            weight = 1.0
        state[at + CAL_TOTAL] = total
        state[at + CAL_WEIGHT] = weight
        state[at + CAL_MAX] = max(state[at + CAL_MAX] * (1.0 - 0.1 * fade), r)
    return p


@njit(cache=True, nogil=True)
def hold_off(state, at, score, alert_level, hold_readings, damping):  # pragma: no cover
    """Damp ``score`` for ``hold_readings`` readings after one reached ``alert_level``.

    ``state[at]`` counts the readings since the last alert.
    """
    since = state[at] + 1.0
    if since < hold_readings:
        score *= damping
    elif score >= alert_level:
        since = 0.0
    state[at] = since
    return score


@njit(cache=True, nogil=True)
def surprise(distance, scale, learned):  # pragma: no cover - compiled
    """``distance`` in units of ``scale``, learned from ``learned`` errors so far.

    A zero scale means every error so far was zero: until a few errors were seen that says
    nothing, after it any distance at all is news.
    """
    if scale > 0.0:
        return distance / scale
    if distance == 0.0 or learned < MIN_ERRORS:
        return 0.0
    return SURPRISE_CAP


@njit(cache=True, nogil=True)
def score_from_probabilities(log_sum, scale):  # pragma: no cover - compiled
    """Map Σ -log10(p) onto [0, 1]: ``scale`` decades of rarity make a score of 1."""
    return min(1.0, max(0.0, log_sum / scale))
