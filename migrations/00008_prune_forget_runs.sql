-- Runs that remove rather than load: 'prune' (sparkevents prune: events,
-- rollup rows, runs and rejects past their retention) and 'forget'
-- (sparkevents forget: one person's events, rejects and rollup rows). Each
-- is recorded as a run, so etl_runs stays the one log of what changed the
-- data: rows_deleted is what it removed in all, details the count of each
-- table (and the bounds a prune used). A forget's row never names the
-- person: its source is 'forget' (and the reference given, a ticket
-- number), its details only counts.

-- +goose Up
ALTER TABLE etl_runs DROP CONSTRAINT etl_runs_kind_check;
ALTER TABLE etl_runs ADD CONSTRAINT etl_runs_kind_check CHECK (kind IN ('import', 'sync', 'backfill', 'prune', 'forget'));
ALTER TABLE etl_runs ADD COLUMN rows_deleted bigint NOT NULL DEFAULT 0;
ALTER TABLE etl_runs ADD COLUMN details jsonb;
COMMENT ON COLUMN etl_runs.rows_deleted IS 'Rows a prune or forget removed (events, rollup rows, runs and rejects); 0 for loads.';
COMMENT ON COLUMN etl_runs.details IS 'For a prune or forget: what it removed from each table, and a prune''s bounds. Never a person''s name or address.';

-- +goose Down
DELETE FROM etl_runs WHERE kind IN ('prune', 'forget');
ALTER TABLE etl_runs DROP COLUMN details;
ALTER TABLE etl_runs DROP COLUMN rows_deleted;
ALTER TABLE etl_runs DROP CONSTRAINT etl_runs_kind_check;
ALTER TABLE etl_runs ADD CONSTRAINT etl_runs_kind_check CHECK (kind IN ('import', 'sync', 'backfill'));
