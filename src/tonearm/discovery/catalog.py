"""Catalog management shared by the API and the CLI: deleting an asset everywhere."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset

log = logging.getLogger("tonearm.discovery")


def delete_asset(catalog: Catalog, asset: Asset) -> bool:
    """Delete an asset: its row and analyses (one transaction), then every derived index
    (vectors, fingerprints) and its stored file when no other asset points at it."""
    from tonearm.catalog.ingest import delete_original
    from tonearm.discovery.index import CACHE_KEY

    ok = catalog.store.delete_asset(asset.asset_id)
    idx = catalog.cache.get(CACHE_KEY)
    if idx is not None:
        idx.remove(asset.asset_id)
    try:
        from tonearm.recognition.service import remove_asset as remove_fingerprints

        remove_fingerprints(catalog, asset.asset_id)
    except ImportError:
        pass  # recognition not installed
    except Exception as e:  # the derived index is rebuilt from the store anyway
        log.warning("asset %s: fingerprint index removal failed: %s", asset.asset_id, e)
    still = catalog.store.execute(
        "SELECT 1 FROM assets WHERE file_path = ? LIMIT 1", (asset.file_path,)
    )
    if not still:
        delete_original(catalog, asset)
    return ok
