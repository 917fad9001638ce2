"""Tiers: a requests-per-minute limit and a credit quota over a rolling 30 days.

The plans are Audjust's (its API docs): Free 100 credits, Starter 2000, Plus 10000,
Mega 30000, Enterprise unlimited; every plan is limited to 100 requests per minute.
A key may override either number (``api_keys.rate_limit_per_min`` / ``monthly_credits``,
migration 0007); ``None`` there means "the tier's value".
"""

from __future__ import annotations

from dataclasses import dataclass

QUOTA_WINDOW_DAYS = 30  # Audjust: "Queued requests in the last 30 days count against your limit"
DEFAULT_RATE_LIMIT_PER_MIN = 100  # Audjust: "currently 100 requests per minute"


@dataclass(frozen=True)
class Tier:
    name: str
    rate_limit_per_min: int | None  # None: no rate limit
    monthly_credits: int | None  # None: unlimited

    def to_public(self) -> dict[str, object]:
        return {
            "name": self.name,
            "requestsPerMinute": self.rate_limit_per_min,
            "monthlyCredits": self.monthly_credits,
        }


TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("free", DEFAULT_RATE_LIMIT_PER_MIN, 100),
        Tier("starter", DEFAULT_RATE_LIMIT_PER_MIN, 2000),
        Tier("plus", DEFAULT_RATE_LIMIT_PER_MIN, 10000),
        Tier("mega", DEFAULT_RATE_LIMIT_PER_MIN, 30000),
        Tier("enterprise", DEFAULT_RATE_LIMIT_PER_MIN, None),
        # for the catalog owner's own pipelines and for load tests: no limit at all
        Tier("unlimited", None, None),
    )
}


def get_tier(name: str) -> Tier:
    """The tier called ``name``; raises ValueError naming the valid tiers."""
    try:
        return TIERS[name]
    except KeyError:
        raise ValueError(f"unknown tier {name!r}; one of: {', '.join(TIERS)}") from None


@dataclass(frozen=True)
class Limits:
    """What applies to one key: its tier with the key's own overrides."""

    tier: str
    rate_limit_per_min: int | None
    monthly_credits: int | None


def limits_for(
    tier: str, rate_limit_per_min: int | None = None, monthly_credits: int | None = None
) -> Limits:
    """Limits for a key of ``tier``; an unknown tier (e.g. renamed) falls back to free."""
    t = TIERS.get(tier, TIERS["free"])
    return Limits(
        tier=t.name if tier in TIERS else tier,
        rate_limit_per_min=t.rate_limit_per_min
        if rate_limit_per_min is None
        else (rate_limit_per_min if rate_limit_per_min > 0 else None),
        monthly_credits=t.monthly_credits
        if monthly_credits is None
        else (monthly_credits if monthly_credits >= 0 else None),
    )
