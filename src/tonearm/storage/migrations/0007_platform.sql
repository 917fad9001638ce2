-- 0007: per-key limit overrides (NULL: the tier's value) and usage per request.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_min INTEGER;
ALTER TABLE api_keys ADD COLUMN monthly_credits INTEGER;

CREATE TABLE api_usage (
    usage_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id      INTEGER NOT NULL,
    ts          TEXT NOT NULL,                -- UTC, ISO 8601 with ms and Z (sorts as text)
    request_id  TEXT,
    method      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,                -- the route, e.g. /developer/v1/similar/{id}
    path        TEXT NOT NULL,
    family      TEXT NOT NULL,                -- audioscape | audjust | audd
    status      INTEGER NOT NULL,             -- HTTP status
    outcome     TEXT NOT NULL,                -- ok | error | rate_limited | usage_limited
    error       TEXT,                         -- e.g. AudD error code, or the 4xx/5xx message
    credits     INTEGER NOT NULL DEFAULT 0,
    duration_ms REAL NOT NULL
);
CREATE INDEX api_usage_key_ts ON api_usage(key_id, ts);
