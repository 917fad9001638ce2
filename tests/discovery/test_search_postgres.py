"""POST /developer/v1/search with the catalog on PostgreSQL (TONEARM_DATABASE_URL=postgresql://).

Runs where TONEARM_TEST_POSTGRES_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/test);
the catalog lives in its own schema, dropped after. The same synthesized tracks as
``test_search.py``; keyword ranking runs on PostgreSQL's ``search_fts`` rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_search import _ingest_catalog

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.discovery import text as text_model
from tonearm.discovery.search import search
from tonearm.settings import Settings

PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")
NO_PG = "TONEARM_TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)"

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Catalog, dict, str]]:
    if not PG_URL:
        pytest.skip(NO_PG)
    from tonearm.storage.postgres import PostgresStore

    schema = f"search_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TONEARM_AUDIO_EMBEDDING", "dsp")  # no torch model for audio in tests
        data = Path(tmp_path_factory.mktemp("search-pg")) / "data"
        settings = Settings(
            data=data, database_url=f"{PG_URL}{sep}schema={schema}", decode_timeout_s=30
        )
        settings.ensure_dirs()
        catalog = Catalog.open(settings)
        try:
            assert catalog.store.dialect == "postgresql"
            ids = _ingest_catalog(catalog)
            secret, _ = create_key(
                catalog.store, "search-pg-test", scopes="read,write", account="operator"
            )
            yield catalog, ids, secret
        finally:
            catalog.close()
            PostgresStore(PG_URL, schema=schema).drop_schema()


@pytest.fixture(scope="module")
def pg_api(pg_env: tuple[Catalog, dict, str]) -> Iterator[TestClient]:
    from tonearm.api.app import create_app

    with TestClient(create_app(catalog=pg_env[0])) as c:
        yield c


@pytest.fixture
def post(pg_api: TestClient, pg_env: tuple[Catalog, dict, str]):  # type: ignore[no-untyped-def]
    def _post(body: Any) -> Any:
        return pg_api.post("/developer/v1/search", json=body, headers={"x-api-key": pg_env[2]})

    return _post


def names(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body["tracks"]]


def test_search_api_on_postgres(post) -> None:  # type: ignore[no-untyped-def]
    r = post({"query": "chill lo-fi beats", "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"tracks", "artists", "albums", "meta"}
    assert set(names(body)) <= {"Night Study", "Rainy Window", "Tape Memories"}
    assert body["tracks"] and body["meta"]["total"] >= 3
    expected = "semantic" if text_model.get_text_encoder() is not None else "text"
    assert body["meta"]["search_method"] == expected


def test_keyword_fallback_on_postgres(post, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(text_model, "get_text_encoder", lambda: None)
    body = post({"query": "chiptune"}).json()
    assert body["meta"]["search_method"] == "text"
    assert names(body) == ["Pixel Quest"]
    body = post({"query": "dance -vocals"}).json()
    assert names(body)[0] == "Neon Rush" and "Club Sunrise" not in names(body)
    body = post({"query": "Pulse Theory", "limit": 10}).json()
    assert body["meta"]["matched_artist"] == "Pulse Theory"
    assert {"Club Sunrise", "Neon Rush"} <= set(names(body))


def test_filters_and_aggregates_on_postgres(post) -> None:  # type: ignore[no-untyped-def]
    body = post({"query": "lo-fi", "limit": 1, "filters": {"genres": ["LOFI"]}}).json()
    assert body["meta"]["total"] == 3 and len(body["tracks"]) == 1
    assert body["artists"][0] == {"name": "Nova Drift", "track_count": 2}


def test_keyword_rows_are_stored_in_postgres(pg_env) -> None:  # type: ignore[no-untyped-def]
    catalog, ids, _ = pg_env
    search(catalog, "anything", method="keyword")
    n = catalog.store.execute("SELECT COUNT(*) FROM search_fts")[0][0]
    assert n == len(ids)
    # the tsvector index answers the same words the in-memory ranking does
    rows = catalog.store.execute(
        "SELECT rowid FROM search_fts WHERE document @@ to_tsquery('simple', 'pixel')"
    )
    assert [str(r[0]) for r in rows] == [ids["Pixel Quest"]]


def test_index_follows_changes_on_postgres(pg_env) -> None:  # type: ignore[no-untyped-def]
    catalog, ids, _ = pg_env
    aid = ids["Tape Memories"]
    catalog.store.update_asset(aid, {"tags": "nostalgic, warm, saxophone"})
    try:
        res = search(catalog, "saxophone", method="keyword")
        assert [t["asset_id"] for t in res.tracks] == [aid]
    finally:
        catalog.store.update_asset(aid, {"tags": "nostalgic, warm"})
    assert search(catalog, "saxophone", method="keyword").total == 0


def test_two_servers_rebuilding_at_once_do_not_collide(pg_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two API servers on one database sync ``search_fts`` at the same moment (each builds
    its own in-memory index); the second used to fail on the primary key (HTTP 500)."""
    import threading

    from tonearm.discovery.search import build_index

    catalog, ids, _ = pg_env
    other_settings = catalog.settings.model_copy(update={"data": tmp_path / "other"})
    other_settings.ensure_dirs()
    other = Catalog.open(other_settings)
    try:
        with catalog.store.transaction() as conn:
            conn.execute("DELETE FROM search_fts")
            conn.execute("DELETE FROM search_docs")
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def rebuild(c: Catalog) -> None:
            try:
                barrier.wait(timeout=30)
                build_index(c, None)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=rebuild, args=(c,)) for c in (catalog, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert catalog.store.execute("SELECT COUNT(*) FROM search_fts")[0][0] == len(ids)
    finally:
        other.close()


def test_added_and_removed_tracks_are_seen_on_postgres(pg_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import tonearm.discovery.search_index as search_mod

    catalog, _, _ = pg_env
    monkeypatch.setattr(search_mod, "COUNT_TTL_S", 0.0)  # recount removals on every query
    asset = catalog.store.add_asset(
        {
            "kind": "music",
            "name": "Marimba Sunrise",
            "genre": "World",
            "duration": 12.0,
            "content_hash": "pg-added-track",
            "file_path": "files/none.wav",
        }
    )
    try:
        res = search(catalog, "marimba", method="keyword")
        assert [t["asset_id"] for t in res.tracks] == [asset.asset_id]
    finally:
        catalog.store.delete_asset(asset.asset_id)
    assert search(catalog, "marimba", method="keyword").total == 0
