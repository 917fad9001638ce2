"""The platform: API keys' tiers, per-key rate limits, credit quotas and usage records."""
