-- Hash IDs lead with the event's time. An event without a Spark ID is keyed
-- by a hash of its content; its ID was "h:" and 32 hex digits, and is now
-- "h:", the UTC time to the microsecond, ":" and the same 32 digits, e.g.
-- h:20260102T030405.678000Z:1f0e3dad99908345f7439f8ffabdffc4.
--
-- Why: a random key lands anywhere in the primary key index, so each new
-- event cost PostgreSQL a descent to a leaf that was rarely in the CPU's
-- caches and a page split in the middle of the index. Exports come in time
-- order, so time-ordered keys go to the right edge instead; a million-row
-- import into the indexed table took about a third less of the server's
-- time (bench/README.md). The time is part of the hashed content already,
-- so an event keeps the same identity.
--
-- The rewrite below must build the time exactly as transform's hashID does
-- (UTC, microseconds cut, not rounded, as timestamptz stores them), or a
-- re-download would store an event twice; pipeline's tests check that it
-- does. It updates every hashed row once, in one transaction: on a big table
-- run it (sparkevents migrate up) when no load is due, as it holds the rows'
-- locks until it ends, and expect the table and its indexes to take up to
-- twice their space until autovacuum has passed (or run VACUUM after it).

-- +goose Up
UPDATE spark_events
SET event_id = 'h:' || to_char(event_time AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z:"') || substr(event_id, 3)
WHERE event_id ~ '^h:[0-9a-f]{32}$';
-- A writer of an earlier release, still scheduled somewhere, knows nothing
-- of this migration and would store every hashed event again under its old
-- ID; this makes its load fail instead. The length test goes first so the
-- pattern runs only on IDs of the old length.
ALTER TABLE spark_events ADD CONSTRAINT spark_events_hash_id_has_time
    CHECK (length(event_id) <> 34 OR event_id !~ '^h:[0-9a-f]{32}$');
COMMENT ON CONSTRAINT spark_events_hash_id_has_time ON spark_events IS 'Refuses hash IDs without the time (migration 00003): they come from a sparkevents older than the schema.';
COMMENT ON TABLE spark_events IS 'Spark user events, one row per (tenant, event_id); event_id is Spark''s ID, or h:<UTC time>:<hash of the normalized row>.';

-- +goose Down
ALTER TABLE spark_events DROP CONSTRAINT spark_events_hash_id_has_time;
UPDATE spark_events
SET event_id = 'h:' || right(event_id, 32)
WHERE event_id ~ '^h:[0-9]{8}T[0-9]{6}\.[0-9]{6}Z:[0-9a-f]{32}$';
COMMENT ON TABLE spark_events IS 'Spark user events, one row per (tenant, event_id); event_id is Spark''s ID or a hash of the normalized row.';
