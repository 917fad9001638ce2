"""Credit costs, as Audjust's pricing table states them."""

from __future__ import annotations

import math

ANALYZE_PER_MINUTE = 10
ANALYZE_RAW_FEATURES_PER_MINUTE = 15
RESIZE_PER_TARGET_MINUTE = 4
EXPORT_PER_OUTPUT_MINUTE = 1


def _minutes(duration_s: float) -> int:
    """Durations are rounded up to the nearest minute."""
    return max(0, math.ceil(max(0.0, float(duration_s)) / 60.0 - 1e-9))


def per_minute(rate: int, duration_s: float) -> int:
    """``rate`` credits per started minute; a successful request costs at least 1."""
    return max(1, rate * _minutes(duration_s))


def analyze_cost(duration_s: float, raw_features: bool) -> int:
    rate = ANALYZE_RAW_FEATURES_PER_MINUTE if raw_features else ANALYZE_PER_MINUTE
    return per_minute(rate, duration_s)


def resize_cost(target_s: float) -> int:
    return per_minute(RESIZE_PER_TARGET_MINUTE, target_s)


def export_cost(total_output_s: float) -> int:
    return per_minute(EXPORT_PER_OUTPUT_MINUTE, total_output_s)
