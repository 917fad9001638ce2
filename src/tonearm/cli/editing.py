"""``tonearm analyze FILE...``: Audjust's analysis result for local files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tonearm.cli.common import console, out, settings_for


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_cmd(
        files: Annotated[list[Path], typer.Argument(help="Audio files", exists=False)],
        raw_features: Annotated[
            bool,
            typer.Option("--raw-features", "--features", help="Include 13 features per beat"),
        ] = False,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the full result object (one line per file)")
        ] = False,
    ) -> None:
        """Beats, tempo, self-similarity (and per-beat features) of audio files.

        With --json, prints Audjust's result object per file, one JSON object per line with
        a "file" field added; otherwise a short summary per file.
        """
        from tonearm.catalog.decoding import audio_limits
        from tonearm.core.audio.decode import decode_for
        from tonearm.core.audio.errors import AudioError
        from tonearm.core.audio.limits import Purpose
        from tonearm.editing.analyze import analyze

        settings = settings_for(None)
        failed = 0
        for f in files:
            try:
                signal = decode_for(f, Purpose.CATALOG_FILE, audio_limits(settings))
            except (AudioError, OSError) as e:
                console.print(f"[red]{f}: {e}[/red]")
                failed += 1
                continue
            result = analyze(signal, raw_features=raw_features)
            if as_json:
                out.print(json.dumps({"file": str(f), **result}), markup=False)
            else:
                b = result["boundaries"]
                out.print(
                    f"{f}: {result['duration']:.2f} s, {result['tempo']} BPM, "
                    f"{len(b)} boundaries ({', '.join(f'{x:.2f}' for x in b[:6])}"
                    f"{', ...' if len(b) > 6 else ''})",
                    markup=False,
                )
        if failed:
            raise typer.Exit(1)
