"""serve, ingest, keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from tonearm.cli.common import DataOpt, console, open_catalog, out, settings_for

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def serve_catalog(settings, host: str, port: int, banner: list[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from tonearm.api.app import create_app

    app = create_app(settings)
    url = f"http://{host}:{port}"
    out.print(f"tonearm serving {settings.data} at {url}")
    out.print(f"API docs: {url}/docs")
    for line in banner or []:
        out.print(line)
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        data: DataOpt = None,
        host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port")] = 8000,
        workers: Annotated[
            int | None,
            typer.Option(
                help="Job worker threads in this process (default $TONEARM_WORKERS or 2; "
                "0 when `tonearm worker` processes run the jobs)"
            ),
        ] = None,
    ) -> None:
        """Run the HTTP API (OpenAPI docs at /docs)."""
        s = settings_for(data, host=host, port=port, workers=workers)
        s.ensure_dirs()
        serve_catalog(s, host, port)

    @app.command()
    def ingest(
        paths: Annotated[
            list[Path] | None, typer.Argument(help="Files or folders", exists=True)
        ] = None,
        kind: Annotated[str, typer.Option(help="music or sfx")] = "music",
        metadata: Annotated[
            Path | None, typer.Option(help="CSV sidecar with a 'file' column", exists=True)
        ] = None,
        analyses: Annotated[
            str | None, typer.Option(help="Comma-separated analyzers (default: all defaults)")
        ] = None,
        workers: Annotated[
            int | None,
            typer.Option(
                "--workers",
                "-w",
                help="Worker processes decoding and analysing files (default: the cores; "
                "0: one file at a time in this process, each decoded in a child process)",
            ),
        ] = None,
        device: Annotated[
            str,
            typer.Option(help="torch device of the embedding model: cpu, cuda, cuda:N or mps"),
        ] = "cpu",
        queue: Annotated[
            bool,
            typer.Option(
                "--queue",
                help="Submit the files as ingest_batch jobs on the job queue (run by "
                "`tonearm worker` processes that see the same paths) and wait for them",
            ),
        ] = False,
        manifest: Annotated[
            Path | None,
            typer.Option(help="Text file listing files or folders, one per line", exists=True),
        ] = None,
        batch_files: Annotated[
            int, typer.Option(help="Files per ingest_batch job (with --queue)")
        ] = 16,
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    ) -> None:
        """Add audio files to the catalog (idempotent by content hash; an interrupted run
        continues where it stopped when run again)."""
        from tonearm.catalog.bulk import bulk_ingest, check_device, default_workers
        from tonearm.catalog.bulk_jobs import (
            files_with_metadata,
            read_manifest,
            submit_batches,
            wait_batches,
        )
        from tonearm.catalog.ingest import KINDS, IngestOutcome, ingest_paths

        if kind not in KINDS:
            raise typer.BadParameter(f"--kind must be one of {', '.join(KINDS)}")
        inputs: list[Path] = list(paths or []) + (read_manifest(manifest) if manifest else [])
        if not inputs:
            raise typer.BadParameter("give files or folders, or --manifest")
        try:
            check_device(device)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        # --analyses "" (or "none") runs no analyzer; leaving it out runs the defaults
        names = (
            None
            if analyses is None
            else [a.strip() for a in analyses.split(",") if a.strip() and a.strip() != "none"]
        )
        n_workers = default_workers() if workers is None else max(0, workers)
        catalog = open_catalog(data)
        progress = Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        task = progress.add_task("ingest", total=None, rate="")
        state: dict[str, float] = {"done": 0, "audio_s": 0.0}

        def on_start(n: int) -> None:
            progress.update(task, total=n)

        def on_progress(o: IngestOutcome) -> None:
            state["done"] += 1
            state["audio_s"] += o.duration_s
            el = progress.tasks[0].elapsed or 1e-9
            rate = f"{state['done'] / el:.1f} files/s"
            if state["audio_s"]:
                rate += f", {state['audio_s'] / el:.0f}x realtime"
            progress.update(task, advance=1, rate=rate)
            if o.status == "failed":
                progress.console.print(f"[red]failed[/] {o.path}: {o.reason}")

        try:
            with progress:
                if queue:
                    files = files_with_metadata(inputs, metadata)
                    on_start(len(files))
                    job_ids = submit_batches(
                        catalog, files, kind=kind, analyses=names, batch_files=batch_files
                    )
                    progress.console.print(f"submitted {len(job_ids)} ingest_batch jobs")
                    summary = wait_batches(
                        catalog, job_ids, files, batch_files=batch_files, on_progress=on_progress
                    )
                elif n_workers == 0:
                    summary = ingest_paths(
                        catalog,
                        inputs,
                        kind=kind,
                        metadata_csv=metadata,
                        analyses=names,
                        on_start=on_start,
                        on_progress=on_progress,
                    )
                else:
                    summary = bulk_ingest(
                        catalog,
                        inputs,
                        kind=kind,
                        metadata_csv=metadata,
                        analyses=names,
                        workers=n_workers,
                        device=device,
                        on_start=on_start,
                        on_progress=on_progress,
                    )
        except ValueError as e:
            console.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        by_reason: dict[str, int] = {}
        for f in summary.failed:
            key = (f.reason or "unknown").split(":")[0]
            by_reason[key] = by_reason.get(key, 0) + 1
        if json_out:
            out.print_json(
                json.dumps(
                    {
                        "added": len(summary.added),
                        "skipped": len(summary.skipped),
                        "failed": [{"path": f.path, "reason": f.reason} for f in summary.failed],
                        "failed_by_reason": by_reason,
                        "seconds_of_audio": round(summary.seconds_of_audio, 1),
                        "interrupted": summary.interrupted,
                    }
                )
            )
        else:
            out.print(
                f"added {len(summary.added)}, skipped {len(summary.skipped)} (already in "
                f"catalog), failed {len(summary.failed)}; "
                f"{summary.seconds_of_audio / 60:.1f} min of audio added"
            )
            if by_reason:
                out.print(
                    "failures by reason: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(by_reason.items()))
                )
            for f in summary.failed:
                out.print(f"  failed: {f.path}: {f.reason}")
        if summary.interrupted:
            console.print("interrupted: run the same command again to continue")
            raise typer.Exit(130)
        if summary.failed and not summary.added and not summary.skipped:
            raise typer.Exit(1)

    @keys_app.command("create")
    def keys_create(
        name: Annotated[str, typer.Option(help="A label for the key")],
        tier: Annotated[str, typer.Option(help="Tier (limits and quota)")] = "free",
        data: DataOpt = None,
    ) -> None:
        """Create a key; the secret is printed once, alone on the last line."""
        from tonearm.catalog.keys import create_key

        catalog = open_catalog(data)
        try:
            secret, rec = create_key(catalog.store, name, tier)
        except ValueError as e:
            console.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        console.print(f"created key {rec.key_id} ({rec.name}); store it now, it is not shown again")
        print(secret)

    @keys_app.command("list")
    def keys_list(data: DataOpt = None) -> None:
        """List keys (never the secrets)."""
        catalog = open_catalog(data)
        t = Table("id", "name", "prefix", "tier", "created", "revoked")
        for k in catalog.store.list_keys():
            t.add_row(
                str(k.key_id), k.name, k.prefix + "…", k.tier, k.created_at, k.revoked_at or ""
            )
        out.print(t)

    @keys_app.command("revoke")
    def keys_revoke(
        key: Annotated[str, typer.Argument(help="Key id, prefix or name")], data: DataOpt = None
    ) -> None:
        """Revoke a key (by id, prefix or name)."""
        catalog = open_catalog(data)
        if not catalog.store.revoke_key(key):
            console.print(f"[red]error:[/] no active key matches {key!r}")
            raise typer.Exit(1)
        out.print(f"revoked {key}")

    app.add_typer(keys_app, name="keys")
