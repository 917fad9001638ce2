"""API keys: random secrets shown once, stored as SHA-256, compared in constant time.

Keys carry 256 bits of entropy, so a fast hash is enough (no password-style stretching);
what matters is that the database never holds a usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from tonearm.storage.base import ApiKey, Store

KEY_PREFIX = "ta_"
SCOPES = ("read", "write", "admin")
DEFAULT_SCOPES = ("read",)
# the account name that means the operator (its assets are the shared catalog)
OPERATOR = "operator"
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def parse_scopes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"read,write"`` (or a list) -> the scopes, checked; None: the default (read)."""
    if text is None:
        return DEFAULT_SCOPES
    items = text.split(",") if isinstance(text, str) else list(text)
    chosen = {s.strip().lower() for s in items if s.strip()}
    unknown = chosen - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {sorted(unknown)}; scopes are {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in chosen)


def parse_account(account: str | None) -> str | None:
    """The tenant for an account name: None for ``operator``; a fresh account of its own
    when no name is given."""
    if account is None or not account.strip():
        return "acct-" + secrets.token_hex(6)
    account = account.strip()
    if account == OPERATOR:
        return None
    if not _ACCOUNT.fullmatch(account):
        raise ValueError("an account name is 1-64 letters, digits, '_', '.' or '-'")
    return account


def account_name(key: ApiKey) -> str:
    return OPERATOR if key.tenant is None else key.tenant


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(
    store: Store,
    name: str,
    tier: str = "free",
    scopes: str | Iterable[str] | None = None,
    account: str | None = None,
) -> tuple[str, ApiKey]:
    """A new key: returns (the secret, shown once; its stored record).

    ``tier`` is stored as given: the platform knows the tiers and checks the name
    (``Platform.create_key``, which the API and the CLI use). ``scopes``: default read
    only. ``account``: the tenant the key acts for (``operator``: the shared catalog's
    owner; default: a new account of its own).
    """
    if not name.strip():
        raise ValueError("a key needs a name")
    chosen = parse_scopes(scopes)
    tenant = parse_account(account)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    record = store.add_key(name.strip(), secret[:10], hash_key(secret), tier, chosen, tenant)
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
