"""similar, reindex, duplicates, suggest-categories."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tonearm.cli.common import DataOpt, console, open_catalog, out


def register(app: typer.Typer) -> None:
    @app.command()
    def similar(
        asset_id: Annotated[str, typer.Argument(help="Seed asset ID")],
        limit: Annotated[int, typer.Option(min=1, max=100, help="Results")] = 10,
        offset: Annotated[int, typer.Option(min=0)] = 0,
        dedupe: Annotated[bool, typer.Option(help="Drop near-duplicates of the seed")] = False,
        max_score: Annotated[float | None, typer.Option(help="Drop scores at or above")] = None,
        category: Annotated[list[str] | None, typer.Option(help="Only these categories")] = None,
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """Assets that sound like ASSET_ID (music for music, SFX for SFX)."""
        from tonearm.discovery.index import Filters
        from tonearm.discovery.similar import NotFound
        from tonearm.discovery.similar import similar as find

        catalog = open_catalog(data)
        seed = catalog.store.get_asset(asset_id)
        if seed is None:
            console.print(f"[red]no asset {asset_id}[/red]")
            raise typer.Exit(1)
        try:
            page = find(
                catalog,
                asset_id,
                seed.kind,
                limit=limit,
                offset=offset,
                filters=Filters(categories=category or None),
                max_score=max_score,
                dedupe=dedupe,
            )
        except NotFound:
            console.print(f"[red]asset {asset_id} has no audio to compare[/red]")
            raise typer.Exit(1) from None
        rows = [
            {
                "asset_id": a.asset_id,
                "name": a.name,
                "category": a.category,
                "duration": a.duration,
                "score": round(s, 4),
            }
            for a, s in page.items
        ]
        if json_out:
            out.print(
                json.dumps(
                    {"seed": asset_id, "model": page.model_id, "total": page.total, "results": rows}
                )
            )
            return
        t = Table(title=f"like {asset_id} ({seed.name}) — {page.model_id}, {page.total} total")
        for c in ("asset_id", "name", "category", "duration", "score"):
            t.add_column(c)
        for r in rows:
            t.add_row(*(str(r[c] if r[c] is not None else "") for c in r))
        out.print(t)

    @app.command()
    def reindex(
        data: DataOpt = None,
        all_assets: Annotated[
            bool, typer.Option("--all", help="Recompute every embedding, not only stale ones")
        ] = False,
    ) -> None:
        """Recompute embeddings made by another model (or missing), then rebuild the vector
        index from the stored analyses and save it; describe (tag) music tracks stored
        before the search tagger."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from tonearm.catalog.decoding import decode_audio
        from tonearm.catalog.ingest import asset_path
        from tonearm.core.audio.errors import AudioError
        from tonearm.core.audio.limits import Purpose
        from tonearm.discovery.embeddings import (
            ANALYSIS_NAME,
            audio_embedding_model,
            models_status,
            pack,
        )
        from tonearm.discovery.index import rebuild_index
        from tonearm.storage.base import Analysis

        catalog = open_catalog(data)
        for kind, st in models_status(catalog).items():
            console.print(f"{kind}: {st.get('model')} ({st.get('reason')})")
        done = failed = 0
        progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task("reindex", total=catalog.store.count_assets())
            for asset in catalog.store.iter_assets():
                progress.advance(task)
                model = audio_embedding_model(catalog, asset.kind)
                cur = catalog.store.get_analysis(asset.asset_id, ANALYSIS_NAME)
                if cur is not None and cur.data.get("model") == model.model_id and not all_assets:
                    continue
                try:
                    sig = decode_audio(catalog, asset_path(catalog, asset), Purpose.CATALOG_FILE)
                except (AudioError, OSError) as e:
                    progress.console.print(f"[yellow]asset {asset.asset_id}: {e}[/yellow]")
                    failed += 1
                    continue
                d, blob = pack(model.embed(sig), model.model_id)
                catalog.store.put_analysis(Analysis(asset.asset_id, ANALYSIS_NAME, 1, d, blob))
                done += 1
        with console.status("rebuilding the vector index..."):
            idx = rebuild_index(catalog)
        n = sum(len(p.rows) for p in idx.parts.values())
        out.print(f"re-embedded {done} assets ({failed} failed); index: {n} vectors")
        # tracks stored before the search_text analyzer or its tagger get their search words
        from tonearm.discovery.search_analyzer import backfill

        def failed_one(asset_id: str, message: str) -> None:
            if message != "ok":
                console.print(f"[yellow]asset {asset_id}: {message}[/yellow]")

        with console.status("describing tracks for search..."):
            described = backfill(catalog, on_progress=failed_one)
        out.print(f"search words: {described} tracks described")

    @app.command()
    def duplicates(
        data: DataOpt = None,
        kind: Annotated[str, typer.Option(help="music or sfx")] = "sfx",
        threshold: Annotated[
            float | None, typer.Option(help="Score at or above = duplicate (default: measured)")
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """List groups of near-duplicate assets (re-encodes, trims, gain changes...)."""
        from tonearm.discovery.similar import duplicate_groups

        catalog = open_catalog(data)
        groups = duplicate_groups(catalog, kind, threshold)
        if json_out:
            out.print(
                json.dumps(
                    {"groups": [[{"asset_id": a, "score": s} for a, s in g] for g in groups]}
                )
            )
            return
        if not groups:
            out.print("no near-duplicates")
            return
        for i, g in enumerate(groups, 1):
            names = []
            for aid, score in g:
                a = catalog.store.get_asset(aid)
                names.append(f"{aid} {a.name if a else '?'} ({score:.3f})")
            out.print(f"group {i}: " + "; ".join(names))

    @app.command("suggest-categories")
    def suggest_categories(
        data: DataOpt = None,
        k: Annotated[int, typer.Option(help="Neighbours that vote")] = 10,
        min_confidence: Annotated[float, typer.Option(help="Hide weaker suggestions")] = 0.0,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """Suggest UCS categories for SFX without one, from their nearest labelled neighbours."""
        from tonearm.discovery.similar import suggest_category

        catalog = open_catalog(data)
        rows = []
        for a in catalog.store.iter_assets("sfx"):
            if a.category:
                continue
            sug = suggest_category(catalog, a.asset_id, k=k)
            if sug and sug[0].confidence >= min_confidence:
                best = sug[0]
                rows.append(
                    {
                        "asset_id": a.asset_id,
                        "name": a.name,
                        "category": best.category,
                        "subcategory": best.subcategory,
                        "confidence": best.confidence,
                    }
                )
        if json_out:
            out.print(json.dumps({"suggestions": rows}))
            return
        for r in rows:
            out.print(
                f"{r['asset_id']} {r['name']}: {r['category']}/{r['subcategory'] or '-'}"
                f" ({r['confidence']:.2f})"
            )
        if not rows:
            out.print("no suggestions (every SFX has a category, or none is labelled)")
