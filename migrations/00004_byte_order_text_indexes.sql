-- The (event_type, event_time), (user_name, event_time) and (service_name,
-- event_time) indexes compare their text column byte by byte
-- (text_pattern_ops) instead of by the database's collation.
--
-- Why: on a database whose collation is not C (en_US.UTF-8 is the default of
-- most installations and managed services), each comparison of a B-tree
-- descent went through the collation's rules, and every loaded row descends
-- these three indexes: a million-row import cost PostgreSQL about a third
-- more CPU than on a C database, and with byte order it costs about what it
-- does there (bench/README.md, "Collation"). And event_type LIKE 'Delete%'
-- (sql/who_deleted_what.sql) could not use the type index under such a
-- collation, so it read the whole table. Byte order serves what these
-- indexes are for: equality on the text column, the time order within it,
-- and LIKE prefixes. It does not serve ordering or ranges on the text column
-- itself (ORDER BY user_name), which no view or query of sql/ asks of an
-- index. On a C database only the operator class changes.
--
-- The new indexes are built before the old ones are dropped, in one
-- transaction (about 5 s per million events): loads wait for the builds,
-- reads do not until the drop at the end. On a big table run
-- sparkevents migrate up when no load is due.

-- +goose Up
CREATE INDEX spark_events_type_time_bytes_idx ON spark_events (event_type text_pattern_ops, event_time);
CREATE INDEX spark_events_user_time_bytes_idx ON spark_events (user_name text_pattern_ops, event_time);
CREATE INDEX spark_events_service_time_bytes_idx ON spark_events (service_name text_pattern_ops, event_time);
DROP INDEX spark_events_type_time_idx, spark_events_user_time_idx, spark_events_service_time_idx;
ALTER INDEX spark_events_type_time_bytes_idx RENAME TO spark_events_type_time_idx;
ALTER INDEX spark_events_user_time_bytes_idx RENAME TO spark_events_user_time_idx;
ALTER INDEX spark_events_service_time_bytes_idx RENAME TO spark_events_service_time_idx;
COMMENT ON INDEX spark_events_type_time_idx IS 'Byte order on event_type (migration 00004): serves equality and LIKE prefixes under any collation.';
COMMENT ON INDEX spark_events_user_time_idx IS 'Byte order on user_name (migration 00004): serves a user''s events in time order under any collation.';
COMMENT ON INDEX spark_events_service_time_idx IS 'Byte order on service_name (migration 00004): serves a service''s events in time order under any collation.';

-- +goose Down
CREATE INDEX spark_events_type_time_collated_idx ON spark_events (event_type, event_time);
CREATE INDEX spark_events_user_time_collated_idx ON spark_events (user_name, event_time);
CREATE INDEX spark_events_service_time_collated_idx ON spark_events (service_name, event_time);
DROP INDEX spark_events_type_time_idx, spark_events_user_time_idx, spark_events_service_time_idx;
ALTER INDEX spark_events_type_time_collated_idx RENAME TO spark_events_type_time_idx;
ALTER INDEX spark_events_user_time_collated_idx RENAME TO spark_events_user_time_idx;
ALTER INDEX spark_events_service_time_collated_idx RENAME TO spark_events_service_time_idx;
