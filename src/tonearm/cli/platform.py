"""`tonearm usage` (credits and requests of a key), `tonearm keys tier`, `tonearm worker`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tonearm.cli.common import DataOpt, console, open_catalog, out


def register(app: typer.Typer) -> None:
    from tonearm.cli.core import keys_app

    @keys_app.command("set")
    def keys_set(
        key: Annotated[str, typer.Argument(help="Key id, prefix or name")],
        tier: Annotated[str | None, typer.Option(help="New tier")] = None,
        rpm: Annotated[
            int | None, typer.Option(help="Requests per minute for this key (<= 0: no limit)")
        ] = None,
        credits: Annotated[
            int | None, typer.Option(help="Credits per 30 days for this key (< 0: unlimited)")
        ] = None,
        scopes: Annotated[
            str | None, typer.Option(help="New scopes, comma-separated: read, write, admin")
        ] = None,
        data: DataOpt = None,
    ) -> None:
        """Change a key's tier, its own limits or its scopes."""
        from tonearm.catalog.keys import parse_scopes
        from tonearm.platform.service import get_platform

        platform = get_platform(open_catalog(data))
        rec = platform.find_key(key)
        if rec is None:
            console.print(f"[red]error:[/] no key matches {key!r}")
            raise typer.Exit(1)
        try:
            platform.set_limits(rec.key_id, tier, rpm, credits)
            if scopes is not None:
                platform.store.set_key_scopes(rec.key_id, parse_scopes(scopes))
        except ValueError as e:
            console.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        rec = platform.find_key(str(rec.key_id))
        assert rec is not None
        lim = platform.limits(rec)
        out.print(
            f"key {rec.key_id}: tier {lim.tier}, "
            f"{lim.rate_limit_per_min or 'no limit'} req/min, "
            f"{'unlimited' if lim.monthly_credits is None else lim.monthly_credits} credits/30 days"
            f", scopes {','.join(sorted(rec.scopes))}"
        )

    @app.command()
    def usage(
        key: Annotated[str, typer.Argument(help="Key id, prefix or name")],
        days: Annotated[float, typer.Option(help="Period for the per-endpoint table")] = 30,
        recent: Annotated[int, typer.Option(help="How many recent requests to show")] = 20,
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    ) -> None:
        """A key's tier, credits used (last 30 days), requests per endpoint, recent requests."""
        from tonearm.platform.service import get_platform

        catalog = open_catalog(data)
        platform = get_platform(catalog)
        rec = platform.find_key(key)
        if rec is None:
            console.print(f"[red]error:[/] no key matches {key!r}")
            raise typer.Exit(1)
        report = platform.report(rec, days=days, recent=recent)
        if json_out:
            out.print_json(json.dumps(report))
            return
        k, c, t = report["key"], report["credits"], report["tier"]
        limit = "unlimited" if c["limit"] is None else str(c["limit"])
        rpm = t["requestsPerMinute"] or "no limit"
        state = "revoked " + k["revokedAt"] if k["revokedAt"] else "active"
        out.print(f"key {k['id']} {k['name']} ({k['prefix']}…), tier {k['tier']}, {state}")
        out.print(f"credits (last {c['windowDays']} days): {c['used']} of {limit}; {rpm} req/min")
        out.print(f"requests (last {days:g} days): {report['requests']}, errors {report['errors']}")
        t1 = Table("method", "endpoint", "requests", "errors", "credits", "avg ms", "max ms")
        for e in report["byEndpoint"]:
            t1.add_row(
                e["method"],
                e["endpoint"],
                str(e["requests"]),
                str(e["errors"]),
                str(e["credits"]),
                f"{e['avgDurationMs']:.1f}",
                f"{e['maxDurationMs']:.1f}",
            )
        out.print(t1)
        if report["recentRequests"]:
            t2 = Table("time", "method", "path", "status", "outcome", "credits", "ms")
            for r in report["recentRequests"]:
                outcome = r["outcome"] + (f" ({r['error']})" if r["error"] else "")
                t2.add_row(
                    r["time"],
                    r["method"],
                    r["path"],
                    str(r["status"]),
                    outcome,
                    str(r["credits"]),
                    f"{r['durationMs']:.1f}",
                )
            out.print(t2)

    db_app = typer.Typer(help="Database: move an embedded catalog to PostgreSQL.")

    @db_app.command("copy")
    def db_copy(
        to: Annotated[str, typer.Option("--to", help="postgresql://... (optional ?schema=)")],
        data: DataOpt = None,
    ) -> None:
        """Copy the embedded SQLite catalog (assets, analyses, keys, usage, jobs) to
        PostgreSQL, keeping asset and key ids. Safe to run again: existing rows are kept."""
        from tonearm.cli.common import settings_for
        from tonearm.storage.postgres import PostgresStore, copy_catalog, split_schema
        from tonearm.storage.sqlite import SqliteStore

        if not to.startswith("postgres"):
            console.print("[red]error:[/] --to must be a postgresql:// URL")
            raise typer.Exit(2)
        s = settings_for(data)
        if not s.db_path.is_file():
            console.print(f"[red]error:[/] no catalog at {s.db_path}")
            raise typer.Exit(1)
        src = SqliteStore(s.db_path)
        url, schema = split_schema(to)
        dst = PostgresStore(url, schema=schema)
        try:
            counts = copy_catalog(src, dst)
        finally:
            src.close()
            dst.close()
        for table, n in counts.items():
            out.print(f"{table}: {n} rows copied")
        out.print(
            "done; point TONEARM_DATABASE_URL at it (files stay in the data directory; "
            "search's keyword index is rebuilt by the search service)"
        )

    app.add_typer(db_app, name="db")

    @app.command()
    def worker(
        workers: Annotated[int, typer.Option("--workers", "-w", help="Worker threads")] = 2,
        recover_every_s: Annotated[
            float | None,
            typer.Option(
                help="How often to look for jobs a dead worker left running "
                "(default $TONEARM_JOB_WATCHDOG_S or 5)"
            ),
        ] = None,
        data: DataOpt = None,
    ) -> None:
        """Run background jobs (analyze, export, scans) from the shared queue until stopped.

        Point it at the same database and queue as the API servers
        (TONEARM_DATABASE_URL, TONEARM_QUEUE_URL) and start those with --workers 0.
        """
        from tonearm.jobs.queue import get_queue, load_job_kinds, registered_kinds

        catalog = open_catalog(data)
        load_job_kinds(catalog)  # every plugin's job kinds, before the first job arrives
        queue = get_queue(catalog)
        kinds = ", ".join(sorted(registered_kinds())) or "none"
        console.print(f"tonearm worker: {workers} threads, job kinds: {kinds}")
        # AudD stream monitors too: each stream runs in the one process holding its lease
        from tonearm.recognition.streams import StreamManager

        monitors = StreamManager(
            catalog, base_url=catalog.settings.public_url or "http://localhost"
        )
        monitors.start_all()
        try:
            # the worker's watchdog re-queues jobs whose worker died (no heartbeat for the
            # lease, TONEARM_JOB_LEASE_S) and fails jobs past their time limit
            queue.run_worker(workers, watchdog_s=recover_every_s)
        finally:
            monitors.shutdown()
