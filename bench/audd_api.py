"""AudD API overhead: end-to-end latency of ``POST /`` (multipart upload, isolated decode,
recognition, JSON) and of the WebSocket, against a named baseline measured in the same run:
``engine_only`` (in-process decode + ``service.recognize``, no HTTP, no decode isolation).

    .venv/bin/python bench/audd_api.py [--songs 20] [--queries 30]

Prints one JSON object. Synthesized songs only (this measures the API layer, not accuracy;
``bench/recognition.py`` measures the engine on real music).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--songs", type=int, default=20)
    ap.add_argument("--queries", type=int, default=30)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "recognition"))
    from audd_testkit import build_catalog, excerpt
    from fastapi.testclient import TestClient

    from tonearm.api.app import create_app
    from tonearm.catalog.context import Catalog
    from tonearm.catalog.keys import create_key
    from tonearm.core.audio.decode import decode
    from tonearm.recognition import service
    from tonearm.recognition.fingerprint import SR
    from tonearm.settings import Settings

    s = Settings(data=Path(tempfile.mkdtemp()) / "data")
    s.ensure_dirs()
    catalog = Catalog.open(s)
    songs = build_catalog(catalog, [(100 + i, 30.0, {}) for i in range(args.songs)])
    ids = list(songs.songs)
    key, _ = create_key(catalog.store, "bench")
    clips = [
        (ids[i % len(ids)], excerpt(songs.songs[ids[i % len(ids)]], 5 + i % 10, 10.0, "mp3_128"))
        for i in range(args.queries)
    ]

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 1)

    base, base_ok = [], 0
    for aid, clip in clips:
        t = time.perf_counter()
        sig = decode(clip, mono=True, sr=SR, isolate=False)
        m = service.recognize(catalog, sig)
        base.append(time.perf_counter() - t)
        base_ok += bool(m) and m[0].asset_id == aid
    api, api_ok = [], 0
    with TestClient(create_app(catalog=catalog)) as client:
        for aid, clip in clips:
            t = time.perf_counter()
            r = client.post("/", data={"api_token": key}, files={"file": clip}).json()
            api.append(time.perf_counter() - t)
            api_ok += r.get("result") is not None and r["result"]["song_link"].endswith(f"/{aid}")
        t = time.perf_counter()
        with client.websocket_connect(f"/ws/?api_token={key}") as ws:
            for _, clip in clips:
                ws.send_bytes(clip)
            answers = [ws.receive_json() for _ in clips]
        ws_total = time.perf_counter() - t
    print(
        json.dumps(
            {
                "catalog_songs": args.songs,
                "query": "10 s excerpt, MP3 128 kbps",
                "n": len(clips),
                "engine_only": {
                    "correct": base_ok,
                    "p50_ms": pct(base, 0.5),
                    "p90_ms": pct(base, 0.9),
                },
                "api_post_root": {
                    "correct": api_ok,
                    "p50_ms": pct(api, 0.5),
                    "p90_ms": pct(api, 0.9),
                    "median_overhead_ms": round(
                        1000 * (statistics.median(api) - statistics.median(base)), 1
                    ),
                },
                "websocket_all_at_once": {
                    "answers": len(answers),
                    "total_s": round(ws_total, 2),
                    "per_clip_ms": round(1000 * ws_total / len(clips), 1),
                },
            }
        )
    )
    catalog.close()


if __name__ == "__main__":
    main()
