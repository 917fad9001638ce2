-- 0008: stream monitor leases. Each stream is monitored by exactly one process (an API
-- server or a `tonearm worker`): the holder of its lease, who renews expires_ms (Unix ms)
-- every few seconds. Any process may take over a lease that has expired (its holder died)
-- or was released (its holder shut down); generation counts the takeovers and fences the
-- old holder's writes. running: the holder is connected and reading audio (getStreams).
-- play_asset / play_seen_ms: the song playing at the last heartbeat, so the next holder
-- does not announce a song already announced before the handover.
CREATE TABLE audd_stream_leases (
    key_id       INTEGER NOT NULL,
    radio_id     INTEGER NOT NULL,
    owner        TEXT NOT NULL,
    expires_ms   INTEGER NOT NULL,
    generation   INTEGER NOT NULL DEFAULT 0,
    running      INTEGER NOT NULL DEFAULT 0,
    play_asset   TEXT,
    play_seen_ms INTEGER,
    PRIMARY KEY (key_id, radio_id),
    FOREIGN KEY (key_id, radio_id) REFERENCES audd_streams(key_id, radio_id) ON DELETE CASCADE
);
