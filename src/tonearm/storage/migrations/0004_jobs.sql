-- 0004: background jobs (analyze, export, long scans, bulk ingest), their webhook delivery,
-- per-key webhook signing secrets and temporary uploads (Audjust POST /upload).
CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,            -- 32 lowercase alphanumerics (requestId)
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    params           TEXT NOT NULL DEFAULT '{}',
    result           TEXT,                        -- JSON, the payload delivered to the webhook
    error            TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    webhook          TEXT,
    webhook_status   TEXT,                        -- NULL | 'delivered' | 'failed: ...'
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    key_id           INTEGER,
    credit_cost      INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    expires_at       TEXT
);
CREATE INDEX jobs_status ON jobs(status);
CREATE INDEX jobs_key ON jobs(key_id, created_at);
CREATE INDEX jobs_expires ON jobs(expires_at);

CREATE TABLE webhook_secrets (
    key_id     INTEGER PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE uploads (
    token      TEXT PRIMARY KEY,
    key_id     INTEGER,
    filename   TEXT NOT NULL,
    path       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX uploads_expires ON uploads(expires_at);
