"""Ingest: files -> decoded once -> one AnalysisInput for every analyzer -> one atomic write
per asset."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonearm.catalog.analyzers import AnalysisResult, Analyzer, select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.decoding import decode_audio
from tonearm.catalog.metadata import coerce, read_sidecar, read_tags
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import Purpose
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.storage.base import Analysis, Asset, DuplicateAsset

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".aif", ".aiff"}
)
KINDS = ("music", "sfx")


@dataclass
class IngestOutcome:
    path: str
    status: str  # "added" | "skipped" | "failed"
    asset_id: str | None = None
    reason: str | None = None
    duration_s: float = 0.0  # seconds of audio added (0 unless added)


@dataclass
class IngestSummary:
    added: list[IngestOutcome] = field(default_factory=list)
    skipped: list[IngestOutcome] = field(default_factory=list)
    failed: list[IngestOutcome] = field(default_factory=list)
    seconds_of_audio: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C; a rerun continues where it stopped

    def record(self, o: IngestOutcome) -> None:
        getattr(self, o.status).append(o)

    @property
    def total(self) -> int:
        return len(self.added) + len(self.skipped) + len(self.failed)


def iter_audio_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path]]:
    """(file, root) for every audio file under ``paths``, sorted, symlink loops ignored.

    ``~`` is expanded (as a shell would); a path that does not exist raises
    FileNotFoundError naming it, rather than ingesting nothing.
    """
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"no such file or directory: {p}")
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames.sort()
                for fn in sorted(filenames):
                    f = Path(dirpath) / fn
                    if f.suffix.lower() in AUDIO_EXTENSIONS:
                        yield f, p
        else:
            yield p, p.parent


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def original_key(digest: str, suffix: str) -> str:
    """Blob key of an original: ``files/ab/abcd....ext`` (the data directory's layout)."""
    return f"files/{digest[:2]}/{digest}{suffix.lower()}"


def _store_file(catalog: Catalog, data: bytes, digest: str, suffix: str) -> str:
    """Keep the original bytes in the blob store (atomically; the data directory by default,
    so a cluster with ``TONEARM_BLOB_URL=s3://...`` needs no shared disk). Returns the
    asset's ``file_path``: the blob key, or "" when ``keep_originals`` is off (catalog-only
    ingest: fingerprints and analyses are kept, the audio is not)."""
    if not catalog.settings.keep_originals:
        return ""
    from tonearm.storage.blobs import catalog_blobs

    blobs = catalog_blobs(catalog)
    key = original_key(digest, suffix)
    if not blobs.exists(key):
        blobs.put(key, data)
    return key


def delete_original(catalog: Catalog, asset: Asset) -> None:
    """Remove an asset's original from the blob store (and any local copy of it)."""
    if not asset.file_path:
        return
    from tonearm.storage.blobs import catalog_blobs, is_data_dir

    blobs = catalog_blobs(catalog)
    with suppress(KeyError, ValueError, OSError):  # gone, or a path from before blob keys
        blobs.delete(asset.file_path)
    if not is_data_dir(blobs, catalog.data_dir):
        (catalog.data_dir / "cache" / asset.file_path).unlink(missing_ok=True)
        (catalog.data_dir / asset.file_path).unlink(missing_ok=True)


def ingest_bytes(
    catalog: Catalog,
    data: bytes,
    *,
    filename: str,
    kind: str,
    metadata: dict[str, Any] | None = None,
    analyzers: list[Analyzer] | None = None,
    source_path: str | None = None,
    tag_path: str | Path | None = None,
    tenant: str | None = None,
) -> IngestOutcome:
    """Ingest one file's bytes. Never raises for bad audio: the outcome says why.

    ``tenant``: the account the asset belongs to (None: the shared catalog); the same
    audio is "already in catalog" only within that account."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    label = source_path or filename
    digest = content_hash(data)
    existing = catalog.store.find_by_hash(digest, tenant)
    if existing is not None:
        return IngestOutcome(label, "skipped", existing.asset_id, "already in catalog")
    try:
        signal = decode_audio(catalog, data, Purpose.CATALOG_FILE)
    except AudioError as e:
        return IngestOutcome(label, "failed", None, str(e))

    fields: dict[str, Any] = {
        "kind": kind,
        "name": Path(filename).stem,
        "duration": round(signal.duration_s, 3),
        "content_hash": digest,
        "source_path": source_path,
        "sample_rate": signal.sr,
        "channels": signal.channels,
        "tenant": tenant,
    }
    if tag_path is not None:
        fields.update(read_tags(tag_path))
    user = coerce(metadata or {})
    fields.update(user)

    chosen = select_analyzers(None, catalog.plugins) if analyzers is None else analyzers
    # every analyzer reads the same input: 22,050 Hz mono, beats and tempo computed once; a
    # BPM the file's tags or the user's metadata state decides the metrical level (x2, /2)
    hint = fields.get("bpm")
    inp = AnalysisInput(signal, bpm_hint=float(hint) if isinstance(hint, int | float) else None)
    results: list[tuple[Analyzer, AnalysisResult]] = []
    for a in chosen:
        if kind not in a.kinds:
            continue
        try:
            r = a.analyze(inp, kind)
        except AudioError as e:
            return IngestOutcome(label, "failed", None, f"{a.name}: {e}")
        except Exception as e:  # an analyzer bug must not take the whole ingest down
            return IngestOutcome(label, "failed", None, f"{a.name}: {type(e).__name__}: {e}")
        for k, v in r.fields.items():
            if k not in user:  # what the user said wins over what we measured
                fields[k] = v
        results.append((a, r))

    fields["file_path"] = _store_file(catalog, data, digest, Path(filename).suffix or ".bin")
    try:
        asset = catalog.store.add_asset(
            fields,
            [Analysis("", a.name, a.version, r.data, r.blob) for a, r in results],
        )
    except DuplicateAsset as e:  # a concurrent ingest of the same content won
        return IngestOutcome(label, "skipped", e.asset_id, "already in catalog")
    except BaseException:
        path = fields["file_path"]
        if (
            path
            and catalog.store.find_by_hash(digest, tenant) is None
            and not catalog.store.file_in_use(path)
        ):
            from tonearm.storage.blobs import catalog_blobs

            catalog_blobs(catalog).delete(path)
        raise
    for a, r in results:
        a.after_commit(catalog, asset, r)
    return IngestOutcome(label, "added", asset.asset_id)


def ingest_paths(
    catalog: Catalog,
    paths: Iterable[str | Path],
    *,
    kind: str,
    metadata_csv: str | Path | None = None,
    analyses: list[str] | None = None,
    on_progress: Callable[[IngestOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest every audio file under ``paths``; bad files are reported and skipped."""
    analyzers = select_analyzers(analyses, catalog.plugins)
    sidecar = read_sidecar(metadata_csv) if metadata_csv else {}
    files = list(iter_audio_files(paths))
    if on_start:
        on_start(len(files))
    summary = IngestSummary()
    for f, root in files:
        try:
            rel = str(f.relative_to(root))
        except ValueError:
            rel = f.name
        meta = sidecar.get(rel) or sidecar.get(f.name) or {}
        try:
            data = f.read_bytes()
        except OSError as e:
            outcome = IngestOutcome(str(f), "failed", None, f"cannot read: {e.strerror}")
        else:
            outcome = ingest_bytes(
                catalog,
                data,
                filename=f.name,
                kind=kind,
                metadata=meta,
                analyzers=analyzers,
                source_path=str(f.resolve()),
                tag_path=f,
            )
        if outcome.status == "added":
            a = catalog.store.get_asset(outcome.asset_id or "")
            summary.seconds_of_audio += a.duration if a else 0.0
        summary.record(outcome)
        if on_progress:
            on_progress(outcome)
    return summary


def asset_path(catalog: Catalog, asset: Asset) -> Path:
    """A local path of an asset's original (a blob store elsewhere: a copy cached under
    DATA/cache). Catalog-only assets (no original kept) get a path that does not exist."""
    if not asset.file_path:
        return catalog.data_dir / "files" / ".not-kept" / str(asset.asset_id)
    from tonearm.storage.blobs import catalog_blobs, is_data_dir, local_copy

    blobs = catalog_blobs(catalog)
    legacy = catalog.data_dir / asset.file_path
    if is_data_dir(blobs, catalog.data_dir) or Path(asset.file_path).is_absolute():
        return legacy
    try:
        p = local_copy(blobs, asset.file_path, catalog.data_dir / "cache" / asset.file_path)
    except ValueError:  # not a blob key: a path from before the blob store
        return legacy
    return p if p is not None else legacy
