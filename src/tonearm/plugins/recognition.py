"""Recognition (AudD): the fingerprint analyzer and index, long files as jobs, streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from tonearm.catalog.analyzers import Analyzer
    from tonearm.catalog.context import Catalog
    from tonearm.jobs.queue import JobKind
    from tonearm.storage.base import Asset


@hookimpl
def tonearm_analyzers() -> list[Analyzer]:
    from tonearm.recognition import analyzer

    return list(analyzer.ANALYZERS)


@hookimpl
def tonearm_job_kinds() -> list[JobKind]:
    from tonearm.jobs.queue import registered_kinds
    from tonearm.recognition import enterprise

    enterprise.register()
    return [registered_kinds()[enterprise.JOB_KIND]]


@hookimpl(trylast=True)  # AudD answers at "/", which must not shadow the other families
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import audd

    return [audd]


@hookimpl
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import recognition

    recognition.register(app)


@hookimpl
def tonearm_asset_deleted(catalog: Catalog, asset: Asset) -> None:
    from tonearm.recognition.service import remove_asset

    remove_asset(catalog, asset.asset_id)
