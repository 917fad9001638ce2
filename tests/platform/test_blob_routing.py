"""Uploads and job results go through the blob store, so nodes that share only the database
and the blob store serve each other's files: a local directory away from the data
directory, and S3 (an in-memory fake of the boto3 client calls the store makes)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tonearm.catalog.context import Catalog
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.editing import export as _export  # noqa: F401  (registers the export job)
from tonearm.jobs import Job, get_queue, register_job
from tonearm.jobs.uploads import resolve_upload, save_upload
from tonearm.settings import Settings
from tonearm.storage.blobs import BLOBS_CACHE_KEY, LocalBlobStore, S3BlobStore


class _Missing(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeS3:
    """put/get/head/delete/list of boto3's S3 client on a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **kw: Any) -> None:  # noqa: N803
        self.objects[(Bucket, Key)] = bytes(Body)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise _Missing("NoSuchKey")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise _Missing("404")
        return {"ContentLength": len(self.objects[(Bucket, Key)])}

    def delete_object(self, Bucket: str, Key: str) -> None:  # noqa: N803
        self.objects.pop((Bucket, Key), None)

    def list_objects_v2(self, Bucket: str, Prefix: str, **kw: Any) -> dict[str, Any]:  # noqa: N803
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix))
        return {"Contents": [{"Key": k} for k in keys], "IsTruncated": False}


def two_nodes(tmp_path: Path, kind: str) -> Iterator[tuple[Catalog, Catalog, Any]]:
    """Two catalogs ("nodes") with their own data directories, one shared database file
    and one shared blob store."""
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    common: dict[str, Any] = {"database_url": db, "allow_private_urls": True}
    if kind == "local":
        common["blob_url"] = str(tmp_path / "blobs")
    nodes = [Catalog.open(Settings(data=tmp_path / f"node{i}", **common)) for i in (1, 2)]
    client = FakeS3()
    if kind == "s3":
        for c in nodes:
            c.cache[BLOBS_CACHE_KEY] = S3BlobStore("media", "tonearm", client=client)
    try:
        yield nodes[0], nodes[1], client if kind == "s3" else tmp_path / "blobs"
    finally:
        for c in nodes:
            c.close()


@pytest.fixture(params=["local", "s3"])
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Catalog, Catalog, Any]]:
    yield from two_nodes(tmp_path, request.param)


def _stored(where: Any) -> set[str]:
    if isinstance(where, FakeS3):
        return {k.removeprefix("tonearm/") for _, k in where.objects}
    return {p.relative_to(where).as_posix() for p in where.rglob("*") if p.is_file()}


def _wav() -> bytes:
    sr = 22050
    t = np.arange(3 * sr) / sr
    return encode(Signal(0.3 * np.sin(2 * np.pi * 220 * t)[None, :], sr), "wav")


def test_upload_on_one_node_export_on_another_served_by_either(
    nodes: tuple[Catalog, Catalog, Any],
) -> None:
    a, b, where = nodes
    wav = _wav()
    token, name, _ = save_upload(a, wav, "take one.wav")
    key = f"uploads/{token}/{name}"
    assert key in _stored(where)
    assert not (a.data_dir / "uploads").exists()  # not on the receiving node's disk
    on_b = resolve_upload(b, token)  # the other node reads it from the blob store
    assert on_b is not None and on_b.read_bytes() == wav
    qb = get_queue(b)
    job = qb.submit(
        "export",
        {
            "sourceFileUrl": f"http://node1/uploads/{token}/{name}",
            "segmentsGroups": [[[0.0, 1.0]], [[1.0, 2.5]], [[9.0, 10.0]]],
            "exportFormat": "wav",
            "resultsBase": "http://node/results",
        },
    )
    done = qb.wait(job.id, 120)
    assert done.status == "succeeded", done.error
    assert list(done.result["failures"]) == [f"http://node/results/{job.id}/export_3.wav"]
    stored = _stored(where)
    for n in ("export.json", "export_1.wav", "export_2.wav"):
        assert f"results/{job.id}/{n}" in stored
    # node 1 never ran the job: it serves the files from the blob store
    qa = get_queue(a)
    p = qa.result_path(job.id, "export_2.wav")
    assert p is not None and p.read_bytes()[:4] == b"RIFF"
    assert json.loads(qa.result_path(job.id, "export.json").read_text()) == done.result  # type: ignore[union-attr]
    assert qa.result_path(job.id, "export_3.wav") is None  # the failed group
    assert qa.result_path(job.id, "../../shared.db") is None
    # expiry removes the blobs, not only a node's copies
    with a.store.transaction() as conn:
        conn.execute("UPDATE jobs SET expires_at = '2000-01-01T00:00:00.000Z'")
        conn.execute("UPDATE uploads SET expires_at = '2000-01-01T00:00:00.000Z'")
    assert qa.cleanup_expired() == 2
    assert _stored(where) == set()
    assert resolve_upload(b, token) is None


def test_default_store_is_the_data_directory(catalog: Catalog) -> None:
    """Embedded default: blob keys are the data directory's paths, as before."""
    token, name, _ = save_upload(catalog, b"RIFFdata", "x.wav")
    p = resolve_upload(catalog, token)
    assert p == catalog.data_dir / "uploads" / token / name and p.read_bytes() == b"RIFFdata"
    blobs = catalog.cache[BLOBS_CACHE_KEY]
    assert isinstance(blobs, LocalBlobStore) and blobs.root == catalog.data_dir


def test_results_route_serves_another_nodes_files(
    nodes: tuple[Catalog, Catalog, Any],
) -> None:
    """GET /results/<requestId>/<file> on a node that did not run the job."""
    from fastapi.testclient import TestClient

    from tonearm.api.app import create_app

    a, b, where = nodes
    qb = get_queue(b)
    job = qb.submit("test.blobecho", {})
    assert qb.wait(job.id, 30).status == "succeeded"
    # node a never ran the job: what it serves comes from the shared blob store
    assert f"results/{job.id}/blobecho.json" in _stored(where)
    assert not (a.results_dir / job.id).exists()
    with TestClient(create_app(catalog=a)) as client:
        r = client.get(f"/results/{job.id}/blobecho.json")
        assert r.status_code == 200 and r.json() == {"requestId": job.id, "success": True}
        assert client.get(f"/results/{job.id}/nope.json").status_code == 404
        assert client.get(f"/results/{job.id}/..%2F..%2Fshared.db").status_code == 404


@register_job("test.blobecho", result_file="blobecho.json")
def _blobecho(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    return {"requestId": job.id, "success": True}
