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
-- run it when no load is due, as it holds the rows' locks until it ends.

-- +goose Up
UPDATE spark_events
SET event_id = 'h:' || to_char(event_time AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z:"') || substr(event_id, 3)
WHERE event_id ~ '^h:[0-9a-f]{32}$';
COMMENT ON TABLE spark_events IS 'Spark user events, one row per (tenant, event_id); event_id is Spark''s ID, or h:<UTC time>:<hash of the normalized row>.';

-- +goose Down
UPDATE spark_events
SET event_id = 'h:' || right(event_id, 32)
WHERE event_id ~ '^h:[0-9]{8}T[0-9]{6}\.[0-9]{6}Z:[0-9a-f]{32}$';
COMMENT ON TABLE spark_events IS 'Spark user events, one row per (tenant, event_id); event_id is Spark''s ID or a hash of the normalized row.';
