"""The demo: ``tonearm demo`` builds a synthetic catalog and serves it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import demo

    demo.register(app)
