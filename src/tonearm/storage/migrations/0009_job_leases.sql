-- 0009: job leases. The worker running a job renews heartbeat_at every few seconds; the
-- watchdog re-queues a 'running' job whose heartbeat is older than the lease (its worker
-- died) up to a number of attempts, then fails it with the reason. ``claim`` is the token
-- of the execution that holds the lease: every write of that execution is fenced by it, so
-- a worker that lost its lease can never overwrite the result of the one that took over.
ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN claim TEXT;
