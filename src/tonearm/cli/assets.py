"""``tonearm assets list|delete|stats``: look at and prune the catalog from the shell."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from tonearm.cli.common import DataOpt, console, open_catalog, out

assets_app = typer.Typer(help="List, delete and count catalog assets.", no_args_is_help=True)

ANALYZERS_COUNTED = ("fingerprint", "embedding", "beats", "mir", "search")


def register(app: typer.Typer) -> None:
    @assets_app.command("list")
    def assets_list(
        kind: Annotated[str | None, typer.Option(help="music or sfx (default: both)")] = None,
        limit: Annotated[int, typer.Option(help="At most N assets", min=1)] = 50,
        offset: Annotated[int, typer.Option(help="Skip the first N", min=0)] = 0,
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    ) -> None:
        """List assets by id (name, artist, kind, duration, BPM)."""
        catalog = open_catalog(data)
        rows = catalog.store.list_assets(kind, limit=limit, offset=offset)
        if json_out:
            for a in rows:
                out.print(json.dumps(asdict(a)), markup=False)
            return
        t = Table("id", "kind", "name", "artist", "duration", "bpm")
        for a in rows:
            t.add_row(
                a.asset_id,
                a.kind,
                a.name,
                a.artist or "",
                f"{a.duration:.1f} s",
                f"{a.bpm:.0f}" if a.bpm else "",
            )
        out.print(t)
        total = catalog.store.count_assets(kind)
        console.print(f"{len(rows)} of {total} assets (offset {offset})")

    @assets_app.command("delete")
    def assets_delete(
        asset_ids: Annotated[list[str], typer.Argument(help="Asset ids")],
        data: DataOpt = None,
    ) -> None:
        """Delete assets: their rows, analyses, index entries and (unshared) files."""
        from tonearm.catalog.assets import delete_asset

        catalog = open_catalog(data)
        missing = 0
        for aid in asset_ids:
            asset = catalog.store.get_asset(aid)
            if asset is None:
                console.print(f"[red]error:[/] no asset {aid}")
                missing += 1
                continue
            delete_asset(catalog, asset)
            out.print(f"deleted {aid} ({asset.name})", markup=False)
        if missing:
            raise typer.Exit(1)

    @assets_app.command("stats")
    def assets_stats(
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """How many assets (by kind), hours of audio and analyses the catalog holds."""
        catalog = open_catalog(data)
        st = catalog.store
        seconds = {"music": 0.0, "sfx": 0.0}
        for a in st.iter_assets():
            seconds[a.kind] = seconds.get(a.kind, 0.0) + a.duration
        counts = {k: st.count_assets(k) for k in seconds}
        hours = {k: round(v / 3600, 3) for k, v in seconds.items()}
        analyses = {n: st.count_analyses(n) for n in ANALYZERS_COUNTED}
        report = {"assets": counts, "hours": hours, "analyses": analyses}
        if json_out:
            out.print(json.dumps(report), markup=False)
            return
        for k in seconds:
            out.print(f"{k}: {counts[k]} assets, {hours[k]:.2f} h of audio")
        out.print(
            "analyses: " + ", ".join(f"{n} {c}" for n, c in analyses.items()),
            markup=False,
        )

    app.add_typer(assets_app, name="assets")
