-- 0004 (PostgreSQL): background jobs, webhook secrets, temporary uploads; mirrors
-- migrations/0004_jobs.sql.
CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    params           TEXT NOT NULL DEFAULT '{}',
    result           TEXT,
    error            TEXT,
    progress         DOUBLE PRECISION NOT NULL DEFAULT 0,
    webhook          TEXT,
    webhook_status   TEXT,
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    key_id           BIGINT,
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
    key_id     BIGINT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE uploads (
    token      TEXT PRIMARY KEY,
    key_id     BIGINT,
    filename   TEXT NOT NULL,
    path       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX uploads_expires ON uploads(expires_at);
