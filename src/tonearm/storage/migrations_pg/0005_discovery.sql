-- 0005 (PostgreSQL): discovery change detection; mirrors migrations/0005_discovery.sql.
CREATE INDEX IF NOT EXISTS assets_updated_at ON assets(updated_at);
CREATE INDEX IF NOT EXISTS analyses_name ON analyses(name);
