"""One settings object: environment variables ``TONEARM_*`` overridden by CLI flags.

Every ``TONEARM_*`` variable tonearm reads is a field here; nothing else reads the
environment. ``python -m tonearm.settings --markdown`` prints the table of variables that
README.md and docs/DEPLOY.md carry (a test keeps them in step).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONEARM_", extra="ignore")

    data: Path = Field(
        default=Path("./data"), description="Data directory (SQLite, indexes, files)"
    )
    host: str = Field(default="127.0.0.1", description="Address `tonearm serve` listens on")
    port: int = Field(default=8000, description="Port `tonearm serve` listens on")
    public_url: str | None = Field(
        default=None, description="Base URL clients reach us at (for resultUrl links)"
    )
    admin_token: str | None = Field(
        default=None,
        description="Bearer token of the `/admin` API (keys, tiers, usage); unset: off",
    )
    database_url: str | None = Field(
        default=None, description="SQLite path (default: DATA/tonearm.db) or postgresql://..."
    )

    # input limits
    max_upload_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest request body or audio file accepted"
    )
    max_json_bytes: int = Field(
        default=2 * 1024 * 1024,
        description="Largest JSON, urlencoded or text request body (see JSON_BODY_LIMITS)",
    )
    json_body_limits: dict[str, int] = Field(
        default={"/resize": 96 * 1024 * 1024, "/loop": 96 * 1024 * 1024},
        description="Larger JSON body limits per route prefix (/resize carries similarity "
        "strings of ~30 MB), as JSON",
    )
    max_duration_s: float = Field(
        default=4 * 3600.0, description="Longest audio accepted, in seconds"
    )
    decode_timeout_s: float = Field(
        default=120.0, description="Time limit for decoding one file, in seconds"
    )
    # AudD's standard endpoint limits (enterprise endpoint has none of these)
    recognize_max_bytes: int = Field(
        default=10 * 1024 * 1024, description="AudD's standard endpoint: largest file"
    )
    recognize_max_duration_s: float = Field(
        default=25.0, description="AudD's standard endpoint: longest excerpt, in seconds"
    )

    # fetching URLs (sourceFileUrl, url, streams) and calling webhooks
    fetch_timeout_s: float = Field(
        default=30.0,
        description="Total time limit for fetching a URL, connecting to a stream or "
        "calling a webhook (a deadline, not a per-read timeout)",
    )
    fetch_max_bytes: int = Field(
        default=200 * 1024 * 1024, description="Largest file fetched from a URL"
    )
    allow_private_urls: bool = Field(
        default=False, description="Allow loopback/private/link-local URLs (SSRF guard off)"
    )
    private_allowlist: list[str] = Field(
        default=[],
        description='Private hosts or CIDRs (JSON list, e.g. ["10.1.2.0/24", '
        '"minio.internal"]) that sources and webhooks may reach with the guard on',
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-* headers are "
        "believed (JSON list); without PUBLIC_URL, links use the bound address otherwise",
    )

    # jobs
    workers: int = Field(
        default=2, description="Job worker threads in `tonearm serve` (0 with `tonearm worker`)"
    )
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

    # operations
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text or as one JSON object per line"
    )
    http_workers: int = Field(
        default=1,
        description="HTTP worker processes of `tonearm serve` (distinct from job threads)",
    )
    audd_enterprise_port: int = Field(
        default=0,
        description="A second port `tonearm serve` listens on whose `/` is AudD's enterprise "
        "(long-file) endpoint, for clients that take an enterprise base URL "
        "(`AUDD_ENTERPRISE_BASE_URL`); 0: none",
    )
    audd_enterprise_hosts: list[str] = Field(
        default=[],
        description='Host names (JSON list, e.g. ["enterprise.example.org"]) whose `/` is '
        "AudD's enterprise endpoint (behind a reverse proxy: one port, two host names)",
    )

    @property
    def db_path(self) -> Path:
        if self.database_url and not self.database_url.startswith("postgres"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data / "tonearm.db"

    def ensure_dirs(self) -> None:
        for sub in ("", "files", "results", "index"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)


ENV_PREFIX = "TONEARM_"
TABLE_BEGIN = "<!-- settings table: generated by `python -m tonearm.settings --markdown` -->"
TABLE_END = "<!-- end of settings table -->"


def markdown_table() -> str:
    """The ``TONEARM_*`` variables as a Markdown table: name, default, description."""
    rows = ["| variable | default | what |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        d = f.default
        default = "" if d is None else f"`{str(d).lower() if isinstance(d, bool) else d}`"
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {default} | {f.description or ''} |")
    return "\n".join(rows) + "\n"


def with_table(text: str) -> str:
    """``text`` with the part between the table markers replaced by :func:`markdown_table`."""
    head, sep, rest = text.partition(TABLE_BEGIN)
    _, sep2, tail = rest.partition(TABLE_END)
    if not sep or not sep2:
        raise ValueError("the settings table markers are missing")
    return f"{head}{TABLE_BEGIN}\n{markdown_table()}{TABLE_END}{tail}"


def main(argv: list[str]) -> int:
    """``--markdown``: print the table; ``--write FILE...``: refresh it in those files."""
    if argv[:1] == ["--markdown"]:
        sys.stdout.write(markdown_table())
        return 0
    if argv[:1] == ["--write"] and argv[1:]:
        for p in map(Path, argv[1:]):
            p.write_text(with_table(p.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stderr.write("usage: python -m tonearm.settings --markdown | --write FILE...\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
