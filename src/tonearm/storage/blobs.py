"""Blob store: where audio files and job results live, behind one small interface.

- ``LocalBlobStore(root)``: a directory (the embedded default is the data directory, so
  keys like ``files/ab/abcd.flac`` and ``results/<requestId>/out.mp3`` map to the same
  paths ``Catalog.files_dir`` / ``results_dir`` use today). Writes are atomic (temporary
  file + rename): a reader never sees half a file.
- ``S3BlobStore(bucket, prefix)``: any S3-compatible object store (AWS S3, MinIO, Ceph,
  R2...) through boto3, installed separately (``pip install boto3``); endpoint and
  credentials come from boto3's usual environment (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` or ``TONEARM_S3_ENDPOINT_URL``).

``open_blobs(settings)`` picks one from ``settings.blob_url`` (``TONEARM_BLOB_URL``):
unset or a path -> local; ``s3://bucket/prefix`` -> S3. Keys are relative, ``/``-separated,
without ``..``; anything else is refused (ValueError), so a key from a request can never
escape the store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit


def check_key(key: str) -> str:
    """A safe relative key, or ValueError."""
    if not key or len(key) > 1024 or "\x00" in key or "\\" in key:
        raise ValueError(f"invalid blob key {key!r}")
    parts = key.split("/")
    if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> str:
        """Store ``data`` under ``key`` (replacing it); returns the key."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; KeyError when there are none."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; False when it was not there."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` (a folder-like prefix ending in ``/``, or empty)."""
        ...

    def size(self, key: str) -> int: ...

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A local file with the blob's content, for code that needs a path (decoders)."""
        ...

    def url(self, key: str, expires_s: int = 3600) -> str | None:
        """A URL clients can download from directly (S3 presigned), or None (serve it)."""
        ...


class LocalBlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> str:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                if isinstance(data, bytes | bytearray | memoryview):
                    f.write(data)
                else:
                    shutil.copyfileobj(data, f, 1 << 20)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> bool:
        p = self.path(key)
        if not p.is_file():
            return False
        p.unlink()
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root / prefix.rstrip("/") if prefix else self.root
        if prefix:
            check_key(prefix.rstrip("/"))
        if not base.is_dir():
            return
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith(".tmp-"):
                yield p.relative_to(self.root).as_posix()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise KeyError(key) from None

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        p = self.path(key)
        if not p.is_file():
            raise KeyError(key)
        yield p

    def url(self, key: str, expires_s: int = 3600) -> str | None:
        return None


class S3BlobStore:
    """Blobs in an S3-compatible bucket under ``prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: Any = None,
        endpoint_url: str | None = None,
    ) -> None:
        if client is None:
            try:
                import boto3
            except ImportError as e:
                raise RuntimeError(
                    "S3 blob storage needs boto3: pip install boto3 (or leave "
                    "TONEARM_BLOB_URL unset to keep files in the data directory)"
                ) from e
            client = boto3.client("s3", endpoint_url=endpoint_url)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _missing(self, e: Exception) -> bool:
        code = str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        body = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data.read()
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=body, **extra)
        return key

    def get(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as e:
            if self._missing(e):
                raise KeyError(key) from None
            raise
        data: bytes = obj["Body"].read()
        return data

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return True
        except Exception as e:
            if self._missing(e):
                return False
            raise

    def size(self, key: str) -> int:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as e:
            if self._missing(e):
                raise KeyError(key) from None
            raise
        return int(head["ContentLength"])

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        token: str | None = None
        while True:
            kw: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
            if token:
                kw["ContinuationToken"] = token
            page = self.client.list_objects_v2(**kw)
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix) :]
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        suffix = Path(key).suffix
        with tempfile.NamedTemporaryFile(suffix=suffix) as f:
            f.write(self.get(key))
            f.flush()
            yield Path(f.name)

    def url(self, key: str, expires_s: int = 3600) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._name(key)},
            ExpiresIn=expires_s,
        )
        return url


def open_blobs(settings: Any) -> BlobStore:
    """The blob store ``settings.blob_url`` names (default: the data directory)."""
    url = getattr(settings, "blob_url", None)
    if url and url.startswith("s3://"):
        u = urlsplit(url)
        if not u.netloc:
            raise ValueError("TONEARM_BLOB_URL must look like s3://bucket/prefix")
        return S3BlobStore(
            u.netloc, u.path, endpoint_url=getattr(settings, "s3_endpoint_url", None)
        )
    root = Path(url.removeprefix("file://")) if url else Path(settings.data)
    return LocalBlobStore(root)


# -- the catalog's blob store, and local copies for code that needs a file -------------------
BLOBS_CACHE_KEY = "storage.blobs"


def catalog_blobs(catalog: Any) -> BlobStore:
    """The blob store of ``catalog`` (``settings.blob_url``), opened once per process."""
    b = catalog.cache.get(BLOBS_CACHE_KEY)
    if b is None:
        b = catalog.cache.setdefault(BLOBS_CACHE_KEY, open_blobs(catalog.settings))
    return b


def is_data_dir(blobs: BlobStore, data: Path) -> bool:
    """Whether ``blobs`` is the local data directory itself (keys are its paths)."""
    return isinstance(blobs, LocalBlobStore) and blobs.root.resolve() == Path(data).resolve()


def local_copy(blobs: BlobStore, key: str, cache_path: Path) -> Path | None:
    """A local file with the content of ``key``, or None when there is no such blob.

    A local store gives its own file; any other store's blob is downloaded once to
    ``cache_path`` (written atomically) and that copy is reused. Blobs under one key are
    written once (uploads, results), so a cached copy does not go stale.
    """
    if isinstance(blobs, LocalBlobStore):
        p = blobs.path(key)
        return p if p.is_file() else None
    if cache_path.is_file():
        return cache_path
    try:
        data = blobs.get(key)
    except KeyError:
        return None
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, cache_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return cache_path


def delete_prefix(blobs: BlobStore, prefix: str) -> int:
    """Delete every blob under ``prefix`` (a folder-like prefix ending in ``/``)."""
    n = 0
    for key in list(blobs.list(prefix)):
        n += bool(blobs.delete(key))
    return n
