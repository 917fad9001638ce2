-- requires: vector
-- 0100 (PostgreSQL, only where the pgvector extension is installed): embeddings per asset
-- and space (e.g. 'aisfx' 512-d, 'music' DSP features), cosine HNSW per space. Applied on
-- the first migrate that finds the extension; skipped (and retried later) otherwise.
-- in public (on the search path of every schema), so per-schema catalogs share it
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
CREATE TABLE asset_vectors (
    asset_id  BIGINT NOT NULL REFERENCES assets(asset_id) ON DELETE CASCADE,
    space     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (asset_id, space)
);
CREATE INDEX asset_vectors_space_kind ON asset_vectors(space, kind);
