"""Vector index: exact vs HNSW agreement, filters that exclude almost everything, persistence,
rebuild from the stored analyses, and seeing another process's writes."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tonearm.catalog.context import Catalog
from tonearm.core.embeddings.base import l2_normalize
from tonearm.discovery import index as vindex
from tonearm.discovery.embeddings import all_vectors, pack
from tonearm.discovery.index import Filters, get_index, index_dir, rebuild_index
from tonearm.settings import Settings
from tonearm.storage.base import Analysis

MODEL = "test-model/v1"
DIM = 32


def add_vectors(catalog: Catalog, n: int, seed: int = 0, start: int = 0) -> list[str]:
    """n sfx assets with random unit vectors; every 50th is category RARE."""
    rng = np.random.default_rng(seed)
    vecs = l2_normalize(rng.standard_normal((n, DIM)))
    ids = []
    for i in range(n):
        k = start + i
        data, blob = pack(vecs[i], MODEL)
        a = catalog.store.add_asset(
            {
                "kind": "sfx",
                "name": f"v{k}",
                "duration": float(k % 10),
                "content_hash": hashlib.sha256(f"{seed}-{k}".encode()).hexdigest(),
                "file_path": f"files/{k}.wav",
                "category": "RARE" if k % 50 == 0 else "COMMON",
                "subcategory": f"S{k % 3}",
            },
            [Analysis("", "embedding", 1, data, blob)],
        )
        ids.append(a.asset_id)
    return ids


def query(catalog: Catalog, q: np.ndarray, **kw: Any) -> list[str]:
    return [h.asset_id for h in get_index(catalog).search("sfx", MODEL, q, **kw).hits]


def test_exact_search_filters_and_paging(catalog: Catalog) -> None:
    ids = add_vectors(catalog, 300)
    vs = all_vectors(catalog, "sfx", MODEL)
    assert vs.asset_ids == ids and vs.matrix.shape == (300, DIM)
    q = vs.matrix[7]
    res = get_index(catalog).search("sfx", MODEL, q, limit=10, exclude=ids[7])
    expected = np.argsort(-(vs.matrix @ q))
    expected = [ids[i] for i in expected if ids[i] != ids[7]][:10]
    assert [h.asset_id for h in res.hits] == expected and res.total == 299
    rare = query(catalog, q, limit=20, filters=Filters(categories=["rare"]))
    assert len(rare) == 6 and all(int(a) % 50 == 1 for a in rare)  # asset ids start at 1
    short = get_index(catalog).search(
        "sfx", MODEL, q, limit=500, filters=Filters(min_duration=2, max_duration=3)
    )
    assert short.total == 60 and len(short.hits) == 60
    page2 = query(catalog, q, limit=10, offset=10)
    assert page2 == query(catalog, q, limit=20)[10:]


def test_hnsw_agrees_with_exact_and_filters_stay_correct(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vindex, "EXACT_MAX", 100)  # force HNSW on a small set
    # the in-process HNSW, also when the catalog's database has pgvector
    monkeypatch.setattr(catalog.settings, "vector_search", "memory")
    ids = add_vectors(catalog, 1000, seed=1)
    idx = get_index(catalog)
    rng = np.random.default_rng(9)
    recall = []
    for _ in range(20):
        q = l2_normalize(rng.standard_normal(DIM))
        approx = idx.search("sfx", MODEL, q, limit=20)
        exact = idx.search("sfx", MODEL, q, limit=20, exact=True)
        assert idx.parts[("sfx", MODEL)].hnsw is not None
        recall.append(len({h.asset_id for h in approx.hits} & {h.asset_id for h in exact.hits}))
        # a filter passing 2 % of the set, then one passing 33 %: full pages, all matching
        rare = idx.search("sfx", MODEL, q, limit=20, filters=Filters(categories=["RARE"]))
        assert len(rare.hits) == 20 and rare.total == 20
        assert all(int(h.asset_id) % 50 == 1 for h in rare.hits)
        s1 = idx.search("sfx", MODEL, q, limit=50, filters=Filters(subcategories=["s1"]))
        assert len(s1.hits) == 50 and all((int(a.asset_id) - 1) % 3 == 1 for a in s1.hits)
    assert np.mean(recall) / 20 >= 0.95
    assert len(ids) == 1000


def test_persistence_rebuild_and_other_process(catalog: Catalog) -> None:
    ids = add_vectors(catalog, 120, seed=2)
    q = all_vectors(catalog, "sfx", MODEL).matrix[3]
    before = query(catalog, q, limit=15)
    idx = rebuild_index(catalog)  # saves
    assert (index_dir(catalog) / "manifest.json").exists()
    assert sum(len(p.rows) for p in idx.parts.values()) == 120
    # a second process: loads the saved index, then catches up with later writes
    other = Catalog.open(catalog.settings)
    try:
        assert query(other, q, limit=15) == before
        new = add_vectors(catalog, 5, seed=3, start=1000)  # written by the first "process"
        catalog.store.delete_asset(ids[0])
        catalog.store.update_asset(ids[1], {"category": "MOVED"})
        got = get_index(other).search("sfx", MODEL, q, limit=500)
        seen = {h.asset_id for h in got.hits}
        assert set(new) <= seen and ids[0] not in seen and got.total == 124
        moved = query(other, q, limit=5, filters=Filters(categories=["moved"]))
        assert moved == [ids[1]]
    finally:
        other.close()
    # a corrupt saved index is rebuilt from the analyses, not trusted
    (index_dir(catalog) / "part0.vectors.npy").write_bytes(b"garbage")
    third = Catalog.open(catalog.settings)
    try:
        assert len(query(third, q, limit=500)) == 124
    finally:
        third.close()


def test_models_are_kept_apart(catalog: Catalog) -> None:
    add_vectors(catalog, 10)
    other = l2_normalize(np.ones(16))
    data, blob = pack(other, "other-model/v1")
    a = catalog.store.add_asset(
        {"kind": "sfx", "name": "o", "duration": 1.0, "content_hash": "x" * 64,
         "file_path": "files/o.wav"},
        [Analysis("", "embedding", 1, data, blob)],
    )  # fmt: skip
    q = all_vectors(catalog, "sfx", MODEL).matrix[0]
    assert a.asset_id not in query(catalog, q, limit=100)
    res = get_index(catalog).search("sfx", "other-model/v1", other, limit=5)
    assert [h.asset_id for h in res.hits] == [a.asset_id]
    assert get_index(catalog).search("music", MODEL, q, limit=5).hits == []


# -- PostgreSQL: vectors in the database, the in-process index synced across processes -------
PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")


@pytest.fixture
def pg_catalogs(tmp_path: Path) -> Iterator[tuple[Catalog, Catalog]]:
    """Two catalogs (two "processes": separate caches and pools) on one PostgreSQL schema."""
    if not PG_URL:
        pytest.skip("needs TONEARM_TEST_POSTGRES_URL (postgresql://...)")
    schema = f"vec_{uuid.uuid4().hex[:10]}"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    a = Catalog.open(Settings(data=tmp_path / "a", database_url=url))
    b = Catalog.open(Settings(data=tmp_path / "b", database_url=url))
    try:
        yield a, b
    finally:
        b.close()
        a.close()
        a.store.drop_schema()


def _raw_add(conn: Any, k: int, v: np.ndarray) -> None:
    """Insert one asset and its embedding inside an open transaction (as add_asset does)."""
    data, blob = pack(v, MODEL)
    row = conn.execute(
        "INSERT INTO assets (kind, name, duration, content_hash, file_path, category, "
        "created_at, updated_at, extra) VALUES ('sfx', ?, 1.0, ?, ?, 'COMMON', ?, ?, '{}') "
        "RETURNING asset_id",
        (f"late{k}", hashlib.sha256(f"late{k}".encode()).hexdigest(), f"files/l{k}.wav",
         "2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z"),
    ).fetchone()  # fmt: skip
    conn.store._put_analysis(conn, Analysis(str(row[0]), "embedding", 1, data, blob))


@pytest.mark.postgres
def test_postgres_index_sees_late_commits_and_deletes(
    pg_catalogs: tuple[Catalog, Catalog],
) -> None:
    """A transaction that took its rowid first but commits last (concurrent ingests on
    PostgreSQL) must not be skipped by the reader's rowid cursor."""
    a, b = pg_catalogs
    ids = add_vectors(b, 30, seed=5)
    q = all_vectors(b, "sfx", MODEL).matrix[4]
    assert query(a, q, limit=1) == [ids[4]]
    late = l2_normalize(np.random.default_rng(9).standard_normal(DIM))
    inside, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with b.store.transaction() as conn:
            _raw_add(conn, 1, late)  # takes the smaller rowid ...
            inside.set()
            release.wait(10)  # ... and commits after the next writer

    t = threading.Thread(target=slow_writer)
    t.start()
    assert inside.wait(10)
    quick = add_vectors(b, 2, seed=6, start=500)  # commits first, larger rowid
    assert set(quick) <= set(query(a, q, limit=100))  # A's cursor is now past the late row
    release.set()
    t.join(10)
    got = query(a, late, limit=1)
    late_id = str(b.store.execute("SELECT asset_id FROM assets WHERE name = 'late1'")[0][0])
    assert got == [late_id]  # seen although its rowid is below A's cursor
    b.store.delete_asset(ids[4])  # deletes from another process are seen too
    assert ids[4] not in query(a, q, limit=100)
    assert get_index(a).search("sfx", MODEL, q, limit=100).total == 32


@pytest.mark.postgres
def test_pgvector_search_matches_the_exact_index(
    pg_catalogs: tuple[Catalog, Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the vector extension, queries run in PostgreSQL (HNSW + iterative scan + exact
    fallback); they must return the exact neighbours under selective filters and paging."""
    a, b = pg_catalogs
    if not a.store.has_vector_table():
        pytest.skip(
            "pgvector is not installed in this PostgreSQL (Debian 12 has no "
            "postgresql-15-pgvector package; Debian 13: apt-get install postgresql-17-pgvector)"
        )
    ids = add_vectors(b, 300, seed=11)
    assert get_index(a).uses_pgvector()
    n = int(a.store.execute("SELECT COUNT(*) FROM asset_vectors")[0][0])
    assert n == 300  # written with the analyses, in their transaction
    q = all_vectors(b, "sfx", MODEL).matrix[17]
    cases: list[dict[str, Any]] = [
        {"limit": 10},
        {"limit": 5, "offset": 5},
        {"limit": 10, "filters": Filters(categories=["rare"])},  # 6 of 300
        {"limit": 10, "filters": Filters(subcategories=["s1"], min_duration=2, max_duration=4)},
        {"limit": 3, "exclude": ids[17]},
    ]
    for kw in cases:
        monkeypatch.setattr(a.settings, "vector_search", "auto")
        got = get_index(a).search("sfx", MODEL, q, **kw)
        monkeypatch.setattr(a.settings, "vector_search", "memory")
        want = get_index(a).search("sfx", MODEL, q, exact=True, **kw)
        assert [h.asset_id for h in got.hits] == [h.asset_id for h in want.hits], kw
        assert got.total == want.total, kw
        assert [round(h.score, 4) for h in got.hits] == [round(h.score, 4) for h in want.hits]
    b.store.delete_asset(ids[17])  # cascades to asset_vectors
    monkeypatch.setattr(a.settings, "vector_search", "auto")
    assert ids[17] not in query(a, q, limit=10)


def test_a_saved_index_of_another_database_is_not_trusted(catalog: Catalog) -> None:
    """Same data directory, another database (e.g. after a copy to PostgreSQL): the saved
    index's ids would name other assets, so it is rebuilt from this database."""
    add_vectors(catalog, 40, seed=21)
    rebuild_index(catalog)  # saved under DATA/index/vectors
    other_db = catalog.settings.model_copy(
        update={"database_url": f"sqlite:///{catalog.data_dir / 'other.db'}"}
    )
    other = Catalog.open(other_db)
    try:
        ids = add_vectors(other, 40, seed=22)  # same ids, other vectors
        q = all_vectors(other, "sfx", MODEL).matrix[5]
        assert query(other, q, limit=1) == [ids[5]]
        exact = get_index(other).search("sfx", MODEL, q, limit=10, exact=True)
        assert query(other, q, limit=10) == [h.asset_id for h in exact.hits]
    finally:
        other.close()
