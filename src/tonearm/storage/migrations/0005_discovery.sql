-- 0005: discovery. Cheap change detection for the in-process vector index
-- (MAX(updated_at) by index seek) and fast lookup of one analysis kind.
CREATE INDEX IF NOT EXISTS assets_updated_at ON assets(updated_at);
CREATE INDEX IF NOT EXISTS analyses_name ON analyses(name);
