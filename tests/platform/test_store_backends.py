"""The Store protocol, the SQL dialect services use, and usage: on SQLite and PostgreSQL.

PostgreSQL runs where TONEARM_TEST_POSTGRES_URL is set (e.g.
postgresql://postgres@127.0.0.1:5432/test); each test gets its own schema, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tonearm.platform.usage import UsageRecord, by_endpoint, credits_used, insert_usage
from tonearm.storage.base import Analysis, DuplicateAsset
from tonearm.storage.sqlite import SqliteStore

PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")
NO_PG = "TONEARM_TEST_POSTGRES_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)"


def pg_store() -> Any:
    from tonearm.storage.postgres import PostgresStore

    assert PG_URL
    return PostgresStore(PG_URL, schema=f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "t.db")
        yield s
        s.close()
        return
    if not PG_URL:
        pytest.skip(NO_PG)
    s = pg_store()
    try:
        yield s
    finally:
        s.drop_schema()


def fields(n: int, kind: str = "music", **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": f"track {n}",
        "artist": "Ann",
        "duration": 10.5 + n,
        "content_hash": f"hash{n}",
        "file_path": f"files/{n}.flac",
        "bpm": 120.0,
        **extra,
    }


# -- migrations -------------------------------------------------------------------------------
def _versions(folder: str) -> set[int]:
    return {
        int(e.name[:4])
        for e in resources.files("tonearm.storage").joinpath(folder).iterdir()
        if e.name.endswith(".sql") and e.name[:4].isdigit()
    }


def test_every_sqlite_migration_has_a_postgres_twin() -> None:
    missing = _versions("migrations") - _versions("migrations_pg")
    assert not missing, f"port these migrations to storage/migrations_pg/: {sorted(missing)}"


def expected_version(store: Any) -> int:
    """The newest migration; on PostgreSQL with pgvector the optional 0100 (vectors)."""
    if getattr(store, "has_vector_table", lambda: False)():
        return max(_versions("migrations_pg"))
    return max(_versions("migrations"))


def test_schema_version(store: Any) -> None:
    assert store.schema_version() == expected_version(store)
    assert store.migrate() == store.schema_version()  # idempotent


# -- assets -----------------------------------------------------------------------------------
def test_assets_round_trip(store: Any) -> None:
    a = store.add_asset(
        fields(1, extra={"source": "csv"}, tags="calm, piano", audio_id="ext-1"),
        [Analysis("", "tempo", 2, {"bpm": 121.5}, b"\x00\x01\xff")],
    )
    assert a.asset_id.isdigit() and a.kind == "music" and a.extra == {"source": "csv"}
    assert a.created_at.endswith("Z") and a.bpm == 120.0 and a.duration == 11.5
    assert store.get_asset(a.asset_id) == a
    assert store.find_by_hash("hash1") == a
    assert store.find_by_audio_id("ext-1") == a
    for bad in ("abc", "-1", "", "1; DROP TABLE assets"):
        assert store.get_asset(bad) is None
    assert store.find_by_hash("nope") is None

    an = store.get_analysis(a.asset_id, "tempo")
    assert (an.version, an.data, an.blob) == (2, {"bpm": 121.5}, b"\x00\x01\xff")

    b = store.update_asset(a.asset_id, {"name": "renamed", "content_hash": "x", "extra": {}})
    assert b.name == "renamed" and b.content_hash == "hash1" and b.extra == {}
    with pytest.raises(KeyError):
        store.update_asset("424242", {"name": "x"})


def test_duplicates_are_refused_atomically(store: Any) -> None:
    a = store.add_asset(fields(1))
    with pytest.raises(DuplicateAsset) as e:
        store.add_asset(fields(1, name="again"))
    assert e.value.asset_id == a.asset_id
    assert store.count_assets() == 1
    # an analysis that cannot be stored takes its asset with it
    with pytest.raises(TypeError):
        store.add_asset(fields(2), [Analysis("", "bad", 1, {"x": object()})])
    assert store.find_by_hash("hash2") is None and store.count_assets() == 1


def test_list_iter_count_delete(store: Any) -> None:
    ids = [
        store.add_asset(fields(i, kind="sfx" if i % 3 == 0 else "music")).asset_id
        for i in range(1, 11)
    ]
    assert store.count_assets() == 10 and store.count_assets("sfx") == 3
    assert [a.asset_id for a in store.list_assets()] == ids
    assert [a.asset_id for a in store.list_assets(limit=3, offset=2)] == ids[2:5]
    assert [a.name for a in store.list_assets("sfx")] == ["track 3", "track 6", "track 9"]
    assert [a.asset_id for a in store.iter_assets("music")] == [
        i for n, i in enumerate(ids, 1) if n % 3
    ]
    store.put_analysis(Analysis(ids[0], "mfcc", 1, {"n": 1}))
    assert store.delete_asset(ids[0]) is True
    assert store.delete_asset(ids[0]) is False
    assert store.get_analysis(ids[0], "mfcc") is None  # cascades
    assert store.count_assets() == 9


def test_analyses_replace_and_iterate(store: Any) -> None:
    a = store.add_asset(fields(1))
    b = store.add_asset(fields(2))
    store.put_analysis(Analysis(b.asset_id, "emb", 1, {"d": 2}, b"bb"))
    store.put_analysis(Analysis(a.asset_id, "emb", 1, {"d": 1}))
    store.put_analysis(Analysis(a.asset_id, "emb", 2, {"d": 3}, b"aa"))
    got = list(store.iter_analyses("emb"))
    assert [(x.asset_id, x.version, x.data, x.blob) for x in got] == [
        (a.asset_id, 2, {"d": 3}, b"aa"),
        (b.asset_id, 1, {"d": 2}, b"bb"),
    ]
    assert list(store.iter_analyses("none")) == []
    # services read "analyses written since" by rowid; a replaced analysis is new again
    rows = store.execute(
        "SELECT rowid, asset_id FROM analyses WHERE name = ? ORDER BY rowid", ("emb",)
    )
    assert [str(r[1]) for r in rows] == [b.asset_id, a.asset_id]
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO analyses (asset_id, name, version, data, created_at) "
            "VALUES (?, 'emb', 3, '{}', 'now')",
            (int(b.asset_id),),
        )
    rows = store.execute(
        "SELECT rowid, asset_id FROM analyses WHERE name = ? ORDER BY rowid", ("emb",)
    )
    assert [str(r[1]) for r in rows] == [a.asset_id, b.asset_id]


# -- keys -------------------------------------------------------------------------------------
def test_keys(store: Any) -> None:
    k1 = store.add_key("studio", "ta_aaaaaaa", "h1", "plus")
    k2 = store.add_key("ci", "ta_bbbbbbb", "h2")
    assert (k1.tier, k2.tier) == ("plus", "free") and k2.key_id > k1.key_id
    assert store.key_by_hash("h1") == k1 and store.key_by_hash("zz") is None
    assert [k.name for k in store.list_keys()] == ["studio", "ci"]
    assert store.revoke_key("ta_aaaaaaa") and not store.revoke_key("ta_aaaaaaa")
    assert store.revoke_key(str(k2.key_id))
    assert not store.revoke_key("nobody")
    assert all(k.revoked_at for k in store.list_keys())


# -- the SQL dialect services write -----------------------------------------------------------
def test_service_sql_dialect(store: Any) -> None:
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO api_keys (name, prefix, key_hash, tier, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            ("x", "p", "h", "free", "2026-01-01T00:00:00.000Z"),
        )
        key_id = cur.lastrowid
    assert isinstance(key_id, int)
    rows = store.execute("SELECT key_id, name FROM api_keys WHERE name LIKE ?", ("%x%",))
    assert rows[0][0] == key_id and rows[0]["name"] == "x" and dict(rows[0])["key_id"] == key_id
    (kid, name) = rows[0]
    assert name == "x"

    ins = "INSERT OR REPLACE INTO webhook_secrets (key_id, secret, created_at) VALUES (?, ?, ?)"
    with store.transaction() as conn:
        conn.execute(ins, (kid, "s1", "t1"))
        conn.execute(ins, (kid, "s2", "t2"))
        conn.execute(
            "INSERT OR IGNORE INTO webhook_secrets (key_id, secret, created_at) VALUES (?, ?, ?)",
            (kid, "s3", "t3"),
        )
    assert [tuple(r) for r in store.execute("SELECT secret, created_at FROM webhook_secrets")] == [
        ("s2", "t2")
    ]

    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("DELETE FROM webhook_secrets")
        raise RuntimeError("rolled back")
    assert len(store.execute("SELECT * FROM webhook_secrets")) == 1

    with store.transaction() as conn:
        cur = conn.execute("UPDATE webhook_secrets SET secret = ? WHERE key_id = ?", ("z", kid))
        assert cur.rowcount == 1
    assert store.execute("SELECT secret FROM webhook_secrets WHERE secret = '?'") == []


def test_usage_queries(store: Any) -> None:
    def rec(ts: str, credits: int, outcome: str = "ok", endpoint: str = "/analyze") -> UsageRecord:
        return UsageRecord(7, ts, "POST", endpoint, endpoint, "audjust", 200, outcome, credits, 1.5)

    insert_usage(
        store,
        [
            rec("2026-01-01T00:00:00.000Z", 10),
            rec("2026-02-01T00:00:00.000Z", 4),
            rec("2026-02-02T00:00:00.000Z", 0, "error"),
            rec("2026-02-03T00:00:00.000Z", 1, endpoint="/export"),
        ],
    )
    assert credits_used(store, 7, "2026-01-15T00:00:00.000Z") == 5
    assert credits_used(store, 8, "2000-01-01T00:00:00.000Z") == 0
    eps = by_endpoint(store, 7, "2026-01-15T00:00:00.000Z")
    assert [(e["endpoint"], e["requests"], e["errors"], e["credits"]) for e in eps] == [
        ("/analyze", 2, 1, 4),
        ("/export", 1, 0, 1),
    ]


# -- the platform API on PostgreSQL -----------------------------------------------------------
@pytest.mark.postgres
def test_platform_api_on_postgres(settings: Any, client_for: Any) -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    from tonearm.catalog.context import Catalog

    schema = f"t_{uuid.uuid4().hex[:16]}"
    sep = "&" if "?" in PG_URL else "?"
    s = settings.model_copy(
        update={"database_url": f"{PG_URL}{sep}schema={schema}", "admin_token": "adm"}
    )
    cat = Catalog.open(s)
    try:
        assert type(cat.store).__name__ == "PostgresStore"
        admin = {"Authorization": "Bearer adm"}
        with client_for(cat) as c:
            r = c.post("/admin/keys", json={"name": "pg", "monthlyCredits": 10}, headers=admin)
            key = r.json()["key"]
            h = {"X-API-Key": key}
            assert c.post("/analyze", headers=h).status_code == 200
            r = c.post("/analyze", headers=h)
            assert r.status_code == 429 and r.json()["message"] == "Usage limit exceeded"
            u = c.get("/usage", headers=h).json()
            assert u["credits"]["used"] == 10 and u["requests"] == 2
            assert c.get("/healthz").json()["schema_version"] == expected_version(cat.store)
    finally:
        cat.close()
        pg: Any = cat.store
        pg.drop_schema()


# -- pgvector ---------------------------------------------------------------------------------
@pytest.mark.postgres
def test_pgvector_filtered_search_is_exact() -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    s = pg_store()
    try:
        if not s.has_extension("vector"):
            pytest.skip(
                "pgvector is not installed in this PostgreSQL (Debian 12 has no package; "
                "Debian 13: apt-get install postgresql-17-pgvector)"
            )
        from tonearm.storage.postgres import PgVectorIndex

        rng = np.random.default_rng(0)
        vecs = rng.normal(size=(400, 16)).astype(np.float32)
        ids = []
        for i in range(len(vecs)):
            a = s.add_asset(fields(i, kind="sfx", category="DOOR" if i % 40 == 0 else "FOLEY"))
            ids.append(a.asset_id)
        idx = PgVectorIndex(s, "test", 16)
        for aid, v in zip(ids, vecs, strict=True):
            idx.upsert(aid, "sfx", v)
        q = vecs[7] + 0.01
        unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        cos = unit @ (q / np.linalg.norm(q))
        got = idx.search(q, 5)
        assert got[0][0] == ids[7]
        # a selective filter (10 of 400 rows): still the true 5 best among them
        doors = [i for i in range(400) if i % 40 == 0]
        want = sorted(doors, key=lambda i: -cos[i])[:5]
        got = idx.search(q, 5, category="DOOR")
        assert [g[0] for g in got] == [ids[i] for i in want]
        assert idx.search(q, 20, category="DOOR", exclude=[ids[want[0]]])[0][0] == ids[want[1]]
        assert len(idx.search(q, 20, category="DOOR")) == 10
        assert idx.delete(ids[7]) and not idx.delete(ids[7])
        with pytest.raises(ValueError):
            idx.upsert(ids[1], "sfx", [1.0, 2.0])
        with pytest.raises(ValueError):
            PgVectorIndex(s, "bad; drop table x", 16)
    finally:
        s.drop_schema()


@pytest.mark.postgres
def test_postgres_connections_recover_after_the_server_drops_them() -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    import psycopg

    s = pg_store()
    try:
        s.add_asset(fields(1))
        pid = s.execute("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert s.count_assets() == 1  # a read is retried once on a fresh connection
        pid = s.execute("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            s.add_asset(fields(2))  # a write fails cleanly ...
        s.add_asset(fields(2))  # ... and the next one works
        assert s.count_assets() == 2
    finally:
        s.drop_schema()


@pytest.mark.postgres
def test_postgres_pool_is_bounded_and_transactions_see_their_writes() -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    import threading

    from tonearm.storage.postgres import PostgresStore

    s = PostgresStore(PG_URL, schema=f"t_{uuid.uuid4().hex[:16]}", pool_size=2)
    try:
        with s.transaction():
            a = s.add_asset(fields(1))  # nested: a savepoint on the same connection
            assert s.get_asset(a.asset_id) is not None  # visible inside the transaction
        errors: list[BaseException] = []
        s.close()
        created = [0]
        connect = s.pool.connect

        def counting_connect() -> Any:
            created[0] += 1
            return connect()

        s.pool.connect = counting_connect  # type: ignore[method-assign]

        def work(i: int) -> None:
            try:
                s.add_asset(fields(100 + i))
                assert s.count_assets() >= 1
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and s.count_assets() == 13
        assert len(s.pool.idle) <= 2
        assert created[0] <= 2  # never more than pool_size connections
    finally:
        s.drop_schema()


@pytest.mark.postgres
def test_copy_an_embedded_catalog_to_postgres(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    from typer.testing import CliRunner

    from tonearm.cli import _register
    from tonearm.cli.common import app
    from tonearm.storage.postgres import PostgresStore

    data = tmp_path / "data"
    data.mkdir()
    src = SqliteStore(data / "tonearm.db")
    a1 = src.add_asset(fields(1), [Analysis("", "fingerprint", 1, {"n": 3}, b"\x01\x02")])
    src.delete_asset(src.add_asset(fields(2)).asset_id)  # ids with a gap
    a3 = src.add_asset(fields(3, kind="sfx"))
    k = src.add_key("studio", "ta_abc", "hash-1", "plus")
    insert_usage(
        src,
        [
            UsageRecord(
                k.key_id, "2026-01-01T00:00:00.000Z", "GET", "/x", "/x", "audd", 200, "ok", 1, 2.0
            )
        ],
    )
    src.close()

    schema = f"t_{uuid.uuid4().hex[:16]}"
    _register()
    runner = CliRunner()
    args = ["db", "copy", "--to", f"{PG_URL}?schema={schema}", "--data", str(data)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "assets: 2 rows copied" in r.stdout
    r = runner.invoke(app, args)  # again: nothing twice
    assert "assets: 0 rows copied" in r.stdout

    dst = PostgresStore(PG_URL, schema=schema)
    try:
        assert [a.asset_id for a in dst.list_assets()] == [a1.asset_id, a3.asset_id]
        fp, key = dst.get_analysis(a1.asset_id, "fingerprint"), dst.key_by_hash("hash-1")
        assert fp is not None and fp.blob == b"\x01\x02"
        assert key is not None and key.tier == "plus"
        assert credits_used(dst, k.key_id, "2000-01-01T00:00:00.000Z") == 1
        # new ids continue after the copied ones
        assert int(dst.add_asset(fields(4)).asset_id) > int(a3.asset_id)
        assert dst.add_key("new", "ta_new", "hash-2").key_id > k.key_id
    finally:
        dst.drop_schema()
    assert (
        runner.invoke(app, ["db", "copy", "--to", "sqlite:///x", "--data", str(data)]).exit_code
        == 2
    )


# -- named queries: listing, facets, what derived indexes read ---------------------------------
def _catalog(s: Any) -> list[str]:
    ids = [
        s.add_asset(fields(1, genre="Rock", tags="loud guitars", duration=30.0)).asset_id,
        s.add_asset(fields(2, genre="Rock", duration=200.0)).asset_id,
        s.add_asset(fields(3, genre="Jazz", name="Blue_Night", duration=90.0)).asset_id,
        s.add_asset(fields(4, kind="sfx", category="Doors", subcategory="Creak")).asset_id,
        s.add_asset(fields(5, kind="sfx", category="Doors", subcategory="Slam")).asset_id,
        s.add_asset(fields(6, kind="sfx", category="Rain")).asset_id,
    ]
    return ids


def test_filtered_listing_and_facets(store: Any) -> None:
    ids = _catalog(store)
    page, total = store.list_assets_filtered(kind="music", genre="Rock", limit=1)
    assert total == 2 and [a.asset_id for a in page] == [ids[0]]
    page, total = store.list_assets_filtered(kind="music", genre="Rock", limit=5, offset=1)
    assert total == 2 and [a.asset_id for a in page] == [ids[1]]
    page, total = store.list_assets_filtered(min_duration=50, max_duration=100)
    assert [a.asset_id for a in page] == [ids[2]] and total == 1
    # q matches name or tags, case-insensitively; % and _ are text, never wildcards
    assert store.list_assets_filtered(q="GUITAR")[1] == 1
    assert store.list_assets_filtered(q="blue_night")[1] == 0  # "_" dropped: "bluenight"
    assert store.list_assets_filtered(q="%")[1] == 6
    assert store.genre_counts("music") == [("Jazz", 1), ("Rock", 2)]
    assert store.category_counts("sfx") == [("Doors", "Creak", 1), ("Doors", "Slam", 1),
                                            ("Rain", None, 1)]  # fmt: skip
    assert store.file_in_use("files/1.flac") and not store.file_in_use("files/99.flac")


def test_what_derived_indexes_read(store: Any) -> None:
    ids = _catalog(store)
    before = store.change_signals()
    store.put_analysis(Analysis(ids[0], "embedding", 1, {"model": "m"}, b"\x00" * 8))
    store.put_analysis(Analysis(ids[3], "embedding", 1, {"model": "m"}, b"\x00" * 8))
    after = store.change_signals()
    assert after[0] > before[0] and after[1] == before[1] == 6
    assert store.analysis_asset_ids("embedding") == {int(ids[0]), int(ids[3])}
    assert store.count_analyses("embedding") == 2
    rowids = store.analysis_rowids("embedding")
    rows = store.analysis_rows_after("embedding", before[0], after[0])
    assert [int(r["asset_id"]) for r in rows] == [int(ids[0]), int(ids[3])]
    assert {int(r["asset_id"]): int(r["rowid"]) for r in rows} == rowids
    assert [int(r["asset_id"]) for r in store.analysis_rows("embedding", [int(ids[3])])] == [
        int(ids[3])
    ]
    # a replaced analysis is a new row (new rowid) on both databases
    store.put_analysis(Analysis(ids[0], "embedding", 2, {"model": "m"}, b"\x01" * 8))
    assert store.analysis_rowids("embedding")[int(ids[0])] > after[0]
    assert [a.asset_id for a in store.iter_analyses("embedding", kind="sfx")] == [ids[3]]
    assert store.kind_counts("music", ("embedding", "nothing")) == (3, 2, 0)
    maxima = store.kind_maxima("music", ("embedding",))
    assert int(maxima[1]) == int(ids[2]) and maxima[2] is not None
    assert [int(r["asset_id"]) for r in store.search_fields("music")] == [int(i) for i in ids[:3]]
    assert {int(r["asset_id"]) for r in store.asset_meta_of([int(ids[4])])} == {int(ids[4])}
    assert len(store.asset_meta()) == 6 and store.asset_ids() == {int(i) for i in ids}


def test_change_marker_moves_with_writes(store: Any) -> None:
    m0 = store.change_marker()
    if m0 is None:  # PostgreSQL: no cheap connection-local marker
        assert store.dialect == "postgresql"
        return
    assert store.change_marker() == m0
    store.add_asset(fields(1))
    assert store.change_marker() != m0


def test_search_docs_sync_rewrites_only_changed_rows(store: Any) -> None:
    ids = [int(i) for i in _catalog(store)[:3]]
    cols = ("a", "", "", "rock", "", "", "", "")
    assert store.sync_search_docs({i: ("v1", cols) for i in ids}) == 3
    assert store.sync_search_docs({i: ("v1", cols) for i in ids}) == 0
    assert store.sync_search_docs({ids[0]: ("v2", cols), ids[1]: ("v1", cols)}) == 2
    if store.dialect == "sqlite":
        assert store.fts_matching_ids('{genre} : ("rock")') == {ids[0], ids[1]}
