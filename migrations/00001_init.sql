-- The tables live in the schema the tool was told to use (--schema); the
-- connection's search_path points there, so names here are unqualified.

-- +goose Up
CREATE TABLE etl_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('import', 'sync', 'backfill')),
    tenant          text        NOT NULL,
    window_start    timestamptz,
    window_end      timestamptz,
    source          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    rows_read       bigint      NOT NULL DEFAULT 0,
    rows_inserted   bigint      NOT NULL DEFAULT 0,
    rows_updated    bigint      NOT NULL DEFAULT 0,
    rows_unchanged  bigint      NOT NULL DEFAULT 0,
    rows_rejected   bigint      NOT NULL DEFAULT 0,
    error           text
);
CREATE INDEX etl_runs_tenant_started_idx ON etl_runs (tenant, started_at DESC);
COMMENT ON TABLE etl_runs IS 'One row per load of one source (a workbook file or an export job) of one tenant.';

-- No foreign keys to etl_runs from the event table: lineage is informative,
-- and a per-row key check would slow million-row loads.
CREATE TABLE spark_events (
    tenant           text        NOT NULL,
    event_id         text        NOT NULL,
    event_time       timestamptz NOT NULL,
    event_type       text        NOT NULL,
    user_name        text,
    folder_id        text,
    folder_name      text,
    service_name     text,
    service_version  text,
    description      text,
    ip_address       text,
    attributes       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    first_run_id     bigint      NOT NULL,
    last_run_id      bigint      NOT NULL,
    loaded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, event_id)
);
-- Every index costs each loaded row an insertion; these are the ones the
-- analyst queries use (bench/README.md has the measured cost of each). Time
-- ranges are served by (event_time) with or without a tenant filter, so there
-- is no (tenant, event_time): it cost more per row than (event_time) and,
-- without skip scans, serves no query that (event_time) does not.
CREATE INDEX spark_events_time_idx ON spark_events (event_time);
CREATE INDEX spark_events_type_time_idx ON spark_events (event_type, event_time);
CREATE INDEX spark_events_user_time_idx ON spark_events (user_name, event_time);
CREATE INDEX spark_events_service_time_idx ON spark_events (service_name, event_time);
COMMENT ON TABLE spark_events IS 'Spark user events, one row per (tenant, event_id); event_id is Spark''s ID or a hash of the normalized row.';
COMMENT ON COLUMN spark_events.attributes IS 'Workbook columns that map to no field, keyed by their header.';
COMMENT ON COLUMN spark_events.first_run_id IS 'etl_runs.run_id of the load that inserted the row.';
COMMENT ON COLUMN spark_events.last_run_id IS 'etl_runs.run_id of the load that last changed the row.';

CREATE TABLE etl_rejects (
    run_id      bigint NOT NULL REFERENCES etl_runs (run_id) ON DELETE CASCADE,
    source      text   NOT NULL,
    sheet       text   NOT NULL,
    row_number  int    NOT NULL,
    raw         jsonb  NOT NULL,
    reason      text   NOT NULL,
    PRIMARY KEY (run_id, source, sheet, row_number)
);
COMMENT ON TABLE etl_rejects IS 'Workbook rows that could not become events, with the reason.';

CREATE TABLE etl_watermarks (
    tenant       text        NOT NULL,
    stream       text        NOT NULL DEFAULT 'events',
    watermark    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    last_run_id  bigint      REFERENCES etl_runs (run_id),
    PRIMARY KEY (tenant, stream)
);
COMMENT ON TABLE etl_watermarks IS 'How far each tenant''s events are stored: every event before watermark has been loaded.';

-- +goose Down
DROP TABLE etl_watermarks;
DROP TABLE etl_rejects;
DROP TABLE spark_events;
DROP TABLE etl_runs;
