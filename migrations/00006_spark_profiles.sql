-- What a sync has learned about each tenant's Spark: how it caps exports and
-- which dialect it speaks. A sync reads it to tell a complete export from
-- one cut short; doctor and status show it.

-- +goose Up
CREATE TABLE spark_profiles (
    tenant             text        PRIMARY KEY,
    honours_page_size  boolean,
    cap_rows           integer     CHECK (cap_rows > 0),
    max_rows           integer     NOT NULL DEFAULT 0 CHECK (max_rows >= 0),
    event_types_form   text        CHECK (event_types_form IN ('array', 'string')),
    folder_column      text        CHECK (folder_column IN ('folder_id', 'folderId')),
    one_job            boolean     NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE spark_profiles IS 'What syncs learned about each tenant''s Spark: its export cap and its dialect.';
COMMENT ON COLUMN spark_profiles.honours_page_size IS 'Whether an export stops at the page size asked for; null until seen.';
COMMENT ON COLUMN spark_profiles.cap_rows IS 'Rows at which an export was proven cut short (a hidden cap below the page size); null until found.';
COMMENT ON COLUMN spark_profiles.max_rows IS 'The most rows one export has returned: Spark''s cap is at least this.';
COMMENT ON COLUMN spark_profiles.event_types_form IS 'How Spark wants the event_types filter: a JSON array or a JSON-encoded string.';
COMMENT ON COLUMN spark_profiles.folder_column IS 'The search column Spark takes a folder filter under: folder_id or folderId.';
COMMENT ON COLUMN spark_profiles.one_job IS 'Spark runs one export job at a time for this tenant.';

-- +goose Down
DROP TABLE spark_profiles;
