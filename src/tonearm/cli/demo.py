"""``tonearm demo``: build the demo catalog once, keep a demo API key, serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tonearm.catalog.context import Catalog
from tonearm.cli.common import DataOpt, console, out, settings_for

DEMO_KEY_FILE = "demo_api_key.txt"


def demo_api_key(catalog: Catalog) -> tuple[str, bool]:
    """The demo key kept in DATA/demo_api_key.txt, created once: (secret, created_now).

    A kept key that no longer verifies (revoked, or a fresh database) is replaced.
    """
    from tonearm.catalog.keys import OPERATOR, SCOPES, create_key, verify_key

    path = Path(catalog.data_dir) / DEMO_KEY_FILE
    if path.is_file():
        secret = path.read_text(encoding="utf-8").strip()
        rec = verify_key(catalog.store, secret) if secret else None
        if rec is not None:
            if rec.scopes != set(SCOPES):  # a key kept from before scopes existed
                catalog.store.set_key_scopes(rec.key_id, SCOPES)
            return secret, False
    # the demo key is the operator's: every scope, and the shared catalog is its own
    secret, _ = create_key(catalog.store, "demo", scopes=SCOPES, account=OPERATOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret, True


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        data: DataOpt = None,
        no_serve: Annotated[
            bool, typer.Option("--no-serve", help="Build the demo catalog and exit")
        ] = False,
        host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        analyses: Annotated[
            str | None,
            typer.Option(help="Comma-separated analyzers to run (default: all defaults)"),
        ] = None,
        limit: Annotated[
            int | None, typer.Option(hidden=True, help="At most N music and N sfx (tests)")
        ] = None,
    ) -> None:
        """Build the demo catalog (once; reused when present) and serve it."""
        from tonearm.demo.catalog import build_demo_catalog

        # as for tonearm ingest: --analyses "" (or "none") runs no analyzer
        names = (
            None
            if analyses is None
            else [a.strip() for a in analyses.split(",") if a.strip() and a.strip() != "none"]
        )
        settings = settings_for(data, host=host, port=port)
        settings.ensure_dirs()
        catalog = Catalog.open(settings)
        try:
            progress = Progress(
                TextColumn("[bold]{task.description:<13}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            tasks: dict[str, TaskID] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            console.print(f"demo catalog in {settings.data} (built once, then reused)")
            try:
                with progress:
                    summary = build_demo_catalog(catalog, on_progress, limit=limit, analyses=names)
            except ValueError as e:  # unknown analyzer names
                console.print(f"[red]error:[/] {e}")
                raise typer.Exit(2) from e
            for f in summary.failed:
                console.print(f"[red]failed[/] {f['path']}: {f['reason']}")
            n_music = catalog.store.count_assets("music")
            n_sfx = catalog.store.count_assets("sfx")
            secret, _ = demo_api_key(catalog)
        finally:
            catalog.close()
        added = summary.added
        out.print(
            f"demo catalog: {n_music} music pieces, {n_sfx} sound effects "
            f"({added} added now, {summary.music_skipped + summary.sfx_skipped} already there; "
            f"{summary.seconds:.1f} s)"
        )
        url = f"http://{host}:{port}"
        banner = [
            f"demo API key (kept in {settings.data / DEMO_KEY_FILE}; send it as the x-api-key "
            "header or the api_token parameter):",
            f"demo API key: {secret}",
        ]
        if no_serve:
            out.print(f"URL: {url}")
            out.print(f"API docs: {url}/docs")
            out.print(f"serve it with: tonearm demo --data {settings.data}")
            for line in banner:
                out.print(line)
            return
        from tonearm.cli.core import serve_catalog

        serve_catalog(settings, host, port, banner=banner)
