"""What a job looks like to users: the ``Job`` record, its id, and its timestamps."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STATUSES = ("queued", "running", "succeeded", "failed")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_SURROGATE = re.compile("[\ud800-\udfff]")


def new_job_id() -> str:
    """32 lowercase alphanumerics, like Audjust's requestId."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def is_job_id(value: str) -> bool:
    return len(value) == 32 and all(c in _ID_ALPHABET for c in value)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def clean_text(value: Any) -> Any:
    """``value`` (a JSON-like value) with every string made storable: lone UTF-16
    surrogates become U+FFFD and NUL characters are dropped (neither can be encoded as
    UTF-8 for a database, a log line or a webhook body). Keys are cleaned too."""
    if isinstance(value, str):
        # a str never holds a valid surrogate pair (that is one code point), so every
        # surrogate in it is a lone one
        return _SURROGATE.sub("\ufffd", value).replace("\x00", "")
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_text(v) for v in value]
    return value


@dataclass
class Job:
    id: str
    kind: str
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: float = 0.0
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    webhook: str | None = None
    webhook_status: str | None = None
    webhook_attempts: int = 0
    key_id: int | None = None
    credit_cost: int = 0
    attempts: int = 0
    heartbeat_at: str | None = None
    claim: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")

    def to_public(self) -> dict[str, Any]:
        """Status as shown by ``GET /requests/{requestId}`` (our extension)."""
        return {
            "requestId": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 3),
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "expiresAt": self.expires_at,
            "webhook": self.webhook,
            "webhookStatus": self.webhook_status,
            "creditCost": self.credit_cost,
            "attempts": self.attempts,
        }


def job_from_row(d: dict[str, Any]) -> Job:
    """A ``Job`` from a store's job row (``params``/``result`` already decoded)."""
    return Job(
        id=d["job_id"],
        kind=d["kind"],
        status=d["status"],
        params=d["params"] or {},
        result=d["result"],
        error=d["error"],
        progress=float(d["progress"] or 0.0),
        created_at=d["created_at"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        expires_at=d["expires_at"],
        webhook=d["webhook"],
        webhook_status=d["webhook_status"],
        webhook_attempts=int(d["webhook_attempts"] or 0),
        key_id=d["key_id"],
        credit_cost=int(d["credit_cost"] or 0),
        attempts=int(d.get("attempts") or 0),
        heartbeat_at=d.get("heartbeat_at"),
        claim=d.get("claim"),
    )
