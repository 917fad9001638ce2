"""serve, ingest, keys."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

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

from tonearm.catalog.ingest import IngestOutcome
from tonearm.cli.common import DataOpt, console, open_catalog, out, settings_for
from tonearm.settings import ENV_PREFIX, Settings

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def serve_catalog(
    settings: Settings, host: str, port: int, banner: list[str] | None = None
) -> None:
    import uvicorn

    from tonearm.api.app import create_app
    from tonearm.api.ops import configure_logging, uvicorn_log_config

    configure_logging(settings)
    url = f"http://{host}:{port}"
    out.print(f"tonearm serving {settings.data} at {url}")
    out.print(f"API docs: {url}/docs")
    for line in banner or []:
        out.print(line)
    # X-Forwarded-* are believed from the configured proxies only (uvicorn would trust
    # any loopback client by default)
    proxies = list(settings.trusted_proxies)
    proxy_opts = {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}
    if settings.audd_enterprise_port:
        out.print(f"AudD enterprise endpoint: http://{host}:{settings.audd_enterprise_port}/")
        _serve_two_ports(settings, host, port, proxy_opts)
        return
    if settings.http_workers > 1:
        # each worker process builds its app from the environment: hand it these settings
        os.environ.update(settings_env(settings))
        uvicorn.run(
            "tonearm.api.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=settings.http_workers,
            log_config=uvicorn_log_config(),
            **proxy_opts,  # type: ignore[arg-type]
        )
        return
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=uvicorn_log_config(),
        **proxy_opts,  # type: ignore[arg-type]
    )


def _serve_two_ports(settings: Settings, host: str, port: int, proxy_opts: dict[str, Any]) -> None:
    """The API on ``port`` and AudD's enterprise endpoint at ``/`` of
    ``settings.audd_enterprise_port``: one app, one server (or set of worker processes),
    two listening sockets (the app tells them apart by the port a request arrived on)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from tonearm.api.app import create_app
    from tonearm.api.ops import uvicorn_log_config

    workers = max(1, settings.http_workers)
    if workers > 1:
        os.environ.update(settings_env(settings))
    app: Any = "tonearm.api.app:create_app_from_env" if workers > 1 else create_app(settings)
    common = {"host": host, "log_config": uvicorn_log_config(), **proxy_opts}
    config = uvicorn.Config(app, port=port, factory=workers > 1, workers=workers, **common)
    sockets = [
        config.bind_socket(),
        uvicorn.Config(app, port=settings.audd_enterprise_port, **common).bind_socket(),
    ]
    if workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``TONEARM_*`` variables that recreate it in another process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        env[ENV_PREFIX + name.upper()] = text
    return env


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
        http_workers: Annotated[
            int | None,
            typer.Option(
                "--http-workers",
                help="HTTP worker processes (default $TONEARM_HTTP_WORKERS or 1); each also "
                "runs --workers job threads",
            ),
        ] = None,
        log_format: Annotated[str | None, typer.Option("--log-format", help="text or json")] = None,
        log_level: Annotated[str | None, typer.Option("--log-level", help="info, debug...")] = None,
    ) -> None:
        """Run the HTTP API (OpenAPI docs at /docs, metrics at /metrics, readiness /readyz)."""
        if log_format not in (None, "text", "json"):
            raise typer.BadParameter("--log-format must be text or json")
        s = settings_for(
            data,
            host=host,
            port=port,
            workers=workers,
            http_workers=http_workers,
            log_format=log_format,
            log_level=log_level,
        )
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
        keep_original: Annotated[
            bool | None,
            typer.Option(
                "--keep-original/--no-keep-original",
                help="Keep a copy of each file in the blob store (default: "
                "TONEARM_KEEP_ORIGINALS, on); --no-keep-original keeps only fingerprints "
                "and analyses",
            ),
        ] = None,
    ) -> None:
        """Add audio files to the catalog (idempotent by content hash; an interrupted run
        continues where it stopped when run again)."""
        from tonearm.catalog.bulk import bulk_ingest, check_device, default_workers
        from tonearm.catalog.ingest import KINDS, ingest_paths
        from tonearm.jobs.ingest_batch import (
            files_with_metadata,
            read_manifest,
            submit_batches,
            wait_batches,
        )

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
        if keep_original is not None:
            catalog.settings.keep_originals = keep_original
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
                        # the new assets' ids (and the ones already there), for scripts
                        "asset_ids": [o.asset_id for o in summary.added],
                        "added_assets": [
                            {"path": o.path, "asset_id": o.asset_id} for o in summary.added
                        ],
                        "skipped_assets": [
                            {"path": o.path, "asset_id": o.asset_id} for o in summary.skipped
                        ],
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
        scopes: Annotated[
            str, typer.Option(help="Comma-separated: read, write (catalog changes), admin")
        ] = "read",
        account: Annotated[
            str | None,
            typer.Option(
                help="Account (tenant) the key acts for; 'operator' owns the shared catalog "
                "(default: a new account of its own)"
            ),
        ] = None,
        data: DataOpt = None,
    ) -> None:
        """Create a key; the secret is printed once, alone on the last line."""
        from tonearm.catalog.keys import create_key
        from tonearm.platform.tiers import get_tier

        catalog = open_catalog(data)
        try:
            get_tier(tier)  # ValueError naming the valid tiers
            secret, rec = create_key(catalog.store, name, tier, scopes, account)
        except ValueError as e:
            console.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        console.print(f"created key {rec.key_id} ({rec.name}); store it now, it is not shown again")
        print(secret)

    @keys_app.command("list")
    def keys_list(
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """List keys (never the secrets)."""
        catalog = open_catalog(data)
        from tonearm.catalog.keys import SCOPES, account_name

        if json_out:
            keys = [
                {
                    "id": k.key_id,
                    "name": k.name,
                    "prefix": k.prefix,
                    "tier": k.tier,
                    "scopes": [s for s in SCOPES if s in k.scopes],
                    "account": account_name(k),
                    "createdAt": k.created_at,
                    "revokedAt": k.revoked_at,
                }
                for k in catalog.store.list_keys()
            ]
            out.print(json.dumps({"keys": keys}), markup=False)
            return
        t = Table("id", "name", "prefix", "tier", "scopes", "account", "created", "revoked")
        for k in catalog.store.list_keys():
            t.add_row(
                str(k.key_id),
                k.name,
                k.prefix + "…",
                k.tier,
                ",".join(s for s in SCOPES if s in k.scopes),
                account_name(k),
                k.created_at,
                k.revoked_at or "",
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
