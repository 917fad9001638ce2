"""Deleting an asset everywhere: its row and analyses, what plugins derived from it, its file."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tonearm.catalog.ingest import delete_original

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset

log = logging.getLogger("tonearm.catalog")


def delete_asset(catalog: Catalog, asset: Asset) -> bool:
    """Delete ``asset``: its row and analyses (one transaction), then what every plugin
    derived from it (hook ``tonearm_asset_deleted``: fingerprint index, vector index,
    search index), then its stored file when no other asset points at it.

    Returns whether the store had the asset.
    """
    ok = catalog.store.delete_asset(asset.asset_id)
    args = {"catalog": catalog, "asset": asset}
    # each plugin on its own, so one failing does not keep the others' indexes stale
    for impl in catalog.plugins.hook.tonearm_asset_deleted.get_hookimpls():
        try:
            impl.function(**{name: args[name] for name in impl.argnames})
        except Exception as e:  # derived data is rebuilt from the store anyway
            log.warning("asset %s: %s could not drop it: %s", asset.asset_id, impl.plugin_name, e)
    if not catalog.store.file_in_use(asset.file_path):
        delete_original(catalog, asset)
    return ok
