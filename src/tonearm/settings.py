"""One settings object: environment variables ``TONEARM_*`` overridden by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONEARM_", extra="ignore")

    data: Path = Field(
        default=Path("./data"), description="Data directory (SQLite, indexes, files)"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None, description="Base URL clients reach us at (for resultUrl links)"
    )
    admin_token: str | None = None
    database_url: str | None = Field(
        default=None, description="SQLite path (default: DATA/tonearm.db) or postgresql://..."
    )

    # input limits
    max_upload_bytes: int = 200 * 1024 * 1024
    max_duration_s: float = 4 * 3600.0
    decode_timeout_s: float = 120.0
    # AudD's standard endpoint limits (enterprise endpoint has none of these)
    recognize_max_bytes: int = 10 * 1024 * 1024
    recognize_max_duration_s: float = 25.0

    # fetching URLs (sourceFileUrl, url, streams) and calling webhooks
    fetch_timeout_s: float = 30.0
    fetch_max_bytes: int = 200 * 1024 * 1024
    allow_private_urls: bool = Field(
        default=False, description="Allow loopback/private/link-local URLs (SSRF guard off)"
    )

    # jobs
    workers: int = 2
    queue_url: str | None = Field(
        default=None, description="redis://... for a shared job queue (default: SQLite in DATA)"
    )
    queue_name: str = Field(
        default="tonearm",
        description="huey queue name: keeps deployments (or test runs) sharing one Redis apart",
    )
    job_lease_s: float = Field(
        default=30.0, description="A running job whose heartbeat is older than this is re-queued"
    )
    job_heartbeat_s: float = Field(
        default=5.0, description="How often a running job renews its lease (at most lease/3)"
    )
    job_max_attempts: int = Field(
        default=3, description="Executions of a job before it is failed for good"
    )
    job_watchdog_s: float = Field(
        default=5.0, description="How often each worker looks for jobs whose worker died"
    )
    results_ttl_days: float = Field(default=30, description="How long results are kept")
    upload_ttl_s: float = Field(default=3600, description="How long /upload files are kept")

    # streams (AudD addStream): one monitoring process per stream, holder of its lease
    stream_lease_s: float = Field(
        default=15.0, description="How long a dead process keeps its streams before takeover"
    )
    stream_heartbeat_s: float = Field(
        default=3.0, description="How often stream leases are renewed (at most lease/3)"
    )

    # models
    audio_embedding: str = Field(
        default="auto", description="auto (aisfx when torch is installed), model, or dsp"
    )

    # platform: per-key rate limits and credit quotas (tiers), shared state for scale-out
    rate_limits: bool = Field(
        default=True, description="Enforce per-key rate limits and credit quotas"
    )
    db_pool_size: int = Field(
        default=8, description="PostgreSQL connections per process (API server or worker)"
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://... to share rate-limit counters across API processes",
    )
    vector_search: str = Field(
        default="auto",
        description="auto (pgvector when the database has it), memory, or pgvector",
    )
    pg_ef_search: int = Field(default=256, description="pgvector HNSW ef_search for /similar")
    # recognition: where the fingerprint index lives (docs/DEPLOY.md, "Scale-out recognition")
    fingerprint_index: Literal["local", "redis", "postgres"] = Field(
        default="local",
        description="local (memory-mapped under DATA/index, one copy per data directory), "
        "redis (one Redis Cluster shared by every node) or postgres (the catalog's PostgreSQL "
        "database, hash-partitioned table; Citus-ready)",
    )
    fingerprint_redis_url: str | None = Field(
        default=None,
        description="redis://host:port of any Redis Cluster node (or one plain Redis) for "
        "fingerprint_index=redis; default: redis_url",
    )
    fingerprint_namespace: str | None = Field(
        default=None,
        description="Key namespace of this catalog in a shared Redis fingerprint index "
        "(default: derived from the metadata database and schema)",
    )
    fingerprint_timeout_s: float = Field(
        default=5.0,
        description="Per-call timeout of the shared fingerprint index (a query fails with "
        "AudD error 100 instead of hanging while the engine restarts)",
    )
    keep_originals: bool = Field(
        default=True,
        description="Keep a copy of every ingested original in the blob store; False keeps "
        "only fingerprints and analyses (catalog-only ingest)",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, R2...) for s3:// blob URLs"
    )
    blob_url: str | None = Field(
        default=None,
        description="Blob store for audio/result files: a directory (default: DATA) or s3://...",
    )

    @property
    def db_path(self) -> Path:
        if self.database_url and not self.database_url.startswith("postgres"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data / "tonearm.db"

    def ensure_dirs(self) -> None:
        for sub in ("", "files", "results", "index"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
