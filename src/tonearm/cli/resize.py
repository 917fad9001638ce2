"""``tonearm resize FILE --target SECONDS -o OUT.mp3``: analyze, resize and export in one go."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tonearm.cli.common import DataOpt, console, out, settings_for

_FORMATS_BY_SUFFIX = {".mp3": "mp3_256", ".wav": "wav", ".flac": "flac", ".ogg": "ogg"}


def _fmt_s(x: float) -> str:
    m, s = divmod(x, 60.0)
    return f"{int(m)}:{s:05.2f}"


def register(app: typer.Typer) -> None:
    @app.command("resize")
    def resize_cmd(
        file: Annotated[Path, typer.Argument(help="Audio file (mp3, wav, flac, ogg, m4a...)")],
        target: Annotated[float, typer.Option("--target", "-t", help="Target length, seconds")],
        output: Annotated[
            Path | None,
            typer.Option("-o", "--output", help="Write the edit here (.mp3, .wav, .flac, .ogg)"),
        ] = None,
        loop: Annotated[
            bool,
            typer.Option("--loop", help="A seamless loop of about --target seconds instead"),
        ] = False,
        exact: Annotated[
            bool,
            typer.Option("--exact", help="Time-stretch (at most 3 %) to exactly --target"),
        ] = False,
        candidate: Annotated[
            int, typer.Option("--candidate", "-c", help="Render the N-th best candidate", min=1)
        ] = 1,
        export_format: Annotated[
            str | None,
            typer.Option("--format", help="mp3_128, mp3_256, mp3_320, wav... (default: by -o)"),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print every candidate as JSON (Audjust's shape)")
        ] = False,
        data: DataOpt = None,
    ) -> None:
        """Shorten, lengthen or loop a song to a target length, cutting where the music
        continues seamlessly; prints the edit it chose and writes it with -o."""
        from tonearm.catalog.decoding import audio_limits
        from tonearm.core.audio.decode import decode_for
        from tonearm.core.audio.encode import encode
        from tonearm.core.audio.errors import AudioError
        from tonearm.core.audio.limits import Purpose
        from tonearm.editing.analyze import analyze_signal
        from tonearm.editing.loop import find_loops
        from tonearm.editing.render import (
            SegmentError,
            render_loop_segments,
            render_segments,
            source_loudness,
            stretch_to_length,
        )
        from tonearm.editing.resize import ResizeInputError, resize
        from tonearm.editing.resize_service import inputs_from_analysis

        settings = settings_for(data)
        fmt = export_format
        if output is not None and fmt is None:
            fmt = _FORMATS_BY_SUFFIX.get(output.suffix.lower())
            if fmt is None:
                console.print(f"[red]unknown output type {output.suffix!r}; use --format[/red]")
                raise typer.Exit(2)
        try:
            with console.status(f"decoding {file.name}..."):
                signal = decode_for(file, Purpose.CATALOG_FILE, audio_limits(settings))
        except AudioError as e:
            console.print(f"[red]{file}: {e.message}[/red]")
            raise typer.Exit(1) from e
        with console.status("analyzing beats and self-similarity..."):
            analysis = analyze_signal(signal)
        sim, bounds_arr = inputs_from_analysis(analysis, signal.duration_s)
        bounds = [float(x) for x in bounds_arr]
        try:
            with console.status(f"finding {'loops' if loop else 'edits'} near {target:g} s..."):
                if loop:
                    loops = find_loops(sim, bounds, target)
                    results: list[Any] = loops
                    rows = [lp.to_audjust(signal.sr) for lp in loops]
                else:
                    edits = resize(sim, bounds, target)
                    results = edits
                    rows = [e.to_audjust() for e in edits]
        except ResizeInputError as e:
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(2) from e
        if not results:
            console.print("[red]no edit found[/red]")
            raise typer.Exit(1)
        if candidate > len(results):
            console.print(f"[red]only {len(results)} candidates[/red]")
            raise typer.Exit(2)
        chosen = rows[candidate - 1]
        if as_json:
            out.print(json.dumps({"file": str(file), "result": rows}), markup=False)
        else:
            out.print(
                f"{file}: {_fmt_s(signal.duration_s)} at {analysis.bpm:.0f} BPM, "
                f"{len(bounds) - 1} beats -> target {_fmt_s(target)}",
                markup=False,
            )
            what = "loop" if loop else "edit"
            out.print(
                f"{what} #{candidate} of {len(rows)}: {_fmt_s(chosen['durationSeconds'])}, "
                f"dissimilarity {chosen['dissimilarity']:.3f}, "
                f"score {chosen['blendedScore']:.3f}",
                markup=False,
            )
            for (a, b), (sa, sb) in zip(
                chosen["segmentsBeats"], chosen["segmentsSeconds"], strict=True
            ):
                out.print(f"  beats {a:>4}-{b:<4}  {_fmt_s(sa)} - {_fmt_s(sb)}", markup=False)
            if loop:
                out.print(
                    f"  loop points: {chosen['loopStartSeconds']:.3f} s - "
                    f"{chosen['loopEndSeconds']:.3f} s (samples {chosen['loopStartSample']} - "
                    f"{chosen['loopEndSample']} at {signal.sr} Hz)",
                    markup=False,
                )
            else:
                segs = chosen["segmentsBeats"]
                for k in range(len(segs) - 1):
                    b, a = segs[k][1], segs[k + 1][0]
                    kind = "skip ahead" if a > b else "repeat"
                    out.print(
                        f"  cut at {_fmt_s(bounds[b])}: {kind} {abs(a - b)} beats "
                        f"to {_fmt_s(bounds[a])}",
                        markup=False,
                    )
        if output is None:
            return
        assert fmt is not None
        # render from the exact boundaries (the JSON rounds to ms)
        segs_s = [[bounds[a], bounds[b]] for a, b in chosen["segmentsBeats"]]
        try:
            rendering = console.status(f"rendering {output.name}...")
            rendering.start()
            ref = source_loudness(signal)
            if loop:
                rendered = render_loop_segments(signal, segs_s, reference_lufs=ref)
            else:
                rendered = render_segments(signal, segs_s, reference_lufs=ref)
            if exact:
                rendered = stretch_to_length(rendered, int(round(target * signal.sr)))
            blob = encode(rendered, fmt)
            rendering.stop()
        except (SegmentError, AudioError) as e:
            rendering.stop()
            console.print(f"[red]{e}[/red]")
            raise typer.Exit(1) from e
        output.write_bytes(blob)
        if not as_json:
            out.print(f"wrote {output} ({_fmt_s(rendered.duration_s)}, {fmt})", markup=False)
