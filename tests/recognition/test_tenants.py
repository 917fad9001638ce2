"""Tenants: each key acts for an account. The operator's catalog is shared; an account's
AudD /upload/ songs and catalog uploads are its own (recognized, searched, listed and
changed for that account only), and audio_id is unique per account (issue 16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from audd_testkit import build_catalog, excerpt, song
from fastapi.testclient import TestClient

from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.catalog.keys import create_key


@pytest.fixture
def env(client: TestClient, catalog: Catalog) -> Iterator[dict[str, Any]]:
    shared = build_catalog(catalog, [(41, 15.0, {"name": "Shared Song"})])
    a, _ = create_key(catalog.store, "a", scopes="read,write", account="acme")
    b, _ = create_key(catalog.store, "b", scopes="read,write", account="beta")
    a2, _ = create_key(catalog.store, "a2", scopes="read", account="acme")
    yield {"client": client, "catalog": catalog, "a": a, "b": b, "a2": a2, "shared": shared}


def _recognize(env: dict[str, Any], key: str, clip: bytes) -> Any:
    r = env["client"].post("/", data={"api_token": key}, files={"file": clip})
    body = r.json()
    assert body["status"] == "success", body
    return body["result"]


def _upload(env: dict[str, Any], key: str, audio_id: int, clip: bytes) -> None:
    r = env["client"].post(
        "/upload/", data={"api_token": key, "audio_id": str(audio_id)}, files={"file": clip}
    )
    assert r.json() == {"status": "success", "result": None}, r.json()


def test_audd_uploads_belong_to_their_account(env: dict[str, Any]) -> None:
    ya, yb = song(42, 15.0), song(43, 15.0)
    _upload(env, env["a"], 7, excerpt(ya, 0, 15.0))
    # A's song is recognized for A (and A's other keys), never for B
    assert _recognize(env, env["a"], excerpt(ya, 5, 6))["audio_id"] == 7
    assert _recognize(env, env["a2"], excerpt(ya, 5, 6))["audio_id"] == 7
    assert _recognize(env, env["b"], excerpt(ya, 5, 6)) is None
    # the shared catalog is recognized for everyone
    shared_y = next(iter(env["shared"].songs.values()))
    for k in ("a", "b"):
        assert _recognize(env, env[k], excerpt(shared_y, 4, 6))["title"] == "Shared Song"

    # B's audio_id 7 is B's own slot: A's song stays
    _upload(env, env["b"], 7, excerpt(yb, 0, 15.0))
    assert _recognize(env, env["a"], excerpt(ya, 5, 6))["audio_id"] == 7
    assert _recognize(env, env["b"], excerpt(yb, 5, 6))["audio_id"] == 7
    assert _recognize(env, env["a"], excerpt(yb, 5, 6)) is None
    # the same audio in two accounts: two songs, each account its own
    _upload(env, env["b"], 8, excerpt(ya, 0, 15.0))
    assert _recognize(env, env["b"], excerpt(ya, 5, 6))["audio_id"] == 8
    assert _recognize(env, env["a"], excerpt(ya, 5, 6))["audio_id"] == 7
    store = env["catalog"].store
    assert store.find_by_audio_id("7", "acme") is not None
    assert store.find_by_audio_id("7", "beta") is not None
    assert store.find_by_audio_id("7", None) is None
    # B replacing its slot 7 leaves A's slot 7 alone
    _upload(env, env["b"], 7, excerpt(song(44, 15.0), 0, 15.0))
    assert _recognize(env, env["a"], excerpt(ya, 5, 6))["audio_id"] == 7
    assert _recognize(env, env["b"], excerpt(yb, 5, 6)) is None


def test_a_read_key_cannot_upload(env: dict[str, Any]) -> None:
    r = env["client"].post(
        "/upload/",
        data={"api_token": env["a2"], "audio_id": "9"},
        files={"file": excerpt(song(45, 8.0), 0, 8.0)},
    )
    body = r.json()
    assert r.status_code == 200 and body["error"]["error_code"] == 904
    assert "lacks the 'write' scope" in body["error"]["error_message"]


def test_listing_and_changes_stay_in_the_account(env: dict[str, Any]) -> None:
    c, catalog = env["client"], env["catalog"]
    _upload(env, env["a"], 1, excerpt(song(46, 10.0), 0, 10.0))
    mine = catalog.store.find_by_audio_id("1", "acme").asset_id
    shared_id = next(iter(env["shared"].songs))

    def listed(key: str) -> set[str]:
        r = c.get("/developer/v1/assets", headers={"x-api-key": key})
        assert r.status_code == 200
        body = r.json()
        assert body["meta"]["total"] == len(body["assets"])
        return {str(x["asset_id"]) for x in body["assets"]}

    assert listed(env["a"]) == {shared_id, mine}
    assert listed(env["b"]) == {shared_id}
    hb = {"x-api-key": env["b"]}
    assert c.get(f"/developer/v1/assets/{mine}", headers=hb).status_code == 404
    assert (
        c.patch(f"/developer/v1/assets/{mine}", json={"name": "x"}, headers=hb).status_code == 404
    )
    assert c.delete(f"/developer/v1/assets/{mine}", headers=hb).status_code == 404
    # nobody but the operator changes the shared catalog
    r = c.delete(f"/developer/v1/assets/{shared_id}", headers={"x-api-key": env["a"]})
    assert r.status_code == 403 and "shared catalog" in r.json()["error"]
    ha = {"x-api-key": env["a"]}
    r = c.patch(f"/developer/v1/assets/{mine}", json={"name": "Mine"}, headers=ha)
    assert r.status_code == 200 and r.json()["name"] == "Mine"
    assert c.delete(f"/developer/v1/assets/{mine}", headers=ha).json()["deleted"] is True


def test_catalog_upload_is_the_accounts_own(env: dict[str, Any]) -> None:
    c = env["client"]
    clip = excerpt(song(47, 6.0), 0, 6.0)
    made = []
    for k in ("a", "b"):
        r = c.post(
            "/developer/v1/assets",
            headers={"x-api-key": env[k]},
            files={"file": ("s.wav", clip, "audio/wav")},
            data={"kind": "sfx", "metadata": '{"name": "boom"}'},
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "added"  # the same audio in another account is new
        made.append(str(r.json()["asset_id"]))
    assert made[0] != made[1]
    tenants = env["catalog"].store.asset_tenants(made)
    assert tenants == {made[0]: "acme", made[1]: "beta"}
    # the same key again: already in its account
    r = c.post(
        "/developer/v1/assets",
        headers={"x-api-key": env["a"]},
        files={"file": ("s.wav", clip, "audio/wav")},
        data={"kind": "sfx"},
    )
    assert r.json()["status"] == "skipped" and str(r.json()["asset_id"]) == made[0]


def test_search_sees_the_shared_catalog_and_its_own(env: dict[str, Any]) -> None:
    catalog = env["catalog"]
    analyzers = select_analyzers(["search_text"], catalog.plugins)
    ids = {}
    for tenant, seed in ((None, 48), ("acme", 49), ("beta", 50)):
        o = ingest_bytes(
            catalog,
            excerpt(song(seed, 6.0), 0, 6.0),
            filename=f"t{seed}.wav",
            kind="music",
            metadata={"name": f"Zanzibar quartz {seed}", "genre": "ambient"},
            analyzers=analyzers,
            tenant=tenant,
        )
        assert o.status == "added", o.reason
        ids[tenant] = str(o.asset_id)

    def found(key: str) -> set[str]:
        r = env["client"].post(
            "/developer/v1/search",
            headers={"x-api-key": key},
            json={"query": "zanzibar quartz", "limit": 20},
        )
        assert r.status_code == 200, r.text
        return {str(t["asset_id"]) for t in r.json()["tracks"]} & set(ids.values())

    assert found(env["a"]) == {ids[None], ids["acme"]}
    assert found(env["b"]) == {ids[None], ids["beta"]}


def test_web_ui_helpers_hide_other_accounts_assets(env: dict[str, Any]) -> None:
    c = env["client"]
    _upload(env, env["a"], 3, excerpt(song(51, 8.0), 0, 8.0))
    mine = env["catalog"].store.find_by_audio_id("3", "acme").asset_id
    for key, seen in ((env["a"], True), (env["b"], False)):
        h = {"x-api-key": key}
        listed = c.get("/ui/api/assets", headers=h).json()["assets"]
        assert (mine in {str(x["asset_id"]) for x in listed}) is seen
        for tail in ("audio", "waveform", "analysis"):
            r = c.get(f"/ui/api/assets/{mine}/{tail}", headers=h)
            assert (r.status_code == 200) is seen, (tail, r.status_code)
