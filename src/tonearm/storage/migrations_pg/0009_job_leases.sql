-- 0009 (PostgreSQL): job leases; mirrors migrations/0009_job_leases.sql.
ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claim TEXT;
