-- 0006: keyword search over music (SQLite FTS5, BM25). Column sound: words the audio
-- analysis supports. Column lacks: what the metadata says a track does NOT have ("no drums").
-- Rows are kept in sync explicitly by tonearm.discovery.fts (the migration runner splits
-- statements at semicolons, so no triggers here).
CREATE VIRTUAL TABLE search_fts USING fts5(
    name, artist, album, genre, tags, description, sound, lacks,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- what each FTS row was built from (asset updated_at + description analysis time)
CREATE TABLE search_docs (
    asset_id INTEGER PRIMARY KEY,
    version  TEXT NOT NULL
);
-- cheap "did the catalog change?" checks at query time
CREATE INDEX search_assets_kind_updated ON assets(kind, updated_at);
CREATE INDEX search_analyses_name_created ON analyses(name, created_at);
