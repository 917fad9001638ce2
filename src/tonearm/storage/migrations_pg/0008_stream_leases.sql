-- 0008 (PostgreSQL): stream monitor leases; mirrors migrations/0008_stream_leases.sql.
CREATE TABLE audd_stream_leases (
    key_id       BIGINT NOT NULL,
    radio_id     BIGINT NOT NULL,
    owner        TEXT NOT NULL,
    expires_ms   BIGINT NOT NULL,
    generation   BIGINT NOT NULL DEFAULT 0,
    running      INTEGER NOT NULL DEFAULT 0,
    play_asset   TEXT,
    play_seen_ms BIGINT,
    PRIMARY KEY (key_id, radio_id),
    FOREIGN KEY (key_id, radio_id) REFERENCES audd_streams(key_id, radio_id) ON DELETE CASCADE
);
