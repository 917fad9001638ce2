"""POST /developer/v1/similar and GET /developer/v1/sfx/similar over a catalog of
synthesized clips; catalog management routes; errors in AudioScape's format."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.api.openapi import SfxSimilarResponse, SimilarResponse
from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.demo.synth.sfx import render_sfx
from tonearm.settings import Settings
from tonearm.storage.base import Analysis

SFX = [("IMPACTS", "METAL"), ("IMPACTS", "WOOD"), ("DOORS", "KNOCK"), ("DOORS", "SLAM"),
       ("USER INTERFACE", "BEEP"), ("USER INTERFACE", "CLICK"), ("WHOOSHES", "WHOOSH"),
       ("ALARMS", "SIREN")]  # fmt: skip


def add_signal(catalog: Catalog, sig: Signal, kind: str, **meta: Any) -> str:
    """What ingest does for one decoded file (analyzers + one atomic write + after_commit),
    minus decoding, which the foundation tests cover and which is slow to spawn."""
    analyzers = select_analyzers(["mir", "embedding"])
    results = [(a, a.analyze(sig, kind)) for a in analyzers]
    data = encode(sig, "wav")
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("files") / digest[:2] / f"{digest}.wav"
    (catalog.data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    (catalog.data_dir / rel).write_bytes(data)
    fields = {
        "kind": kind,
        "duration": round(sig.duration_s, 3),
        "content_hash": digest,
        "file_path": str(rel),
        "sample_rate": sig.sr,
        "channels": sig.channels,
        **meta,
    }
    asset = catalog.store.add_asset(
        fields, [Analysis("", a.name, a.version, r.data, r.blob) for a, r in results]
    )
    for a, r in results:
        a.after_commit(catalog, asset, r)
    return asset.asset_id


PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")


@pytest.fixture(
    scope="module", params=["default", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The catalog on the configured backend, and once more on PostgreSQL (vectors in
    PostgreSQL, the in-process index synced from it) when TONEARM_TEST_POSTGRES_URL is set."""
    extra: dict[str, Any] = {}
    schema = None
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("needs TONEARM_TEST_POSTGRES_URL (postgresql://...) for the PostgreSQL run")
        if (os.environ.get("TONEARM_DATABASE_URL") or "").startswith("postgres"):
            pytest.skip("the default run already uses PostgreSQL (TONEARM_DATABASE_URL)")
        schema = f"sim_{uuid.uuid4().hex[:10]}"
        extra["database_url"] = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    settings = Settings(data=tmp_path_factory.mktemp("disc") / "data", decode_timeout_s=30, **extra)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    if schema is not None:
        assert catalog.store.dialect == "postgresql"
    ids: dict[str, str] = {}
    for i, (cat, sub) in enumerate(SFX):
        for v in range(2):
            sig = render_sfx(cat, sub, seed=10 * i + v)
            ids[f"{sub}{v}"] = add_signal(
                catalog, sig, "sfx", name=f"{cat} {sub} {v}", category=cat, subcategory=sub,
                creator_id=7, creator_name="synth", tags="synth,test",
            )  # fmt: skip
    metal = render_sfx("IMPACTS", "METAL", seed=0)
    ids["METAL0_quiet"] = add_signal(
        catalog,
        Signal(metal.samples * 0.4, metal.sr),
        "sfx",
        name="metal copy",
        category="IMPACTS",
        subcategory="METAL",
    )
    ids["long"] = add_signal(catalog, render_sfx("AMBIENCE", "WIND", seed=3, tail_s=0.0),
                             "sfx", name="wind", category="AMBIENCE")  # fmt: skip
    from tonearm.demo.synth.song import SongSpec, render_song

    for j, style in enumerate(("edm", "edm", "ambient")):
        sig, _, _ = render_song(SongSpec(style=style, bpm=120 + j, key="C", bars=4, seed=j))
        ids[f"song{j}"] = add_signal(catalog, sig, "music", name=f"{style} {j}", artist="synth",
                                     genre=style, bpm=120.0 + j)  # fmt: skip
    secret, _ = create_key(catalog.store, "test", scopes="read,write", account="operator")
    from tonearm.api.app import create_app

    with TestClient(create_app(catalog=catalog)) as client:
        yield {"client": client, "ids": ids, "key": secret, "catalog": catalog}
    catalog.close()
    if schema is not None:
        catalog.store.drop_schema()


def sfx(world: dict[str, Any], **params: Any) -> Any:
    if "filters" in params and not isinstance(params["filters"], str):
        params["filters"] = json.dumps(params["filters"])
    return world["client"].get(
        "/developer/v1/sfx/similar", params=params, headers={"x-api-key": world["key"]}
    )


def music(world: dict[str, Any], body: Any) -> Any:
    return world["client"].post(
        "/developer/v1/similar", json=body, headers={"x-api-key": world["key"]}
    )


SFX_FIELDS = {"asset_id", "name", "description", "category", "subcategory", "tags", "duration",
              "score", "created_at", "updated_at", "creator_id", "creator_name",
              "true_peak_dbtp", "sound_start_sec", "sound_end_sec"}  # fmt: skip


def test_sfx_similar_fields_ranking_and_seed_excluded(world: dict[str, Any]) -> None:
    seed = world["ids"]["METAL0"]
    r = sfx(world, asset_id=seed, limit=5)
    assert r.status_code == 200
    body = r.json()
    SfxSimilarResponse.model_validate(body)  # the answer is what the OpenAPI says
    assert set(body["meta"]) == {"total", "limit", "offset"}
    assert body["meta"]["limit"] == 5 and body["meta"]["offset"] == 0
    tracks = body["tracks"]
    assert len(tracks) == 5
    assert all(set(t) == SFX_FIELDS for t in tracks)
    assert all(isinstance(t["asset_id"], int) for t in tracks)
    assert str(seed) not in {str(t["asset_id"]) for t in tracks}
    scores = [t["score"] for t in tracks]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    # the gain-changed copy is the nearest neighbour
    assert str(tracks[0]["asset_id"]) == world["ids"]["METAL0_quiet"]
    t0 = tracks[0]
    assert t0["true_peak_dbtp"] is not None and t0["sound_end_sec"] > t0["sound_start_sec"]
    assert body["meta"]["total"] == len(world["ids"]) - 3 - 1  # sfx only, seed excluded


def test_sfx_paging_is_consistent(world: dict[str, Any]) -> None:
    seed = world["ids"]["KNOCK0"]
    full = [t["asset_id"] for t in sfx(world, asset_id=seed, limit=100).json()["tracks"]]
    p1 = [t["asset_id"] for t in sfx(world, asset_id=seed, limit=4).json()["tracks"]]
    p2 = [t["asset_id"] for t in sfx(world, asset_id=seed, limit=4, offset=4).json()["tracks"]]
    assert p1 + p2 == full[:8]
    far = sfx(world, asset_id=seed, offset=1000).json()
    assert far["tracks"] == [] and far["meta"]["total"] == len(full)


def test_sfx_filters(world: dict[str, Any]) -> None:
    seed = world["ids"]["METAL0"]
    r = sfx(world, asset_id=seed, filters={"categories": ["doors"]}).json()
    assert r["tracks"] and {t["category"] for t in r["tracks"]} == {"DOORS"}
    r = sfx(world, asset_id=seed, filters={"subcategories": ["BEEP"]}).json()
    assert {t["subcategory"] for t in r["tracks"]} == {"BEEP"} and r["meta"]["total"] == 2
    # a filter that excludes almost everything still returns what matches
    r = sfx(world, asset_id=seed, filters={"categories": ["AMBIENCE"]}).json()
    assert [str(t["asset_id"]) for t in r["tracks"]] == [world["ids"]["long"]]
    r = sfx(world, asset_id=seed, filters={"categories": ["NOPE"]}).json()
    assert r == {"tracks": [], "meta": {"total": 0, "limit": 20, "offset": 0}}
    r = sfx(world, asset_id=seed, filters={"duration": {"min": 0, "max": 1.2}}).json()
    assert r["tracks"] and all(t["duration"] <= 1.2 for t in r["tracks"])
    n_all = sfx(world, asset_id=seed).json()["meta"]["total"]
    assert 0 < r["meta"]["total"] < n_all


def test_sfx_sort_by_duration(world: dict[str, Any]) -> None:
    seed = world["ids"]["METAL0"]
    by_score = sfx(world, asset_id=seed, limit=100).json()["tracks"]
    up = sfx(world, asset_id=seed, limit=100, sort="duration_asc").json()
    down = sfx(world, asset_id=seed, limit=100, sort="duration_desc").json()["tracks"]
    d = [t["duration"] for t in up["tracks"]]
    assert d == sorted(d) and len(set(d)) > 1
    assert [t["duration"] for t in down] == sorted(d, reverse=True)
    assert {t["asset_id"] for t in up["tracks"]} == {t["asset_id"] for t in by_score}
    page = sfx(world, asset_id=seed, limit=3, offset=2, sort="duration_asc").json()
    assert [t["asset_id"] for t in page["tracks"]] == [t["asset_id"] for t in up["tracks"][2:5]]
    assert page["meta"]["total"] == up["meta"]["total"]
    r = sfx(world, asset_id=seed, sort="loudest")
    assert r.status_code == 400
    assert r.json() == {"error": "sort must be one of score, duration_asc, duration_desc"}


def test_sfx_max_score_and_dedupe(world: dict[str, Any]) -> None:
    seed = world["ids"]["METAL0"]
    copy = int(world["ids"]["METAL0_quiet"])
    plain = sfx(world, asset_id=seed).json()
    top = plain["tracks"][0]
    assert top["asset_id"] == copy and top["score"] > 0.99
    deduped = sfx(world, asset_id=seed, dedupe="true").json()
    assert copy not in [t["asset_id"] for t in deduped["tracks"]]
    # dedupe drops the same recording (the gain-changed copy) and nothing else: the other
    # METAL take and every other sound stay, in the same order
    full = [t["asset_id"] for t in sfx(world, asset_id=seed, limit=100).json()["tracks"]]
    kept = [a for a in full if a != copy]
    assert [t["asset_id"] for t in deduped["tracks"]] == kept[:20]
    assert deduped["meta"]["total"] == len(kept) == plain["meta"]["total"] - 1
    cut = plain["tracks"][3]["score"]
    r = sfx(world, asset_id=seed, max_score=cut).json()
    assert all(t["score"] < cut for t in r["tracks"])
    # max_score wins over dedupe
    both = sfx(world, asset_id=seed, max_score=0.9999, dedupe="true").json()
    assert both == sfx(world, asset_id=seed, max_score=0.9999).json()
    assert both["meta"]["total"] >= deduped["meta"]["total"]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({}, 400, "asset_id is required and must be a numeric string"),
        ({"asset_id": ""}, 400, "asset_id is required and must be a numeric string"),
        ({"asset_id": "abc"}, 400, "asset_id is required and must be a numeric string"),
        ({"asset_id": "-5"}, 400, "asset_id is required and must be a numeric string"),
        ({"asset_id": "999999"}, 404, "asset_id not found"),
    ],
)
def test_sfx_asset_id_errors(world: dict[str, Any], params: dict, status: int, error: str) -> None:
    r = sfx(world, **params)
    assert r.status_code == status and r.json() == {"error": error}


def test_sfx_music_asset_is_not_found_and_bad_params(world: dict[str, Any]) -> None:
    r = sfx(world, asset_id=world["ids"]["song0"])
    assert r.status_code == 404 and r.json() == {"error": "asset_id not found"}
    seed = world["ids"]["METAL0"]
    r = sfx(world, asset_id=seed, filters='{"categories": [')
    assert r.status_code == 400 and r.json()["error"].startswith("filters must be a JSON")
    r = sfx(world, asset_id=seed, filters="[1, 2]")
    assert r.status_code == 400 and "filters" in r.json()["error"]
    r = sfx(world, asset_id=seed, filters={"duration": {"min": 5, "max": 1}})
    assert r.status_code == 400
    r = sfx(world, asset_id=seed, filters={"categories": 5})
    assert r.status_code == 400
    for bad in ({"max_score": "2"}, {"max_score": "x"}, {"limit": "0"}, {"limit": "ten"},
                {"offset": "-1"}, {"dedupe": "maybe"}):  # fmt: skip
        r = sfx(world, asset_id=seed, **bad)
        assert r.status_code == 400 and set(r.json()) == {"error"}, bad
    r = sfx(world, asset_id=seed, limit=500)
    assert r.status_code == 200 and r.json()["meta"]["limit"] == 100


def test_auth(world: dict[str, Any]) -> None:
    c = world["client"]
    seed = world["ids"]["METAL0"]
    for headers in ({}, {"x-api-key": "nope"}):
        r = c.get("/developer/v1/sfx/similar", params={"asset_id": seed}, headers=headers)
        assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
        r = c.post("/developer/v1/similar", json={"asset_id": seed}, headers=headers)
        assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}


def test_music_similar(world: dict[str, Any]) -> None:
    ids = world["ids"]
    r = music(world, {"asset_id": ids["song0"], "limit": 10})
    assert r.status_code == 200
    body = r.json()
    SimilarResponse.model_validate(body)  # the answer is what the OpenAPI says
    assert body["meta"] == {"total": 2, "limit": 10, "offset": 0}
    tracks = body["tracks"]
    assert {t["asset_id"] for t in tracks} == {ids["song1"], ids["song2"]}
    assert all(set(t) == {"asset_id", "name", "artist", "album", "duration", "genre", "bpm",
                          "score", "thumbnail_url"} for t in tracks)  # fmt: skip
    assert all(isinstance(t["asset_id"], str) for t in tracks)
    assert tracks[0]["asset_id"] == ids["song1"]  # same style before a different one
    r = music(world, {"asset_id": int(ids["song0"]), "filters": {"duration": {"max": 0.5}}})
    assert r.status_code == 200 and r.json()["tracks"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "Missing required field: asset_id"),
        ({"asset_id": ""}, "Missing required field: asset_id"),
        ({"asset_id": None}, "Missing required field: asset_id"),
        ({"asset_id": "abc"}, "Invalid asset_id: must be a numeric string"),
        ({"asset_id": "999999"}, "Invalid asset_id: no track with this asset_id"),
    ],
)
def test_music_similar_errors(world: dict[str, Any], body: dict, error: str) -> None:
    r = music(world, body)
    assert r.status_code == 400 and r.json() == {"error": error}


def test_music_similar_bad_bodies(world: dict[str, Any]) -> None:
    c, key, ids = world["client"], world["key"], world["ids"]
    r = c.post("/developer/v1/similar", content=b"{nope", headers={"x-api-key": key,
               "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = music(world, {"asset_id": ids["METAL0"]})  # an SFX is not a track
    assert r.status_code == 400
    r = music(world, {"asset_id": ids["song0"], "limit": -1})
    assert r.status_code == 400
    r = music(world, {"asset_id": ids["song0"], "limit": 1000})
    assert r.status_code == 200 and r.json()["meta"]["limit"] == 100


def test_catalog_management_round_trip(world: dict[str, Any]) -> None:
    c, key = world["client"], world["key"]
    h = {"x-api-key": key}
    sig = render_sfx("WATER", "DRIP", seed=5)
    wav = encode(sig, "wav")
    meta = json.dumps({"name": "drip", "category": "WATER", "subcategory": "DRIP"})
    r = c.post("/developer/v1/assets", headers=h, files={"file": ("drip.wav", wav, "audio/wav")},
               data={"kind": "sfx", "metadata": meta})  # fmt: skip
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["status"] == "added" and a["category"] == "WATER" and a["true_peak_dbtp"] is not None
    aid = a["asset_id"]
    # it is searchable right away
    r = sfx(world, asset_id=world["ids"]["METAL0"], filters={"categories": ["WATER"]})
    assert [str(t["asset_id"]) for t in r.json()["tracks"]] == [aid]
    r = c.patch(f"/developer/v1/assets/{aid}", headers=h, json={"category": "LIQUID"})
    assert r.status_code == 200 and r.json()["category"] == "LIQUID"
    r = sfx(world, asset_id=world["ids"]["METAL0"], filters={"categories": ["LIQUID"]})
    assert [str(t["asset_id"]) for t in r.json()["tracks"]] == [aid]
    assert c.get(f"/developer/v1/assets/{aid}", headers=h).json()["name"] == "drip"
    listing = c.get("/developer/v1/assets", headers=h, params={"kind": "sfx", "limit": 2}).json()
    assert len(listing["assets"]) == 2 and listing["meta"]["total"] >= 19
    r = c.delete(f"/developer/v1/assets/{aid}", headers=h)
    assert r.status_code == 200
    assert c.get(f"/developer/v1/assets/{aid}", headers=h).status_code == 404
    r = sfx(world, asset_id=world["ids"]["METAL0"], filters={"categories": ["LIQUID"]})
    assert r.json()["tracks"] == []
    assert sfx(world, asset_id=aid).status_code == 404


def test_catalog_management_errors(world: dict[str, Any]) -> None:
    c, h = world["client"], {"x-api-key": world["key"]}
    r = c.post("/developer/v1/assets", headers=h, files={"file": ("x.wav", b"not audio")})
    assert r.status_code == 400 and set(r.json()) == {"error"}
    r = c.post("/developer/v1/assets", headers=h, files={"file": ("x.wav", b"")})
    assert r.status_code == 400
    r = c.post("/developer/v1/assets", headers=h, files={"file": ("x.wav", b"RIFF")},
               data={"metadata": "{bad"})  # fmt: skip
    assert r.status_code == 400 and "metadata" in r.json()["error"]
    r = c.patch(f"/developer/v1/assets/{world['ids']['METAL0']}", headers=h, json={"kind": "x"})
    assert r.status_code == 400
    assert c.get("/developer/v1/assets/abc", headers=h).status_code == 404
    assert c.delete("/developer/v1/assets/424242", headers=h).status_code == 404
    assert c.get("/developer/v1/assets").status_code == 401


def test_healthz_names_the_models(world: dict[str, Any]) -> None:
    models = world["client"].get("/healthz").json()["models"]["audio_embedding"]
    assert set(models) == {"music", "sfx"}
    assert all(m["model"] for m in models.values())


def test_suggestions_and_duplicates(world: dict[str, Any]) -> None:
    from tonearm.discovery.similar import duplicate_groups, suggest_category

    catalog = world["catalog"]
    groups = duplicate_groups(catalog, "sfx")
    pair = {world["ids"]["METAL0"], world["ids"]["METAL0_quiet"]}
    assert any(pair <= {a for a, _ in g} for g in groups)
    assert all(len(g) < 6 for g in groups)  # different sounds are not lumped together
    sug = suggest_category(catalog, world["ids"]["METAL0"])
    assert sug and sug[0].category == "IMPACTS"
    assert 0.5 < sug[0].confidence <= 1 and sum(s.confidence for s in sug) <= 1.0001
    assert np.isfinite(sug[0].confidence)
