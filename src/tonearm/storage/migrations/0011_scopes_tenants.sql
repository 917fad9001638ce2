-- 0010: key scopes and tenants (accounts).
-- scopes: comma-separated subset of read, write, admin. Keys made before this migration
-- could already read and change the catalog, so they keep read and write.
-- tenant: the account a key (and the assets it uploads) belongs to; NULL is the operator,
-- whose assets form the shared catalog every account sees. Existing keys and assets are the
-- operator's.
-- A tenant's asset stores its content hash as '<sha256>@<tenant>', so the same audio can be
-- in the shared catalog and in any number of accounts (the column keeps its UNIQUE
-- constraint: SQLite cannot relax it without rebuilding the table); the store strips the
-- suffix when it reads a row.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read';
UPDATE api_keys SET scopes = 'read,write';
ALTER TABLE api_keys ADD COLUMN tenant TEXT;
ALTER TABLE assets ADD COLUMN tenant TEXT;
CREATE INDEX assets_tenant ON assets(tenant);
