"""The catalog itself: health and service information, ``serve``, ``ingest`` and ``keys``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer

    from tonearm.jobs.queue import JobKind


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import system

    return [system]


@hookimpl
def tonearm_job_kinds() -> list[JobKind]:
    from tonearm.jobs import ingest_batch  # its @register_job: bulk ingest on tonearm workers
    from tonearm.jobs.queue import registered_kinds

    return [registered_kinds()[ingest_batch.JOB_KIND]]


@hookimpl(tryfirst=True)  # serve, ingest and keys head the command list
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import assets, core

    core.register(app)
    assets.register(app)
