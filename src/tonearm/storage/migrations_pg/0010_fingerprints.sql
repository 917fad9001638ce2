-- 0010 (PostgreSQL): the shared fingerprint index (TONEARM_FINGERPRINT_INDEX=postgres),
-- replacing 0001's per-posting `fingerprints` table, which nothing ever wrote.
--
-- fingerprint_postings: posting lists by hash, hash-partitioned. A row holds one hash's
-- postings packed as little-endian uint64 `asset_idx << 32 | frame` (8 bytes each): ingest
-- writes one row per (hash, asset) (`asset_idx` = that asset), compaction merges a hash's
-- rows into one (`asset_idx` = 0) and drops removed assets' postings, so the table holds
-- ~8 bytes per posting instead of a ~40-byte tuple per posting. With Citus, distribute it by
-- `hash` (SELECT create_distributed_table('fingerprint_postings', 'hash')) and make the two
-- small tables reference tables; every statement tonearm runs on them is Citus-compatible.
-- fingerprint_assets: the asset numbers (never reused); a removed asset stays as a tombstone
-- (deleted) until compaction has dropped its postings. fingerprint_state: one row, the
-- generation (bumped by every removal: nodes refresh their set of removed assets) and counts.
DROP TABLE IF EXISTS fingerprints;
CREATE SEQUENCE fingerprint_asset_idx START 1;
CREATE TABLE fingerprint_assets (
    asset_idx   BIGINT PRIMARY KEY,
    asset_id    TEXT NOT NULL,
    span_frames INTEGER NOT NULL,
    n_hashes    INTEGER NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX fingerprint_assets_live ON fingerprint_assets(asset_id) WHERE NOT deleted;
CREATE INDEX fingerprint_assets_dead ON fingerprint_assets(asset_idx) WHERE deleted;
CREATE TABLE fingerprint_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    gen         BIGINT NOT NULL DEFAULT 0,
    live        BIGINT NOT NULL DEFAULT 0,
    n_keys      BIGINT NOT NULL DEFAULT 0,
    initialized BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO fingerprint_state (id) VALUES (1);
CREATE TABLE fingerprint_postings (
    hash      BIGINT NOT NULL,
    asset_idx BIGINT NOT NULL,
    postings  BYTEA NOT NULL,
    PRIMARY KEY (hash, asset_idx)
) PARTITION BY HASH (hash);
-- postings are random bytes: no point trying to compress them
ALTER TABLE fingerprint_postings ALTER COLUMN postings SET STORAGE EXTERNAL;
CREATE TABLE fingerprint_postings_0 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE fingerprint_postings_1 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE fingerprint_postings_2 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE fingerprint_postings_3 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE fingerprint_postings_4 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE fingerprint_postings_5 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE fingerprint_postings_6 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE fingerprint_postings_7 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE fingerprint_postings_8 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE fingerprint_postings_9 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE fingerprint_postings_10 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE fingerprint_postings_11 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE fingerprint_postings_12 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE fingerprint_postings_13 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE fingerprint_postings_14 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE fingerprint_postings_15 PARTITION OF fingerprint_postings FOR VALUES WITH (MODULUS 16, REMAINDER 15);
