"""Editing (Audjust): beat and key analysis, loops, exports and resizing, as jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from tonearm.catalog.analyzers import Analyzer
    from tonearm.jobs.queue import JobKind


@hookimpl
def tonearm_analyzers() -> list[Analyzer]:
    from tonearm.editing import analyzer

    return list(analyzer.ANALYZERS)


@hookimpl
def tonearm_job_kinds() -> list[JobKind]:
    from tonearm.editing import analyze_job, export  # noqa: F401  (their @register_job)
    from tonearm.jobs.queue import registered_kinds

    kinds = registered_kinds()
    return [kinds["analyze"], kinds["export"], kinds["resize"]]


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import audjust, audjust_edit

    return [audjust, audjust_edit]


@hookimpl
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import editing, resize

    editing.register(app)
    resize.register(app)
