"""``tonearm recognize FILE...`` and ``tonearm scan LONGFILE``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tonearm.cli.common import DataOpt, console, open_catalog, out


def recognize_file(catalog: Any, path: Path) -> dict[str, Any]:
    """One line of ``tonearm recognize --json``."""
    from tonearm.core.audio.errors import AudioError
    from tonearm.recognition.inputs import decode_local_file, recognize_signal

    row: dict[str, Any] = {
        "file": str(path),
        "asset_id": None,
        "title": None,
        "artist": None,
        "source": None,
        "offset_sec": None,
        "score": None,
    }
    try:
        signal = decode_local_file(catalog, path)
    except AudioError as e:
        row["error"] = str(e)
        return row
    for m in recognize_signal(catalog, signal, top_k=1):
        asset = catalog.store.get_asset(m.asset_id)
        if asset is None:
            continue
        row.update(
            asset_id=asset.asset_id,
            title=asset.name,
            artist=asset.artist,
            source=asset.source_path,
            offset_sec=round(m.offset_s, 2),
            score=round(m.score, 3),
        )
        if asset.audio_id is not None:
            row["audio_id"] = asset.audio_id
        break
    return row


def _fmt_time(s: float) -> str:
    m, sec = divmod(max(0.0, s), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{sec:04.1f}" if h else f"{m:02d}:{sec:04.1f}"


def _recognize_stdin(catalog: Any) -> dict[str, Any]:
    """``tonearm recognize -``: the excerpt piped on stdin (through a temporary file, as
    the decoder reads files)."""
    import sys
    import tempfile

    data = sys.stdin.buffer.read()
    with tempfile.TemporaryDirectory(prefix="tonearm-stdin-") as tmp:
        path = Path(tmp) / "stdin"
        path.write_bytes(data)
        row = recognize_file(catalog, path)
    row["file"] = "-"
    return row


def register(app: typer.Typer) -> None:
    @app.command()
    def recognize(
        files: Annotated[
            list[Path], typer.Argument(help="Audio files (excerpts) to identify; - reads stdin")
        ],
        data: DataOpt = None,
        json_out: Annotated[
            bool, typer.Option("--json", help="One JSON object per line and file")
        ] = False,
    ) -> None:
        """Identify each file against the catalog (song and timecode), in one process."""
        catalog = open_catalog(data)
        failed = 0
        for f in files:
            row = _recognize_stdin(catalog) if str(f) == "-" else recognize_file(catalog, f)
            if "error" in row:
                failed += 1
            if json_out:
                print(json.dumps(row, ensure_ascii=False), flush=True)
            elif "error" in row:
                out.print(f"{f}: error: {row['error']}", markup=False)
            elif row["asset_id"] is None:
                out.print(f"{f}: no match", markup=False)
            else:
                who = f"{row['artist']} - " if row["artist"] else ""
                out.print(
                    f"{f}: {who}{row['title']} (asset {row['asset_id']}) at "
                    f"{_fmt_time(row['offset_sec'])}, score {row['score']:.2f}"
                    + (f"  [{row['source']}]" if row["source"] else ""),
                    markup=False,
                )
        if failed:
            raise typer.Exit(1)

    @app.command()
    def scan(
        longfile: Annotated[Path, typer.Argument(help="A long recording (mix, broadcast)")],
        data: DataOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    ) -> None:
        """Find every catalog track played in a long file, with its start and end (the same
        scanner as AudD's /enterprise/: one entry per play, decoded in bounded memory)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from tonearm.core.audio.errors import AudioError
        from tonearm.recognition.enterprise import scan_path
        from tonearm.recognition.longfile import ScanOptions

        catalog = open_catalog(data)
        progress = Progress(
            TextColumn("[bold]scan"), BarColumn(), TimeElapsedColumn(), console=console
        )
        stats: dict[str, float] = {}
        try:
            with progress:
                task = progress.add_task("scan", total=1.0)
                body = scan_path(
                    catalog,
                    longfile,
                    ScanOptions(),
                    base_url=catalog.settings.public_url or "",
                    progress=lambda f: progress.update(task, completed=f),
                    stats=stats,
                )
        except AudioError as e:
            console.print(f"error: {longfile}: {e}", markup=False)
            raise typer.Exit(1) from e
        tracks: list[dict[str, Any]] = []
        for t in body.get("tracks", []):
            a = catalog.store.get_asset(str(t["asset_id"]))
            tracks.append(
                {
                    "asset_id": str(t["asset_id"]),
                    "title": t.get("title"),
                    "artist": t.get("artist"),
                    "source": a.source_path if a else None,
                    "start_sec": t["start_seconds"],
                    "end_sec": t["end_seconds"],
                    "song_start_sec": t["song_start_seconds"],
                    "song_end_sec": t["song_end_seconds"],
                    "score": t["score"],
                    "also_matches": t.get("also_matches", []),
                }
            )
        if json_out:
            doc = {
                "file": str(longfile),
                "duration_sec": round(stats.get("duration_s", 0.0), 2),
                "tracks": tracks,
            }
            print(json.dumps(doc, ensure_ascii=False), flush=True)
            return
        if not tracks:
            out.print(f"{longfile}: no catalog track found", markup=False)
        for t in tracks:
            who = f"{t['artist']} - " if t["artist"] else ""
            out.print(
                f"{_fmt_time(t['start_sec'])}-{_fmt_time(t['end_sec'])}  {who}{t['title']} "
                f"(asset {t['asset_id']}, from {_fmt_time(t['song_start_sec'])} of the song, "
                f"score {t['score']})",
                markup=False,
            )
