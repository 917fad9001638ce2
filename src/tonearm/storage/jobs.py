"""Records of background jobs (with their leases), temporary uploads and webhook secrets.

A job row is what users see of a request (status, progress, result, webhook delivery). A
running job is held by one execution, named by its random ``claim``; every write of an
execution is fenced by that claim (``claim=None`` fences on a running job with no claim,
as jobs written before leases existed), so a job is never finished twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tonearm.storage.dialect import SqlRunner

_ANY = object()  # no claim fence


def _json_or(text: Any, default: Any) -> Any:
    """A stored JSON column, or ``default`` when it cannot be read: one damaged row must
    not break every listing of the jobs (the watchdog's above all)."""
    if not text:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _job_row(row: Any) -> dict[str, Any]:
    d = dict(row)
    d["params"] = _json_or(d.get("params"), {})
    d["result"] = _json_or(d.get("result"), None)
    return d


class JobRecords(SqlRunner):
    """The ``jobs``, ``uploads`` and ``webhook_secrets`` tables (migrations 0002, 0004, 0009)."""

    # -- jobs -------------------------------------------------------------------------------
    def insert_job(
        self,
        job_id: str,
        kind: str,
        params: Mapping[str, Any],
        *,
        created_at: str,
        expires_at: str | None = None,
        webhook: str | None = None,
        key_id: int | None = None,
        status: str = "queued",
        credit_cost: int = 0,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, kind, status, params, webhook, key_id, credit_cost, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    kind,
                    status,
                    json.dumps(dict(params)),
                    webhook,
                    key_id,
                    credit_cost,
                    created_at,
                    expires_at,
                ),
            )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        rows = self.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return _job_row(rows[0]) if rows else None

    def list_jobs(
        self, *, key_id: int | None = None, status: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM jobs WHERE 1=1"
        args: list[Any] = []
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        return [_job_row(r) for r in self.execute(sql, args)]

    def count_jobs_by_status(self) -> dict[tuple[str, str], int]:
        """How many jobs of each (kind, status) there are (for /metrics)."""
        rows = self.execute("SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status")
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def job_status(self, job_id: str) -> str | None:
        rows = self.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        return str(rows[0][0]) if rows else None

    def job_exists(self, job_id: str) -> bool:
        return bool(self.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)))

    def claim_job(self, job_id: str, claim: str, now: str) -> bool:
        """Take a queued job: running, claimed by ``claim``, attempts + 1."""
        with self.transaction() as conn:
            n = conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, heartbeat_at = ?, "
                "claim = ?, attempts = attempts + 1, progress = 0 "
                "WHERE job_id = ? AND status = 'queued'",
                (now, now, claim, job_id),
            ).rowcount
        return bool(n)

    def job_held(self, job_id: str, claim: str | None) -> bool:
        """Whether the execution with ``claim`` still holds the running job."""
        if claim is None:
            sql = "SELECT 1 FROM jobs WHERE job_id = ? AND status = 'running' AND claim IS NULL"
            return bool(self.execute(sql, (job_id,)))
        sql = "SELECT 1 FROM jobs WHERE job_id = ? AND status = 'running' AND claim = ?"
        return bool(self.execute(sql, (job_id, claim)))

    def _update_job(self, job_id: str, cols: Mapping[str, Any], claim: Any = _ANY) -> bool:
        """Set columns; with ``claim``, only while that execution holds the running job."""
        sets = ", ".join(f"{k} = ?" for k in cols)
        sql = f"UPDATE jobs SET {sets} WHERE job_id = ?"
        args = [*cols.values(), job_id]
        if claim is None:
            sql += " AND status = 'running' AND claim IS NULL"
        elif claim is not _ANY:
            sql += " AND status = 'running' AND claim = ?"
            args.append(claim)
        with self.transaction() as conn:
            return bool(conn.execute(sql, args).rowcount)

    def renew_job_lease(self, job_id: str, claim: str | None, heartbeat_at: str) -> bool:
        return self._update_job(job_id, {"heartbeat_at": heartbeat_at}, claim)

    def set_job_progress(self, job_id: str, claim: str | None, progress: float) -> bool:
        return self._update_job(job_id, {"progress": progress}, claim)

    def finish_job(
        self,
        job_id: str,
        claim: str | None,
        *,
        status: str,
        result: Mapping[str, Any],
        finished_at: str,
        credit_cost: int,
        error: str | None = None,
    ) -> bool:
        """Succeed or fail the job held by ``claim``; False if that execution lost it."""
        cols: dict[str, Any] = {"status": status}
        if error is not None:
            cols["error"] = error
        cols.update(
            result=json.dumps(dict(result)),
            finished_at=finished_at,
            credit_cost=credit_cost,
        )
        if status == "succeeded":
            cols["progress"] = 1.0
        return self._update_job(job_id, cols, claim)

    def set_job_webhook(
        self, job_id: str, *, attempts: int | None = None, status: str | None = None
    ) -> None:
        cols: dict[str, Any] = {}
        if attempts is not None:
            cols["webhook_attempts"] = attempts
        if status is not None:
            cols["webhook_status"] = status
        if cols:
            self._update_job(job_id, cols)

    def requeue_job(self, job_id: str, claim: str | None, heartbeat_at: str | None) -> bool:
        """Back to the queue, only if nobody renewed or finished it since it was read
        (same claim, same heartbeat)."""
        cond = "claim IS NULL" if claim is None else "claim = ?"
        args: list[Any] = [job_id] + ([] if claim is None else [claim])
        hb = "heartbeat_at IS NULL" if heartbeat_at is None else "heartbeat_at = ?"
        if heartbeat_at is not None:
            args.append(heartbeat_at)
        with self.transaction() as conn:
            moved = conn.execute(
                "UPDATE jobs SET status = 'queued', claim = NULL, heartbeat_at = NULL, "
                f"progress = 0 WHERE job_id = ? AND status = 'running' AND {cond} AND {hb}",
                args,
            ).rowcount
        return bool(moved)

    def expired_jobs(self, now: str) -> list[str]:
        """Finished jobs whose results expired before ``now``."""
        rows = self.execute(
            "SELECT job_id FROM jobs WHERE expires_at IS NOT NULL AND expires_at < ? "
            "AND status IN ('succeeded', 'failed')",
            (now,),
        )
        return [str(r["job_id"]) for r in rows]

    def delete_job(self, job_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def job_credits(self, key_id: int, since: str) -> int:
        """Credits of the key's queued requests created since ``since`` (priced by the job)."""
        rows = self.execute(
            "SELECT COALESCE(SUM(credit_cost), 0) FROM jobs WHERE key_id = ? AND created_at >= ?",
            (key_id, since),
        )
        return int(rows[0][0] or 0)

    def recent_jobs(self, key_id: int, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.execute(
            "SELECT job_id, kind, status, progress, error, credit_cost, created_at, started_at, "
            "finished_at, webhook_status FROM jobs WHERE key_id = ? "
            "ORDER BY created_at DESC LIMIT ?",
            (key_id, limit),
        )
        return [dict(r) for r in rows]

    # -- uploads ----------------------------------------------------------------------------
    def insert_upload(
        self,
        token: str,
        *,
        key_id: int | None,
        filename: str,
        path: str,
        size: int,
        created_at: str,
        expires_at: str,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO uploads (token, key_id, filename, path, size, created_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, key_id, filename, path, size, created_at, expires_at),
            )

    def get_upload(self, token: str) -> dict[str, Any] | None:
        rows = self.execute("SELECT * FROM uploads WHERE token = ?", (token,))
        return dict(rows[0]) if rows else None

    def expired_uploads(self, now: str) -> list[tuple[str, str]]:
        """(token, stored path or blob key) of uploads that expired before ``now``."""
        rows = self.execute("SELECT token, path FROM uploads WHERE expires_at < ?", (now,))
        return [(str(r["token"]), str(r["path"])) for r in rows]

    def delete_upload_record(self, token: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM uploads WHERE token = ?", (token,))

    # -- webhook secrets --------------------------------------------------------------------
    def webhook_secret(self, key_id: int) -> str | None:
        rows = self.execute("SELECT secret FROM webhook_secrets WHERE key_id = ?", (key_id,))
        return str(rows[0]["secret"]) if rows else None

    def add_webhook_secret(self, key_id: int, secret: str, created_at: str) -> str:
        """Store ``secret`` unless the key has one already; returns the key's secret."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO webhook_secrets (key_id, secret, created_at) "
                "VALUES (?, ?, ?)",
                (key_id, secret, created_at),
            )
            row = conn.execute(
                "SELECT secret FROM webhook_secrets WHERE key_id = ?", (key_id,)
            ).fetchone()
        return str(row[0])
