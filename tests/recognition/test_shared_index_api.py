"""Scale-out recognition: API servers with their own data directories on one PostgreSQL
catalog and one shared fingerprint index see each other's uploads and deletions at once;
a fingerprint engine that is down gives AudD error 100 quickly, never a hang."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from audd_testkit import excerpt, song
from fastapi.testclient import TestClient

from tonearm.api.app import create_app
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.settings import Settings


def _engines() -> list[Any]:
    out = []
    for kind, env in (("redis", "TONEARM_TEST_REDIS_CLUSTER_URL"), ("postgres", None)):
        marks = []
        if env and not os.environ.get(env):
            marks.append(pytest.mark.skip(reason=f"{env} not set (a Redis Cluster)"))
        out.append(pytest.param(kind, marks=marks, id=kind))
    return out


@pytest.fixture(params=_engines())
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Three API servers' worth of settings on one catalog: data directories of their own,
    one PostgreSQL schema, one shared fingerprint index."""
    pg = os.environ.get("TONEARM_TEST_POSTGRES_URL")
    if not pg:
        pytest.skip("TONEARM_TEST_POSTGRES_URL not set")
    schema = f"shared_{uuid.uuid4().hex[:10]}"

    def settings(name: str) -> Settings:
        s = Settings(
            data=tmp_path / name,
            database_url=f"{pg}?schema={schema}",
            fingerprint_index=request.param,
            fingerprint_redis_url=os.environ.get("TONEARM_TEST_REDIS_CLUSTER_URL"),
            allow_private_urls=True,
            decode_timeout_s=30,
        )
        s.ensure_dirs()
        return s

    with ExitStack() as stack:
        catalogs: list[Catalog] = []

        def server(name: str) -> TestClient:
            cat = Catalog.open(settings(name))
            catalogs.append(cat)
            return stack.enter_context(TestClient(create_app(catalog=cat)))

        yield {"server": server, "catalogs": catalogs}
    for cat in catalogs[:1]:
        from tonearm.recognition.service import get_index

        ix: Any = get_index(cat)
        if hasattr(ix, "backend") and request.param == "redis":
            ix.backend.clear()
        cat.store.drop_schema()  # type: ignore[attr-defined]
    for cat in catalogs:
        cat.close()


def _recognized(client: TestClient, key: str, clip: bytes) -> Any:
    r = client.post("/", data={"api_token": key}, files={"file": ("q.wav", clip)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["result"]


def test_upload_on_one_server_recognized_and_deleted_on_another(cluster: dict[str, Any]) -> None:
    a = cluster["server"]("a")
    b = cluster["server"]("b")
    cat_a: Catalog = cluster["catalogs"][0]
    key, _ = create_key(cat_a.store, "shared", scopes="read,write", account="operator")
    y = song(41, 15.0)
    clip = excerpt(y, 5.0, 6.0)
    assert _recognized(b, key, clip) is None  # b has answered (and opened its index) first

    up = a.post(
        "/upload/",
        data={"api_token": key, "audio_id": "777"},
        files={"file": ("s.wav", excerpt(y, 0, 15.0))},
    )
    assert up.json() == {"status": "success", "result": None}
    deadline = time.monotonic() + 5  # "within seconds": in fact the next query
    while (got := _recognized(b, key, clip)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert got is not None and got["audio_id"] == 777

    c = cluster["server"]("c")  # a node that starts with an empty data directory
    assert _recognized(c, key, clip)["audio_id"] == 777

    asset = cat_a.store.find_by_audio_id("777")
    assert asset is not None
    r = a.delete(f"/developer/v1/assets/{asset.asset_id}", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    assert _recognized(b, key, clip) is None
    assert _recognized(c, key, clip) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fingerprint_engine_down_gives_audd_error_100(tmp_path: Path) -> None:
    s = Settings(
        data=tmp_path / "data",
        fingerprint_index="redis",
        fingerprint_redis_url=f"redis://127.0.0.1:{_closed_port()}",
        fingerprint_timeout_s=1.0,
    )
    s.ensure_dirs()
    cat = Catalog.open(s)
    key, _ = create_key(cat.store, "down", scopes="read,write", account="operator")
    clip = excerpt(song(42, 8.0), 0, 8.0)
    try:
        with TestClient(create_app(catalog=cat)) as client:
            t0 = time.monotonic()
            r = client.post("/", data={"api_token": key}, files={"file": ("q.wav", clip)})
            assert r.status_code == 200
            body = r.json()
            assert body["status"] == "error" and body["error"]["error_code"] == 100, body
            assert r.headers.get("Retry-After")  # a retryable outage, not a bug
            up = client.post(
                "/upload/", data={"api_token": key, "audio_id": "5"}, files={"file": ("s", clip)}
            )
            assert up.json()["status"] == "error" and up.json()["error"]["error_code"] == 100
            assert cat.store.find_by_audio_id("5") is None  # undone: a retry ingests again
            assert time.monotonic() - t0 < 30
    finally:
        cat.close()
