"""SQLite store: versioned migrations, atomic writes, keys."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tonearm.storage import Analysis, DuplicateAsset, SqliteStore
from tonearm.storage.sqlite import migrations


def _fields(h: str = "h1", **kw: object) -> dict[str, object]:
    return {"kind": "music", "name": "n", "duration": 1.5, "content_hash": h, "file_path": "f"} | kw


def test_migrations_are_versioned_and_applied_once(tmp_path) -> None:
    db = tmp_path / "t.db"
    s = SqliteStore(db)
    versions = [v for v, _, _ in migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    assert s.schema_version() == versions[-1]
    s.close()
    s2 = SqliteStore(db)  # reopening applies nothing twice
    rows = s2.execute("SELECT version FROM schema_migrations")
    assert [r[0] for r in rows] == versions
    assert s2.execute("PRAGMA journal_mode")[0][0] == "wal"


def test_asset_ids_are_numeric_strings_and_fields_round_trip(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    a = s.add_asset(_fields(artist="A", tags="x,y", extra={"spotify": {"id": "1"}}))
    assert a.asset_id.isdigit()
    b = s.get_asset(a.asset_id)
    assert b is not None and b.artist == "A" and b.extra == {"spotify": {"id": "1"}}
    assert s.get_asset("abc") is None and s.get_asset("999") is None
    assert s.find_by_hash("h1").asset_id == a.asset_id  # type: ignore[union-attr]


def test_duplicate_content_hash_is_refused(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    a = s.add_asset(_fields())
    with pytest.raises(DuplicateAsset) as ei:
        s.add_asset(_fields())
    assert ei.value.asset_id == a.asset_id
    assert s.count_assets() == 1


def test_add_asset_is_atomic_with_its_analyses(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")

    class Boom(Analysis):
        @property
        def data(self):  # type: ignore[override]
            raise RuntimeError("analysis serialisation failed")

        @data.setter
        def data(self, v):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(RuntimeError):
        s.add_asset(_fields(), [Analysis("", "ok", 1, {"a": 1}), Boom("", "bad", 1, {})])
    assert s.count_assets() == 0
    assert s.execute("SELECT COUNT(*) FROM analyses")[0][0] == 0


def test_analyses_and_cascade_delete(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    a = s.add_asset(_fields(), [Analysis("", "beats", 1, {"bpm": 120}, b"\x00\x01")])
    got = s.get_analysis(a.asset_id, "beats")
    assert got is not None and got.data == {"bpm": 120} and got.blob == b"\x00\x01"
    assert [x.asset_id for x in s.iter_analyses("beats")] == [a.asset_id]
    assert s.delete_asset(a.asset_id)
    assert s.get_analysis(a.asset_id, "beats") is None


def test_update_asset(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    a = s.add_asset(_fields())
    b = s.update_asset(a.asset_id, {"bpm": 128.0, "content_hash": "evil"})
    assert b.bpm == 128.0 and b.content_hash == "h1"
    with pytest.raises(KeyError):
        s.update_asset("12345", {"bpm": 1.0})


def test_concurrent_writers_do_not_lose_rows(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")

    def work(k: int) -> None:
        for i in range(20):
            s.add_asset(_fields(f"h{k}-{i}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.count_assets() == 80


def test_kind_is_constrained(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    with pytest.raises(sqlite3.IntegrityError):
        s.add_asset(_fields(kind="video"))


def test_hostile_ids_are_not_found_rather_than_errors(tmp_path) -> None:
    s = SqliteStore(tmp_path / "t.db")
    s.add_asset(_fields())
    for bad in ("9" * 30, "abc", "", "-1", "1.5", "１"):
        assert s.get_asset(bad) is None
        assert s.get_analysis(bad, "beats") is None
