"""The catalog itself: health and service information, ``serve``, ``ingest`` and ``keys``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import system

    return [system]


@hookimpl(tryfirst=True)  # serve, ingest and keys head the command list
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import assets, core

    core.register(app)
    assets.register(app)
