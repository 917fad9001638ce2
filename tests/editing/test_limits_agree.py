"""Whatever /analyze returns, /resize accepts: a long song's analysis is resizable."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tonearm.core.features.beats import MAX_BPM
from tonearm.editing.analyze import MAX_SIMILARITY_DURATION_S
from tonearm.editing.resize import MAX_BEATS
from tonearm.editing.similarity import encode_similarity


def test_resize_beat_limit_covers_the_longest_analysis() -> None:
    # the longest song analyze accepts, at the fastest tempo the tracker reports
    most_beats = MAX_SIMILARITY_DURATION_S / 60.0 * MAX_BPM
    assert most_beats <= MAX_BEATS


def test_resize_accepts_a_21_minute_analysis(client: TestClient, api_key: str) -> None:
    # a 21-minute song at 128 BPM: 2,688 beats (analyze answered this; resize refused it)
    n = 2688
    beat_s = 60.0 / 128
    rng = np.random.default_rng(1)
    idx = np.arange(n) % 32
    pattern = rng.random((32, 32))
    sim = (pattern + pattern.T)[idx][:, idx] / 2
    boundaries = [round(i * beat_s, 2) for i in range(n + 1)]
    body = {
        "targetLengthSeconds": 600,
        "similarity": encode_similarity(sim),
        "boundaries": boundaries,
    }
    r = client.post("/resize", json=body, headers={"X-API-Key": api_key})
    assert r.status_code == 200, r.text
    results = r.json()["result"]
    assert results
    assert abs(results[0]["durationSeconds"] - 600) < 5
    assert results[0]["segmentsBeats"][-1][1] == n
