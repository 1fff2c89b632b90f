"""The detectors' compiled code: their reading loops, score calibration and alert hold-off.

Each detector turns a reading into one or more *surprises* (non-negative, like |z|). A surprise
means nothing on its own: the same |z| is routine on a spiky sensor and alarming on a steady
one. ``tail_probability`` calibrates it against the sensor's own recent surprises, kept in an
exponentially fading histogram on a log scale, so that a score says "this rare, here" on every
sensor. ``hold_off`` damps the scores that follow an alert, so that one event is reported once
rather than on every reading while it lasts.

Everything works on one flat float64 state vector per sensor (offsets given by the caller), so
a detector's state is a single array: cheap to copy, to measure and to save.

All compiled code lives in this one module on purpose: numba's on-disk cache is keyed by the
file that defines a function, not by the helpers it calls, so a helper in another file could
change under a stale cached loop.
"""

from __future__ import annotations

import math

from numba import njit

HIST_BINS = 48
HIST_TOP = 5.0  # log1p of the largest surprise that gets its own bin (e^5 - 1 ≈ 147)
# Slots of one calibrated surprise: total weight, increment weight, fading maximum, how many
# were seen, then the bins.
CAL_TOTAL, CAL_WEIGHT, CAL_MAX, CAL_SEEN, CAL_BINS = 0, 1, 2, 3, 4
CAL_SIZE = CAL_BINS + HIST_BINS
MIN_HISTORY = 20.0  # surprises seen before a probability is trusted
PRIOR_COUNT = 30.0
P_FLOOR = 1e-12
SURPRISE_CAP = 1e6
# Larger magnitudes are treated as not a number: their squares would overflow the state.
MAX_MAGNITUDE = 1e150
MIN_ERRORS = 5.0
NO_ALERT_YET = 1e18  # readings since the last alert, before any
# Slots of the hold-off: readings since the last alert, and its score.
HOLD_SINCE, HOLD_SCORE, HOLD_SIZE = 0, 1, 2
BIGGER_EVENT = 0.2  # how much higher than the held alert a score must be to break through


@njit(cache=True, nogil=True)
def init_calibration(state, at):  # pragma: no cover - compiled
    state[at + CAL_WEIGHT] = 1.0
    state[at + CAL_MAX] = 0.0
    state[at + CAL_SEEN] = 0.0
    # A prior history: PRIOR_COUNT surprises spread like |z| of Gaussian noise.
    total = 0.0
    for j in range(HIST_BINS):
        lo = math.expm1(j * HIST_TOP / HIST_BINS)
        hi = math.expm1((j + 1) * HIST_TOP / HIST_BINS)
        mass = PRIOR_COUNT * (math.erfc(lo / math.sqrt(2.0)) - math.erfc(hi / math.sqrt(2.0)))
        state[at + CAL_BINS + j] = mass
        total += mass
    state[at + CAL_TOTAL] = total


@njit(cache=True, nogil=True)
def tail_probability(state, at, surprise, fade, learn):  # pragma: no cover - compiled
    """P(a past surprise ≥ ``surprise``), then (if ``learn``) add it to the history.

    Returns 1.0 until ``MIN_HISTORY`` surprises were seen. A surprise beyond all remembered
    ones gets a probability below one in the history's size, shrinking with how far beyond.
    Fading is lazy: each new entry weighs 1/(1-fade) times the previous one, and the whole
    histogram is rescaled only when the weights grow large.
    """
    r = min(surprise, SURPRISE_CAP) if surprise >= 0.0 else 0.0  # NaN cannot index a bin
    u = math.log1p(r) / HIST_TOP * HIST_BINS
    b = int(u)
    # Beyond the histogram's top a surprise is extreme in absolute terms (some 150 typical
    # errors away) and rates as unprecedented however often such excursions happened before.
    frac = 1.0
    if b < HIST_BINS:
        frac = u - b
    else:
        b = HIST_BINS - 1
    total = state[at + CAL_TOTAL]
    weight = state[at + CAL_WEIGHT]
    p = 1.0
    if state[at + CAL_SEEN] >= MIN_HISTORY:
        if b < HIST_BINS // 2:
            # Most surprises are small: summing the few bins below is cheaper, and where
            # the mass above is large the subtraction loses nothing that matters.
            below = state[at + CAL_BINS + b] * frac
            for j in range(b):
                below += state[at + CAL_BINS + j]
            above = max(total - below, 0.0)
        else:
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
        state[at + CAL_SEEN] += 1.0
        state[at + CAL_MAX] = max(state[at + CAL_MAX] * (1.0 - 0.1 * fade), r)
    return p


@njit(cache=True, nogil=True)
def init_hold(state, at):  # pragma: no cover - compiled
    state[at + HOLD_SINCE] = NO_ALERT_YET
    state[at + HOLD_SCORE] = 0.0


@njit(cache=True, nogil=True)
def hold_off(state, at, score, alert_level, hold_readings, damping):  # pragma: no cover
    """Damp ``score`` for ``hold_readings`` readings after one reached ``alert_level``.

    A score above the alert being held is a bigger event: it is reported in full and held in
    turn. The two slots from ``at`` count the readings since the alert and keep its score.
    """
    since = state[at + HOLD_SINCE] + 1.0
    if since < hold_readings and score < state[at + HOLD_SCORE] + BIGGER_EVENT:
        score *= damping
    elif score >= alert_level:
        since = 0.0
        state[at + HOLD_SCORE] = score
    state[at + HOLD_SINCE] = since
    return score


@njit(cache=True, nogil=True)
def usable(t, v):  # pragma: no cover - compiled
    """A reading is learned and scored only when its time and value are finite numbers."""
    return math.isfinite(t) and math.isfinite(v) and abs(v) <= MAX_MAGNITUDE


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


HOURS_PER_WEEK = 168
# Epoch 0 was a Thursday: shifting by three days makes slot 0 Monday 00:00 UTC.
WEEK_OFFSET_H = 72

# The seasonal detector's state layout.
COUNT, LEVEL, SCALE, PROFILE_SCALE, PROFILE_MISSES, FAST_VAR, SLOW_VAR, HOLD = range(8)
CAL_WEEK = HOLD + HOLD_SIZE
CAL_NOISE = CAL_WEEK + CAL_SIZE
PROFILE = CAL_NOISE + CAL_SIZE
VISITS = PROFILE + HOURS_PER_WEEK
SEASONAL_STATE_SIZE = VISITS + HOURS_PER_WEEK
WARM_UP = 5  # readings averaged before the scale follows its exponential average
NOISE_WARM_UP = 10


@njit(cache=True, nogil=True)
def seasonal_kernel(state, t, x, out, p):  # pragma: no cover - compiled
    level_a, scale_a, slow_a, noise_a, profile_a, noise_w, fade, alert, hold, damp, decades = p
    for i in range(len(x)):
        v = x[i]
        if not usable(t[i], v):
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
        # Only real surprises enter the histories: a slot not seen yet says nothing.
        p_week = 1.0
        if seen:
            p_week = 1.0
        if seen and state[PROFILE_MISSES] >= MIN_ERRORS:
            p_week = tail_probability(state, CAL_WEEK, week_surprise, fade, True)
        p_noise = 1.0
        if n > NOISE_WARM_UP:
            p_noise = tail_probability(state, CAL_NOISE, noise_surprise, fade, True)
        rarity = -math.log10(max(p_week, P_FLOOR)) - noise_w * math.log10(max(p_noise, P_FLOOR))
        score = score_from_probabilities(rarity, decades)
        out[i] = hold_off(state, HOLD, score, alert, hold, damp)

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


# The ewma detector's state layout.
E_COUNT, E_LEVEL, E_SCALE, E_HOLD = range(4)
E_CAL = E_HOLD + HOLD_SIZE
EWMA_STATE_SIZE = E_CAL + CAL_SIZE


@njit(cache=True, nogil=True)
def ewma_kernel(state, t, x, out, p):  # pragma: no cover - compiled
    level_a, scale_a, fade, alert, hold, damp, decades = p
    for i in range(len(x)):
        v = x[i]
        if not usable(t[i], v):
            out[i] = 0.0
            continue
        n = state[E_COUNT]
        if n == 0.0:
            state[E_LEVEL] = v
        error = v - state[E_LEVEL]
        scale = state[E_SCALE] * 1.2533  # mean absolute error → standard deviation
        distance = surprise(abs(error), scale, n - 1.0)
        p_value = tail_probability(state, E_CAL, distance, fade, True)
        score = score_from_probabilities(-math.log10(max(p_value, P_FLOOR)), decades)
        out[i] = hold_off(state, E_HOLD, score, alert, hold, damp)
        if n > WARM_UP:
            state[E_SCALE] = (1.0 - scale_a) * state[E_SCALE] + scale_a * min(
                abs(error), 6.0 * scale
            )
        else:
            state[E_SCALE] = (state[E_SCALE] * n + abs(error)) / (n + 1.0)
        state[E_LEVEL] += level_a * error
        state[E_COUNT] = n + 1.0
