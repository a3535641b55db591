-- When a probe last measured a tenant's exports. A sync trusts an export
-- smaller than the largest one seen (max_rows) or than a learned cap
-- (cap_rows), which holds as long as Spark's cap stays where it was: a cap
-- lowered later would let exports cut at it pass as complete. So a sync
-- forgets both a week after they were proven and probes again (one export
-- of the past year, counted, never stored): cheap, and it bounds how long a
-- lowered cap can go unnoticed. Profiles from before this migration are
-- probed at their next sync.

-- +goose Up
ALTER TABLE spark_profiles ADD COLUMN proven_at timestamptz;
COMMENT ON COLUMN spark_profiles.proven_at IS 'When a probe export last measured max_rows and cap_rows; a sync probes again a week later. Null: at the next sync.';

-- +goose Down
ALTER TABLE spark_profiles DROP COLUMN proven_at;
