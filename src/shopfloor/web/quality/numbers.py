"""Numbers as the quality pages show them: as many decimals as the tolerance calls for."""

from __future__ import annotations

import math
from collections.abc import Iterable

MAX_DECIMALS = 6
# Escapes keep the source ASCII-clean for the linter; pages show an en dash.
DASH = "\u2013"


def decimals_for(lsl: float | None, usl: float | None, values: Iterable[float] = ()) -> int:
    """Decimals that resolve a hundredth of the tolerance (else of the values' spread)."""
    if lsl is not None and usl is not None and usl > lsl:
        span = usl - lsl
    elif (lsl is None) != (usl is None) and (lsl or usl):
        span = abs(lsl if lsl is not None else usl or 0.0)  # a one-sided limit: its size
    else:
        seen = [v for v in values if math.isfinite(v)]
        span = (max(seen) - min(seen)) if len(seen) > 1 else abs(seen[0]) if seen else 1.0
        for limit in (lsl, usl):
            if limit is not None and seen:
                span = max(span, abs(limit - seen[-1]))
    if span <= 0:
        return 2
    return max(0, min(MAX_DECIMALS, math.ceil(-math.log10(span / 100))))


def fixed(value: float | None, decimals: int, missing: str = DASH) -> str:
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:.{decimals}f}"


def spec_text(
    lsl: float | None, usl: float | None, target: float | None, unit: str | None, decimals: int
) -> str:
    """``9.950 - 10.050 mm · nominal 10.000`` (an en dash); one open side reads ``≤ 0.15 mm``."""
    suffix = f" {unit}" if unit else ""
    if lsl is not None and usl is not None:
        text = f"{fixed(lsl, decimals)} {DASH} {fixed(usl, decimals)}{suffix}"
    elif usl is not None:
        text = f"≤ {fixed(usl, decimals)}{suffix}"
    elif lsl is not None:
        text = f"≥ {fixed(lsl, decimals)}{suffix}"
    else:
        text = "no specification limits"
    if target is not None:
        text += f" · nominal {fixed(target, decimals)}"
    return text
