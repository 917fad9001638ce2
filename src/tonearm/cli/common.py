"""Shared CLI pieces: the typer app, the --data option, settings and catalog opening."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tonearm.catalog.context import Catalog
from tonearm.settings import Settings

app = typer.Typer(
    name="tonearm",
    help="Self-hosted audio intelligence: discovery, editing and recognition on your catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from tonearm import __version__

        print(f"tonearm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Self-hosted audio intelligence: discovery, editing and recognition on your catalog."""


out = Console(highlight=False, soft_wrap=True)

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Data directory (default: $TONEARM_DATA or ./data)", show_default=False
    ),
]


def settings_for(data: Path | None, **overrides: object) -> Settings:
    s = Settings()
    if data is not None:
        s = s.model_copy(update={"data": data})
    if overrides:
        s = s.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    return s


def open_catalog(data: Path | None, **overrides: object) -> Catalog:
    return Catalog.open(settings_for(data, **overrides))
