"""API keys: random secrets shown once, stored as SHA-256, compared in constant time.

Keys carry 256 bits of entropy, so a fast hash is enough (no password-style stretching);
what matters is that the database never holds a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from tonearm.storage.base import ApiKey, Store

KEY_PREFIX = "ta_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(store: Store, name: str, tier: str = "free") -> tuple[str, ApiKey]:
    """A new key: returns (the secret, shown once; its stored record).

    ``tier`` is stored as given: the platform knows the tiers and checks the name
    (``Platform.create_key``, which the API and the CLI use).
    """
    if not name.strip():
        raise ValueError("a key needs a name")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = store.add_key(name.strip(), secret[:10], hash_key(secret), tier)
    return secret, record


def verify_key(store: Store, presented: str | None) -> ApiKey | None:
    """The active key record for ``presented``, or None (unknown, revoked, malformed)."""
    if not presented or len(presented) > 256:
        return None
    digest = hash_key(presented)
    record = store.key_by_hash(digest)
    # constant-time check of the hash we looked up against the one we computed
    if record is None or not hmac.compare_digest(hash_key(presented), digest):
        return None
    if record.revoked_at is not None:
        return None
    return record
