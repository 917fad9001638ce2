"""Blob stores: the local directory, and the S3 one against an in-memory fake client."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tonearm.settings import Settings
from tonearm.storage.blobs import LocalBlobStore, S3BlobStore, open_blobs


class FakeS3Error(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeS3:
    """The boto3 S3 client calls the store makes, on a dict; pages of 2 keys."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str | None]] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str | None = None):  # noqa: N803
        self.objects[(Bucket, Key)] = (Body, ContentType)

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise FakeS3Error("NoSuchKey")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)][0])}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if (Bucket, Key) not in self.objects:
            raise FakeS3Error("404")
        return {"ContentLength": len(self.objects[(Bucket, Key)][0])}

    def delete_object(self, Bucket: str, Key: str) -> None:  # noqa: N803
        self.objects.pop((Bucket, Key), None)

    def list_objects_v2(self, Bucket: str, Prefix: str, ContinuationToken: str = "0"):  # noqa: N803
        keys = sorted(k for b, k in self.objects if b == Bucket and k.startswith(Prefix))
        start = int(ContinuationToken)
        page = keys[start : start + 2]
        more = start + 2 < len(keys)
        out: dict[str, Any] = {"Contents": [{"Key": k} for k in page], "IsTruncated": more}
        if more:
            out["NextContinuationToken"] = str(start + 2)
        return out

    def generate_presigned_url(self, op: str, Params: dict[str, str], ExpiresIn: int) -> str:  # noqa: N803
        return f"https://s3.example/{Params['Bucket']}/{Params['Key']}?X-Amz-Expires={ExpiresIn}"


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        yield S3BlobStore("bucket", "tonearm/prod", client=FakeS3())


def test_put_get_list_delete(blobs: Any) -> None:
    assert blobs.put("files/ab/one.flac", b"\x00" * 10) == "files/ab/one.flac"
    blobs.put("files/cd/two.wav", io.BytesIO(b"RIFF...."), content_type="audio/wav")
    blobs.put("results/r1/out.mp3", b"ID3")
    blobs.put("files/ab/one.flac", b"replaced")
    assert blobs.get("files/ab/one.flac") == b"replaced"
    assert blobs.size("files/cd/two.wav") == 8
    assert blobs.exists("results/r1/out.mp3") and not blobs.exists("results/r1/none")
    assert list(blobs.list("files/")) == ["files/ab/one.flac", "files/cd/two.wav"]
    assert len(list(blobs.list())) == 3
    with blobs.local_path("files/cd/two.wav") as p:
        assert p.read_bytes() == b"RIFF...." and p.suffix == ".wav"
    assert blobs.delete("results/r1/out.mp3") and not blobs.delete("results/r1/out.mp3")
    with pytest.raises(KeyError):
        blobs.get("results/r1/out.mp3")
    with pytest.raises(KeyError):
        blobs.size("nope")


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "x\x00y", "a/"]
)
def test_keys_cannot_escape(blobs: Any, key: str) -> None:
    with pytest.raises(ValueError):
        blobs.put(key, b"x")
    with pytest.raises(ValueError):
        blobs.get(key)


def test_local_writes_are_atomic(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)

    class Broken(io.RawIOBase):
        def readinto(self, b: Any) -> int:
            raise OSError("disk went away")

    store.put("a/b.bin", b"old")
    with pytest.raises(OSError):
        store.put("a/b.bin", io.BufferedReader(Broken()))
    assert store.get("a/b.bin") == b"old"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.bin"]  # no temp file left
    assert store.url("a/b.bin") is None


def test_s3_presigned_urls_and_prefix() -> None:
    client = FakeS3()
    s = S3BlobStore("media", "/tonearm/", client=client)
    s.put("results/x/out.mp3", b"ID3")
    assert ("media", "tonearm/results/x/out.mp3") in client.objects
    assert s.url("results/x/out.mp3", 60) == (
        "https://s3.example/media/tonearm/results/x/out.mp3?X-Amz-Expires=60"
    )


def test_open_blobs_by_setting(tmp_path: Path) -> None:
    s = Settings(data=tmp_path / "d")
    b = open_blobs(s)
    assert isinstance(b, LocalBlobStore) and b.root == tmp_path / "d"
    b = open_blobs(s.model_copy(update={"blob_url": str(tmp_path / "elsewhere")}))
    assert isinstance(b, LocalBlobStore) and b.root == tmp_path / "elsewhere"
    with pytest.raises((RuntimeError, ValueError)):
        open_blobs(s.model_copy(update={"blob_url": "s3://"}))
