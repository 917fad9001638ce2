"""Discovery (AudioScape): audio and text analyzers, similarity and search, their indexes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from tonearm.catalog.analyzers import Analyzer
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset


@hookimpl
def tonearm_analyzers() -> list[Analyzer]:
    from tonearm.discovery import analyzer, search_analyzer

    return [*cast("list[Analyzer]", analyzer.ANALYZERS), *search_analyzer.ANALYZERS]


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import audioscape, audioscape_search

    return [audioscape, audioscape_search]


@hookimpl
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import discovery

    discovery.register(app)


@hookimpl
def tonearm_asset_deleted(catalog: Catalog, asset: Asset) -> None:
    from tonearm.discovery import index, search

    vectors = catalog.cache.get(index.CACHE_KEY)
    if vectors is not None:
        vectors.remove(asset.asset_id)
    search.invalidate(catalog)
