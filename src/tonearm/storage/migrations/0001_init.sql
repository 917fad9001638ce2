-- 0001: assets, per-asset analysis results, API keys
CREATE TABLE assets (
    asset_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('music', 'sfx')),
    name          TEXT NOT NULL DEFAULT '',
    artist        TEXT,
    album         TEXT,
    genre         TEXT,
    bpm           REAL,
    duration      REAL NOT NULL,
    description   TEXT,
    category      TEXT,
    subcategory   TEXT,
    tags          TEXT,
    creator_id    INTEGER,
    creator_name  TEXT,
    thumbnail_url TEXT,
    release_date  TEXT,
    label         TEXT,
    isrc          TEXT,
    audio_id      TEXT,
    extra         TEXT NOT NULL DEFAULT '{}',
    content_hash  TEXT NOT NULL UNIQUE,
    file_path     TEXT NOT NULL,
    source_path   TEXT,
    sample_rate   INTEGER,
    channels      INTEGER,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX assets_kind ON assets(kind);
CREATE INDEX assets_audio_id ON assets(audio_id);

CREATE TABLE analyses (
    asset_id   INTEGER NOT NULL REFERENCES assets(asset_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    data       TEXT NOT NULL DEFAULT '{}',
    blob       BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (asset_id, name)
);

CREATE TABLE api_keys (
    key_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    tier       TEXT NOT NULL DEFAULT 'free',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
