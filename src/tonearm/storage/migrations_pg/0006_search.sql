-- 0006 (PostgreSQL): keyword search over music. SQLite uses an FTS5 table; here the same
-- columns with a generated tsvector and a GIN index (rank with ts_rank_cd). rowid is the
-- asset id, as FTS5's rowid is on SQLite.
CREATE TABLE search_fts (
    rowid       BIGINT PRIMARY KEY,
    name        TEXT,
    artist      TEXT,
    album       TEXT,
    genre       TEXT,
    tags        TEXT,
    description TEXT,
    sound       TEXT,
    lacks       TEXT,
    document    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(artist, '')), 'A')
        || setweight(to_tsvector('english', coalesce(album, '') || ' ' || coalesce(genre, '')
            || ' ' || coalesce(tags, '')), 'B')
        || setweight(to_tsvector('english', coalesce(description, '') || ' '
            || coalesce(sound, '')), 'C')
    ) STORED
);
CREATE INDEX search_fts_document ON search_fts USING GIN (document);
CREATE TABLE search_docs (
    asset_id BIGINT PRIMARY KEY,
    version  TEXT NOT NULL
);
CREATE INDEX search_assets_kind_updated ON assets(kind, updated_at);
CREATE INDEX search_analyses_name_created ON analyses(name, created_at);
