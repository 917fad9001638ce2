-- 0003: AudD stream monitoring: one callback URL per API key, the streams each key
-- monitors, and the recent events (song callbacks, health notifications) for /longpoll/.
CREATE TABLE audd_callback_urls (
    key_id     INTEGER PRIMARY KEY REFERENCES api_keys(key_id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE audd_streams (
    key_id            INTEGER NOT NULL REFERENCES api_keys(key_id) ON DELETE CASCADE,
    radio_id          INTEGER NOT NULL,
    url               TEXT NOT NULL,
    callbacks         TEXT,                      -- 'before' (at song start) or NULL (at song end)
    longpoll_category TEXT NOT NULL,             -- MD5(MD5(api_token) + str(radio_id))[:9]
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (key_id, radio_id)
);
CREATE INDEX audd_streams_category ON audd_streams(longpoll_category);

CREATE TABLE audd_stream_events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    category     TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,               -- strictly increasing per category
    payload      TEXT NOT NULL                   -- the callback body, JSON
);
CREATE INDEX audd_stream_events_category ON audd_stream_events(category, timestamp_ms);
