"""The demo API key: kept in ``DATA/demo_api_key.txt`` and unlimited.

A new user follows the README with this key: one ``/analyze`` of a five-minute song costs
50-90 credits, so a free-tier key (100 credits) would run dry within minutes. The demo key
is on the ``unlimited`` tier (no credit quota, no rate limit) with every scope, in the
operator's account; a key kept from an older version is moved to that tier and those scopes.
"""

from __future__ import annotations

from pathlib import Path

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import OPERATOR, SCOPES, create_key, verify_key

DEMO_KEY_FILE = "demo_api_key.txt"
DEMO_KEY_NAME = "demo"
DEMO_TIER = "unlimited"


def demo_api_key(catalog: Catalog) -> tuple[str, bool]:
    """The demo key kept in DATA/demo_api_key.txt, created once: (secret, created_now).

    A kept key that no longer verifies (revoked, or a fresh database) is replaced; a kept
    key on a limited tier is moved to the unlimited one.
    """
    path = Path(catalog.data_dir) / DEMO_KEY_FILE
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        key = verify_key(catalog.store, secret) if secret else None
        if key is not None:
            if key.tier != DEMO_TIER:
                catalog.store.set_key_limits(key.key_id, {"tier": DEMO_TIER})
            if key.scopes != set(SCOPES):  # a key kept from before scopes existed
                catalog.store.set_key_scopes(key.key_id, SCOPES)
            return secret, False
    # the demo key is the operator's: every scope, and the shared catalog is its own
    secret, _ = create_key(catalog.store, DEMO_KEY_NAME, DEMO_TIER, scopes=SCOPES, account=OPERATOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret, True
