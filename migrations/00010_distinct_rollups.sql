-- Distinct users per type and per folder, and distinct services per
-- folder, kept by the rollup triggers: the views daily_event_counts and
-- folder_activity read rollups instead of counting distinct names over
-- every event of their days (7.6 s and 9.6 s for a tenant's whole
-- history at 10M events, 321 ms and 403 ms for 30 days; bench/README.md,
-- "Distinct counts kept by the triggers").
--
--   rollup_daily_events.user_counts  per (tenant, UTC day, event type):
--                                    each user's events, {"ana@…": 3}
--   rollup_daily_events.users        its number of keys: distinct users
--   rollup_daily_folders             per (tenant, UTC day, folder): what
--                                    folder_activity shows, with the
--                                    users' and services' counts
--
-- A distinct count cannot be summed, so each bucket keeps the counts it is
-- counted from, as a map whose keys are its members: a statement adds its
-- rows' counts key by key, a key whose count drops to 0 goes, and the
-- distinct count is the number of keys (a stored generated column, so a
-- reader never opens the map). The upsert's row lock makes concurrent
-- writers add up right. A bucket holds at most its tenant's users (or
-- services) of one day; a table keyed (tenant, day, type, user) instead
-- would have held 5.9M rows at bench/fill's 10M events, one per folder as
-- many again. Folders are keyed '' for NULL, as in rollup_daily_services:
-- the loader never stores an empty string, and the view turns '' back into
-- NULL.
--
-- The functions of migration 00007 are replaced whole: the rows waiting
-- for the rollups now carry folder_id, in a temporary table of another
-- name (sparkevents_rollup_rows), so a session that made the old one
-- before this migration does not feed it the new shape.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION spark_events_rollup_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
SELECT (a || coalesce(jsonb_object_agg(k, n) FILTER (WHERE n <> 0), '{}'))
       - coalesce(array_agg(k) FILTER (WHERE n = 0), '{}')
FROM (SELECT key, coalesce((a ->> key)::bigint, 0) + value::bigint FROM jsonb_each_text(b)) s(k, n)
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_add(jsonb, jsonb) IS 'Adds map b of counts to map a key by key, dropping the keys whose sum is 0; reads only b''s keys of a.';
CREATE AGGREGATE spark_events_rollup_sum(jsonb) (SFUNC = spark_events_rollup_add, STYPE = jsonb, INITCOND = '{}');
COMMENT ON AGGREGATE spark_events_rollup_sum(jsonb) IS 'Sums maps of counts key by key: what merges two buckets (forget renaming a folder).';
-- +goose StatementBegin
CREATE FUNCTION spark_events_rollup_keys(m jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT count(*) FROM jsonb_object_keys(m) $fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_keys(jsonb) IS 'The number of keys of a map of counts: the distinct members of a rollup bucket.';

ALTER TABLE rollup_daily_events
    ADD COLUMN user_counts jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN users bigint GENERATED ALWAYS AS (spark_events_rollup_keys(user_counts)) STORED;
COMMENT ON COLUMN rollup_daily_events.user_counts IS 'Each user''s events of the bucket, by user name (events without a user are not counted): {"ana@example.com": 3} (migration 00010).';
COMMENT ON COLUMN rollup_daily_events.users IS 'Distinct user names among the events: the keys of user_counts (migration 00010).';

CREATE TABLE rollup_daily_folders (
    tenant              text        NOT NULL,
    day                 date        NOT NULL,
    folder_id           text        NOT NULL,
    folder_name         text        NOT NULL,
    events              bigint      NOT NULL,
    publishes           bigint      NOT NULL,
    deletions           bigint      NOT NULL,
    permission_changes  bigint      NOT NULL,
    last_event          timestamptz NOT NULL,
    user_counts         jsonb       NOT NULL,
    service_counts      jsonb       NOT NULL,
    users               bigint      GENERATED ALWAYS AS (spark_events_rollup_keys(user_counts)) STORED,
    services            bigint      GENERATED ALWAYS AS (spark_events_rollup_keys(service_counts)) STORED,
    PRIMARY KEY (tenant, day, folder_id, folder_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_folders IS 'Per tenant, UTC day and folder ('''' for NULL; events with neither a folder ID nor a name are not here): events, publishes, deletions, permission changes, the last event, and each user''s and service''s events, whose keys count the distinct users and services. Kept up by triggers on spark_events (migration 00010); folder_activity reads it.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_pending() RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_rollup_rows') IS NULL THEN
        CREATE TEMP TABLE sparkevents_rollup_rows (
            tenant text, event_time timestamptz, event_type text, user_name text,
            folder_id text, folder_name text, service_name text, sign smallint
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_apply(op text) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    delta CONSTANT text := 'SELECT tenant, event_time, (event_time AT TIME ZONE ''UTC'')::date AS day, event_type, user_name, '
        'coalesce(folder_id, '''') AS folder_id, coalesce(folder_name, '''') AS folder_name, '
        '(folder_id <> '''' OR folder_name <> '''') AS in_folder, service_name, '
        'event_type IN (''SparkLogin'', ''CALogin'') AS login, sign FROM pg_temp.sparkevents_rollup_rows';
BEGIN
    -- Apply the deltas. Keys are sorted, so two statements on the same
    -- buckets lock them in the same order. A count may come in negative
    -- (which is why the counts have no CHECK: PostgreSQL checks the row
    -- proposed for insertion before it finds the conflict), and a bucket
    -- only left by rows proposes first and last times of +/-infinity, which
    -- least and greatest leave alone. A bucket's map of members changes
    -- only where a member's count does.
    -- One statement for both, so the statement's rows are read once.
    EXECUTE format($q$
        WITH d AS MATERIALIZED (%s),
        counted AS (
        INSERT INTO rollup_daily_events AS r (tenant, day, event_type, events, user_counts)
        SELECT e.tenant, e.day, e.event_type, e.events, coalesce(u.counts, '{}')
        FROM (SELECT tenant, day, event_type, sum(sign) AS events
              FROM d
              GROUP BY 1, 2, 3
              HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0) e
        LEFT JOIN (SELECT tenant, day, event_type, jsonb_object_agg(user_name, n) AS counts
                   FROM (SELECT tenant, day, event_type, user_name, sum(sign) AS n
                         FROM d WHERE user_name IS NOT NULL
                         GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0) x
                   GROUP BY 1, 2, 3) u ON u.tenant = e.tenant AND u.day = e.day AND u.event_type = e.event_type
        ORDER BY 1, 2, 3
        ON CONFLICT (tenant, day, event_type) DO UPDATE SET
            events = r.events + excluded.events,
            user_counts = CASE WHEN excluded.user_counts = '{}' THEN r.user_counts
                               ELSE spark_events_rollup_add(r.user_counts, excluded.user_counts) END)
        INSERT INTO rollup_daily_folders AS r (tenant, day, folder_id, folder_name, events, publishes, deletions,
                                               permission_changes, last_event, user_counts, service_counts)
        SELECT c.tenant, c.day, c.folder_id, c.folder_name, c.events, c.publishes, c.deletions, c.permission_changes,
               c.last_event, coalesce(u.counts, '{}'), coalesce(s.counts, '{}')
        FROM (SELECT tenant, day, folder_id, folder_name, sum(sign) AS events,
                     coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0) AS publishes,
                     coalesce(sum(sign) FILTER (WHERE event_type LIKE 'Delete%%'), 0) AS deletions,
                     coalesce(sum(sign) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')), 0) AS permission_changes,
                     coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity') AS last_event
              FROM d WHERE in_folder
              GROUP BY 1, 2, 3, 4
              HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0) c
        LEFT JOIN (SELECT tenant, day, folder_id, folder_name, jsonb_object_agg(user_name, n) AS counts
                   FROM (SELECT tenant, day, folder_id, folder_name, user_name, sum(sign) AS n
                         FROM d WHERE in_folder AND user_name IS NOT NULL
                         GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0) x
                   GROUP BY 1, 2, 3, 4) u
               ON u.tenant = c.tenant AND u.day = c.day AND u.folder_id = c.folder_id AND u.folder_name = c.folder_name
        LEFT JOIN (SELECT tenant, day, folder_id, folder_name, jsonb_object_agg(service_name, n) AS counts
                   FROM (SELECT tenant, day, folder_id, folder_name, service_name, sum(sign) AS n
                         FROM d WHERE in_folder AND service_name IS NOT NULL
                         GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0) x
                   GROUP BY 1, 2, 3, 4) s
               ON s.tenant = c.tenant AND s.day = c.day AND s.folder_id = c.folder_id AND s.folder_name = c.folder_name
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, day, folder_id, folder_name) DO UPDATE SET
            events = r.events + excluded.events,
            publishes = r.publishes + excluded.publishes,
            deletions = r.deletions + excluded.deletions,
            permission_changes = r.permission_changes + excluded.permission_changes,
            last_event = greatest(r.last_event, excluded.last_event),
            user_counts = CASE WHEN excluded.user_counts = '{}' THEN r.user_counts
                               ELSE spark_events_rollup_add(r.user_counts, excluded.user_counts) END,
            service_counts = CASE WHEN excluded.service_counts = '{}' THEN r.service_counts
                                  ELSE spark_events_rollup_add(r.service_counts, excluded.service_counts) END
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_daily_users AS r (tenant, day, user_name, events, logins, first_seen, last_seen, last_login)
        SELECT tenant, day, user_name, sum(sign), coalesce(sum(sign) FILTER (WHERE login), 0),
               coalesce(min(event_time) FILTER (WHERE sign > 0), 'infinity'),
               coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity'),
               max(event_time) FILTER (WHERE sign > 0 AND login)
        FROM (%s) d
        WHERE user_name IS NOT NULL
        GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3
        ON CONFLICT (tenant, day, user_name) DO UPDATE SET
            events = r.events + excluded.events,
            logins = r.logins + excluded.logins,
            first_seen = least(r.first_seen, excluded.first_seen),
            last_seen = greatest(r.last_seen, excluded.last_seen),
            last_login = greatest(r.last_login, excluded.last_login)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_users AS r (tenant, user_name, events, first_seen, last_seen)
        SELECT tenant, user_name, sum(sign),
               coalesce(min(event_time) FILTER (WHERE sign > 0), 'infinity'),
               coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity')
        FROM (%s) d
        WHERE user_name IS NOT NULL
        GROUP BY 1, 2
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2
        ON CONFLICT (tenant, user_name) DO UPDATE SET
            events = r.events + excluded.events,
            first_seen = least(r.first_seen, excluded.first_seen),
            last_seen = greatest(r.last_seen, excluded.last_seen)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_daily_services AS r (tenant, day, service_name, folder_name, user_name, publishes, updates, last_published)
        SELECT tenant, day, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
               coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0),
               coalesce(sum(sign) FILTER (WHERE event_type = 'UpdateEngine'), 0),
               max(event_time) FILTER (WHERE sign > 0 AND event_type = 'PublishEngine')
        FROM (%s) d
        WHERE event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (tenant, day, service_name, folder_name, user_name) DO UPDATE SET
            publishes = r.publishes + excluded.publishes,
            updates = r.updates + excluded.updates,
            last_published = greatest(r.last_published, excluded.last_published)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_service_users AS r (tenant, service_name, folder_name, user_name, publishes, updates, last_published)
        SELECT tenant, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
               coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0),
               coalesce(sum(sign) FILTER (WHERE event_type = 'UpdateEngine'), 0),
               max(event_time) FILTER (WHERE sign > 0 AND event_type = 'PublishEngine')
        FROM (%s) d
        WHERE event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, service_name, folder_name, user_name) DO UPDATE SET
            publishes = r.publishes + excluded.publishes,
            updates = r.updates + excluded.updates,
            last_published = greatest(r.last_published, excluded.last_published)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_hourly_logins AS r (tenant, day, hour, user_name, logins)
        SELECT tenant, day, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint, coalesce(user_name, ''), sum(sign)
        FROM (%s) d
        WHERE login
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, day, hour, user_name) DO UPDATE SET logins = r.logins + excluded.logins
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_login_hours AS r (tenant, weekday, hour, user_name, logins)
        SELECT tenant, extract(isodow FROM event_time AT TIME ZONE 'UTC')::smallint,
               extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint, coalesce(user_name, ''), sum(sign)
        FROM (%s) d
        WHERE login
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, weekday, hour, user_name) DO UPDATE SET logins = r.logins + excluded.logins
        $q$, delta);
    IF op = 'INSERT' THEN
        RETURN;
    END IF;

    -- Rows left a bucket: drop the buckets they emptied, and read again the
    -- times of those whose first or last time a leaving row held.
    EXECUTE format($q$
        DELETE FROM rollup_daily_events r
        USING (SELECT DISTINCT tenant, day, event_type FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.event_type = d.event_type AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_daily_users r
        USING (SELECT DISTINCT tenant, day, user_name FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.user_name = d.user_name AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_daily_users r
        SET (first_seen, last_seen, last_login) = (
            SELECT coalesce(min(e.event_time), r.first_seen), coalesce(max(e.event_time), r.last_seen),
                   max(e.event_time) FILTER (WHERE e.event_type IN ('SparkLogin', 'CALogin'))
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.user_name = r.user_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC')
        FROM (SELECT tenant, day, user_name, min(event_time) AS lo, max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND user_name IS NOT NULL GROUP BY 1, 2, 3) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.user_name = d.user_name
          AND (d.lo <= r.first_seen OR d.hi >= r.last_seen OR d.hi >= r.last_login)
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_users r
        USING (SELECT DISTINCT tenant, user_name FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.user_name = d.user_name AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_users r
        SET (first_seen, last_seen) = (
            SELECT coalesce(min(e.event_time), r.first_seen), coalesce(max(e.event_time), r.last_seen)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.user_name = r.user_name)
        FROM (SELECT tenant, user_name, min(event_time) AS lo, max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND user_name IS NOT NULL GROUP BY 1, 2) d
        WHERE r.tenant = d.tenant AND r.user_name = d.user_name
          AND (d.lo <= r.first_seen OR d.hi >= r.last_seen)
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_daily_services r
        USING (SELECT DISTINCT tenant, day, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> '') d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND r.publishes + r.updates = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_daily_services r
        SET last_published = CASE WHEN r.publishes > 0 THEN coalesce((
            SELECT max(e.event_time)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC'), r.last_published) END
        FROM (SELECT tenant, day, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name,
                     max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND event_type = 'PublishEngine' AND service_name <> '' GROUP BY 1, 2, 3, 4, 5) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND d.hi >= r.last_published
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_service_users r
        USING (SELECT DISTINCT tenant, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> '') d
        WHERE r.tenant = d.tenant AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND r.publishes + r.updates = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_service_users r
        SET last_published = CASE WHEN r.publishes > 0 THEN coalesce((
            SELECT e.event_time
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name
            ORDER BY e.event_time DESC LIMIT 1), r.last_published) END
        FROM (SELECT tenant, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name,
                     max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND event_type = 'PublishEngine' AND service_name <> '' GROUP BY 1, 2, 3, 4) d
        WHERE r.tenant = d.tenant AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND d.hi >= r.last_published
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_hourly_logins r
        USING (SELECT DISTINCT tenant, day, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint AS hour, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND login) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.hour = d.hour AND r.user_name = d.user_name AND r.logins = 0
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_login_hours r
        USING (SELECT DISTINCT tenant, extract(isodow FROM event_time AT TIME ZONE 'UTC')::smallint AS weekday,
                      extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint AS hour, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND login) d
        WHERE r.tenant = d.tenant AND r.weekday = d.weekday AND r.hour = d.hour AND r.user_name = d.user_name AND r.logins = 0
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_daily_folders r
        USING (SELECT DISTINCT tenant, day, folder_id, folder_name FROM (%s) d WHERE sign < 0 AND in_folder) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.folder_id = d.folder_id AND r.folder_name = d.folder_name AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_daily_folders r
        SET last_event = coalesce((
            SELECT max(e.event_time)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND coalesce(e.folder_id, '') = r.folder_id AND coalesce(e.folder_name, '') = r.folder_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC'), r.last_event)
        FROM (SELECT tenant, day, folder_id, folder_name, max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND in_folder GROUP BY 1, 2, 3, 4) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.folder_id = d.folder_id AND r.folder_name = d.folder_name
          AND d.hi >= r.last_event
        $q$, delta);
    RETURN;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_apply(text) IS 'Applies the signed rows of pg_temp.sparkevents_rollup_rows to the rollup_* tables; op INSERT skips the clean-up only removals need.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_flush() RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_rollup_rows') IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM pg_temp.sparkevents_rollup_rows LIMIT 1;
    IF FOUND THEN
        PERFORM spark_events_rollup_apply('INSERT');
        TRUNCATE pg_temp.sparkevents_rollup_rows;
    END IF;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_flush() IS 'Applies the inserts deferred under sparkevents.defer_rollups to the rollup_* tables (load.FlushRollups).';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    cols CONSTANT text := 'tenant, event_time, event_type, user_name, folder_id, folder_name, service_name';
    delta text;
    same CONSTANT text := 'WHERE n.tenant = o.tenant AND n.event_id = o.event_id AND (n.event_time, n.event_type, n.user_name, n.folder_id, n.folder_name, n.service_name) IS NOT DISTINCT FROM (o.event_time, o.event_type, o.user_name, o.folder_id, o.folder_name, o.service_name)';
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sparkevents.keep_rollups', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM spark_events_rollup_pending();
    IF TG_OP = 'INSERT' AND current_setting('sparkevents.defer_rollups', true) = 'on' THEN
        INSERT INTO pg_temp.sparkevents_rollup_rows SELECT tenant, event_time, event_type, user_name, folder_id, folder_name, service_name, 1 FROM new_rows;
        RETURN NULL;
    END IF;
    -- Inserts deferred before this statement come first.
    PERFORM spark_events_rollup_flush();
    -- Each row of the statement with its sign: +1 added, -1 removed.
    -- An update counts only where it changed what the rollups read: an
    -- export that edits a description moves no bucket, and would otherwise
    -- subtract and add every row it touched (and read their first and last
    -- times again).
    delta := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', cols)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', cols)
        ELSE format('SELECT %s, -1 AS sign FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n %s) '
                    'UNION ALL SELECT %s, 1 AS sign FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o %s)',
                    cols, same, cols, same)
    END;

    EXECUTE 'INSERT INTO pg_temp.sparkevents_rollup_rows ' || delta;
    PERFORM spark_events_rollup_apply(TG_OP);
    -- DELETE, not TRUNCATE: a statement's rows are few, and TRUNCATE
    -- gives the table a new file each time.
    DELETE FROM pg_temp.sparkevents_rollup_rows;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup() IS 'Applies a statement''s changes of spark_events to the rollup_* tables, or under sparkevents.defer_rollups keeps an INSERT''s rows for spark_events_rollup_flush(). Skips DELETEs when sparkevents.keep_rollups is on.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_rollup_rows') IS NOT NULL THEN
        TRUNCATE pg_temp.sparkevents_rollup_rows;
    END IF;
    IF current_setting('sparkevents.keep_rollups', true) IS DISTINCT FROM 'on' THEN
        TRUNCATE rollup_daily_events, rollup_daily_users, rollup_daily_services, rollup_hourly_logins, rollup_login_hours, rollup_service_users, rollup_users,
                 rollup_daily_folders;
    END IF;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollups_rebuild(only_tenant text) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    -- Writers wait until the rollups are rebuilt; readers do not. Rows go
    -- in in key order, as the triggers write them (a day after the other):
    -- in hash order a 30-day question read a page per row (bench/README.md).
    LOCK TABLE spark_events IN SHARE MODE;
    DELETE FROM rollup_daily_events WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_users WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_services WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_hourly_logins WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_login_hours WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_service_users WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_users WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_folders WHERE only_tenant IS NULL OR tenant = only_tenant;

    INSERT INTO rollup_daily_events (tenant, day, event_type, events, user_counts)
    SELECT tenant, day, event_type, sum(n), coalesce(jsonb_object_agg(user_name, n) FILTER (WHERE user_name IS NOT NULL), '{}')
    FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, event_type, user_name, count(*) AS n
          FROM spark_events
          WHERE only_tenant IS NULL OR tenant = only_tenant
          GROUP BY 1, 2, 3, 4) e
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;

    INSERT INTO rollup_daily_folders (tenant, day, folder_id, folder_name, events, publishes, deletions,
                                      permission_changes, last_event, user_counts, service_counts)
    SELECT c.tenant, c.day, c.folder_id, c.folder_name, c.events, c.publishes, c.deletions, c.permission_changes,
           c.last_event, coalesce(u.counts, '{}'), coalesce(s.counts, '{}')
    FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, coalesce(folder_id, '') AS folder_id,
                 coalesce(folder_name, '') AS folder_name, count(*) AS events,
                 count(*) FILTER (WHERE event_type = 'PublishEngine') AS publishes,
                 count(*) FILTER (WHERE event_type LIKE 'Delete%') AS deletions,
                 count(*) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')) AS permission_changes,
                 max(event_time) AS last_event
          FROM spark_events
          WHERE (only_tenant IS NULL OR tenant = only_tenant) AND (folder_id <> '' OR folder_name <> '')
          GROUP BY 1, 2, 3, 4) c
    LEFT JOIN (SELECT tenant, day, folder_id, folder_name, jsonb_object_agg(user_name, n) AS counts
               FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, coalesce(folder_id, '') AS folder_id,
                            coalesce(folder_name, '') AS folder_name, user_name, count(*) AS n
                     FROM spark_events
                     WHERE (only_tenant IS NULL OR tenant = only_tenant) AND (folder_id <> '' OR folder_name <> '')
                       AND user_name IS NOT NULL
                     GROUP BY 1, 2, 3, 4, 5) x
               GROUP BY 1, 2, 3, 4) u
           ON u.tenant = c.tenant AND u.day = c.day AND u.folder_id = c.folder_id AND u.folder_name = c.folder_name
    LEFT JOIN (SELECT tenant, day, folder_id, folder_name, jsonb_object_agg(service_name, n) AS counts
               FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, coalesce(folder_id, '') AS folder_id,
                            coalesce(folder_name, '') AS folder_name, service_name, count(*) AS n
                     FROM spark_events
                     WHERE (only_tenant IS NULL OR tenant = only_tenant) AND (folder_id <> '' OR folder_name <> '')
                       AND service_name IS NOT NULL
                     GROUP BY 1, 2, 3, 4, 5) x
               GROUP BY 1, 2, 3, 4) s
           ON s.tenant = c.tenant AND s.day = c.day AND s.folder_id = c.folder_id AND s.folder_name = c.folder_name
    ORDER BY 1, 2, 3, 4;

    INSERT INTO rollup_daily_users (tenant, day, user_name, events, logins, first_seen, last_seen, last_login)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, user_name, count(*),
           count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')),
           min(event_time), max(event_time),
           max(event_time) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND user_name IS NOT NULL
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3;

    INSERT INTO rollup_daily_services (tenant, day, service_name, folder_name, user_name, publishes, updates, last_published)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
           count(*) FILTER (WHERE event_type = 'PublishEngine'),
           count(*) FILTER (WHERE event_type = 'UpdateEngine'),
           max(event_time) FILTER (WHERE event_type = 'PublishEngine')
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant)
      AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5;

    INSERT INTO rollup_hourly_logins (tenant, day, hour, user_name, logins)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint,
           coalesce(user_name, ''), count(*)
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND event_type IN ('SparkLogin', 'CALogin')
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4;

    INSERT INTO rollup_users (tenant, user_name, events, first_seen, last_seen)
    SELECT tenant, user_name, sum(events), min(first_seen), max(last_seen)
    FROM rollup_daily_users
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2
    ORDER BY 1, 2;

    INSERT INTO rollup_service_users (tenant, service_name, folder_name, user_name, publishes, updates, last_published)
    SELECT tenant, service_name, folder_name, user_name, sum(publishes), sum(updates), max(last_published)
    FROM rollup_daily_services
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4;

    INSERT INTO rollup_login_hours (tenant, weekday, hour, user_name, logins)
    SELECT tenant, extract(isodow FROM day)::smallint, hour, user_name, sum(logins)
    FROM rollup_hourly_logins
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollups_rebuild(text) IS 'Recomputes the rollup_* tables of one tenant (NULL: every tenant) from spark_events (sparkevents rollups rebuild).';

-- The triggers' functions were replaced above; the rollups gain their new
-- columns and table from the events (about 3 minutes per 10M events on 2
-- cores, during which loads wait).
SELECT spark_events_rollups_rebuild(NULL);

-- The two views read the rollups: the same answers (analyst's tests
-- compare them with their definitions of migration 00002), from a row per
-- day and type or folder instead of a row per event. CREATE OR REPLACE
-- keeps their comments and grants.
CREATE OR REPLACE VIEW daily_event_counts AS
SELECT day, tenant, event_type, events, users
FROM rollup_daily_events;
COMMENT ON VIEW daily_event_counts IS 'Events per UTC day, tenant and event type, with their distinct users. Reads rollup_daily_events, a row per tenant, day and type.';

CREATE OR REPLACE VIEW folder_activity AS
SELECT day,
       tenant,
       nullif(folder_id, '')   AS folder_id,
       nullif(folder_name, '') AS folder_name,
       events,
       users,
       services,
       publishes,
       deletions,
       permission_changes,
       last_event
FROM rollup_daily_folders;
COMMENT ON VIEW folder_activity IS 'Activity per UTC day and folder. A renamed folder appears under each of its names. Reads rollup_daily_folders, a row per tenant, day and folder.';

-- +goose Down
CREATE OR REPLACE VIEW daily_event_counts AS
SELECT (event_time AT TIME ZONE 'UTC')::date AS day,
       tenant,
       event_type,
       count(*)                              AS events,
       count(DISTINCT user_name COLLATE "C") AS users
FROM spark_events
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW folder_activity AS
SELECT (event_time AT TIME ZONE 'UTC')::date                                   AS day,
       tenant,
       folder_id,
       folder_name,
       count(*)                                                                AS events,
       count(DISTINCT user_name COLLATE "C")                                   AS users,
       count(DISTINCT service_name COLLATE "C")                                AS services,
       count(*) FILTER (WHERE event_type = 'PublishEngine')                    AS publishes,
       count(*) FILTER (WHERE event_type LIKE 'Delete%')                       AS deletions,
       count(*) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')) AS permission_changes,
       max(event_time)                                                         AS last_event
FROM spark_events
WHERE folder_id <> '' OR folder_name <> ''
GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW daily_event_counts IS 'Events per UTC day, tenant and event type. Filter on day to keep it cheap.';
COMMENT ON VIEW folder_activity IS 'Activity per UTC day and folder. A renamed folder appears under each of its names. Filter on day to keep it cheap.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_pending() RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_pending_rollups') IS NULL THEN
        CREATE TEMP TABLE sparkevents_pending_rollups (
            tenant text, event_time timestamptz, event_type text, user_name text,
            folder_name text, service_name text, sign smallint
        ) ON COMMIT DELETE ROWS;
    END IF;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_pending() IS 'Creates the session''s temporary table of rows waiting for the rollups, if it has none.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_apply(op text) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    delta CONSTANT text := 'SELECT tenant, event_time, (event_time AT TIME ZONE ''UTC'')::date AS day, event_type, user_name, folder_name, service_name, event_type IN (''SparkLogin'', ''CALogin'') AS login, sign FROM pg_temp.sparkevents_pending_rollups';
BEGIN
    -- Apply the deltas. Keys are sorted, so two statements on the same
    -- buckets lock them in the same order. A count may come in negative
    -- (which is why the counts have no CHECK: PostgreSQL checks the row
    -- proposed for insertion before it finds the conflict), and a bucket
    -- only left by rows proposes first and last times of +/-infinity, which
    -- least and greatest leave alone.
    EXECUTE format($q$
        INSERT INTO rollup_daily_events AS r (tenant, day, event_type, events)
        SELECT tenant, day, event_type, sum(sign)
        FROM (%s) d
        GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (tenant, day, event_type) DO UPDATE SET events = r.events + excluded.events
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_daily_users AS r (tenant, day, user_name, events, logins, first_seen, last_seen, last_login)
        SELECT tenant, day, user_name, sum(sign), coalesce(sum(sign) FILTER (WHERE login), 0),
               coalesce(min(event_time) FILTER (WHERE sign > 0), 'infinity'),
               coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity'),
               max(event_time) FILTER (WHERE sign > 0 AND login)
        FROM (%s) d
        WHERE user_name IS NOT NULL
        GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3
        ON CONFLICT (tenant, day, user_name) DO UPDATE SET
            events = r.events + excluded.events,
            logins = r.logins + excluded.logins,
            first_seen = least(r.first_seen, excluded.first_seen),
            last_seen = greatest(r.last_seen, excluded.last_seen),
            last_login = greatest(r.last_login, excluded.last_login)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_users AS r (tenant, user_name, events, first_seen, last_seen)
        SELECT tenant, user_name, sum(sign),
               coalesce(min(event_time) FILTER (WHERE sign > 0), 'infinity'),
               coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity')
        FROM (%s) d
        WHERE user_name IS NOT NULL
        GROUP BY 1, 2
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2
        ON CONFLICT (tenant, user_name) DO UPDATE SET
            events = r.events + excluded.events,
            first_seen = least(r.first_seen, excluded.first_seen),
            last_seen = greatest(r.last_seen, excluded.last_seen)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_daily_services AS r (tenant, day, service_name, folder_name, user_name, publishes, updates, last_published)
        SELECT tenant, day, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
               coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0),
               coalesce(sum(sign) FILTER (WHERE event_type = 'UpdateEngine'), 0),
               max(event_time) FILTER (WHERE sign > 0 AND event_type = 'PublishEngine')
        FROM (%s) d
        WHERE event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
        GROUP BY 1, 2, 3, 4, 5
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (tenant, day, service_name, folder_name, user_name) DO UPDATE SET
            publishes = r.publishes + excluded.publishes,
            updates = r.updates + excluded.updates,
            last_published = greatest(r.last_published, excluded.last_published)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_service_users AS r (tenant, service_name, folder_name, user_name, publishes, updates, last_published)
        SELECT tenant, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
               coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0),
               coalesce(sum(sign) FILTER (WHERE event_type = 'UpdateEngine'), 0),
               max(event_time) FILTER (WHERE sign > 0 AND event_type = 'PublishEngine')
        FROM (%s) d
        WHERE event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, service_name, folder_name, user_name) DO UPDATE SET
            publishes = r.publishes + excluded.publishes,
            updates = r.updates + excluded.updates,
            last_published = greatest(r.last_published, excluded.last_published)
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_hourly_logins AS r (tenant, day, hour, user_name, logins)
        SELECT tenant, day, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint, coalesce(user_name, ''), sum(sign)
        FROM (%s) d
        WHERE login
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, day, hour, user_name) DO UPDATE SET logins = r.logins + excluded.logins
        $q$, delta);
    EXECUTE format($q$
        INSERT INTO rollup_login_hours AS r (tenant, weekday, hour, user_name, logins)
        SELECT tenant, extract(isodow FROM event_time AT TIME ZONE 'UTC')::smallint,
               extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint, coalesce(user_name, ''), sum(sign)
        FROM (%s) d
        WHERE login
        GROUP BY 1, 2, 3, 4
        HAVING sum(sign) <> 0
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, weekday, hour, user_name) DO UPDATE SET logins = r.logins + excluded.logins
        $q$, delta);
    IF op = 'INSERT' THEN
        RETURN;
    END IF;

    -- Rows left a bucket: drop the buckets they emptied, and read again the
    -- times of those whose first or last time a leaving row held.
    EXECUTE format($q$
        DELETE FROM rollup_daily_events r
        USING (SELECT DISTINCT tenant, day, event_type FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.event_type = d.event_type AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_daily_users r
        USING (SELECT DISTINCT tenant, day, user_name FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.user_name = d.user_name AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_daily_users r
        SET (first_seen, last_seen, last_login) = (
            SELECT coalesce(min(e.event_time), r.first_seen), coalesce(max(e.event_time), r.last_seen),
                   max(e.event_time) FILTER (WHERE e.event_type IN ('SparkLogin', 'CALogin'))
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.user_name = r.user_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC')
        FROM (SELECT tenant, day, user_name, min(event_time) AS lo, max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND user_name IS NOT NULL GROUP BY 1, 2, 3) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.user_name = d.user_name
          AND (d.lo <= r.first_seen OR d.hi >= r.last_seen OR d.hi >= r.last_login)
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_users r
        USING (SELECT DISTINCT tenant, user_name FROM (%s) d WHERE sign < 0) d
        WHERE r.tenant = d.tenant AND r.user_name = d.user_name AND r.events = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_users r
        SET (first_seen, last_seen) = (
            SELECT coalesce(min(e.event_time), r.first_seen), coalesce(max(e.event_time), r.last_seen)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.user_name = r.user_name)
        FROM (SELECT tenant, user_name, min(event_time) AS lo, max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND user_name IS NOT NULL GROUP BY 1, 2) d
        WHERE r.tenant = d.tenant AND r.user_name = d.user_name
          AND (d.lo <= r.first_seen OR d.hi >= r.last_seen)
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_daily_services r
        USING (SELECT DISTINCT tenant, day, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> '') d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND r.publishes + r.updates = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_daily_services r
        SET last_published = CASE WHEN r.publishes > 0 THEN coalesce((
            SELECT max(e.event_time)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC'), r.last_published) END
        FROM (SELECT tenant, day, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name,
                     max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND event_type = 'PublishEngine' AND service_name <> '' GROUP BY 1, 2, 3, 4, 5) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND d.hi >= r.last_published
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_service_users r
        USING (SELECT DISTINCT tenant, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> '') d
        WHERE r.tenant = d.tenant AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND r.publishes + r.updates = 0
        $q$, delta);
    EXECUTE format($q$
        UPDATE rollup_service_users r
        SET last_published = CASE WHEN r.publishes > 0 THEN coalesce((
            SELECT e.event_time
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name
            ORDER BY e.event_time DESC LIMIT 1), r.last_published) END
        FROM (SELECT tenant, service_name, coalesce(folder_name, '') AS folder_name, coalesce(user_name, '') AS user_name,
                     max(event_time) AS hi
              FROM (%s) d WHERE sign < 0 AND event_type = 'PublishEngine' AND service_name <> '' GROUP BY 1, 2, 3, 4) d
        WHERE r.tenant = d.tenant AND r.service_name = d.service_name
          AND r.folder_name = d.folder_name AND r.user_name = d.user_name AND d.hi >= r.last_published
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_hourly_logins r
        USING (SELECT DISTINCT tenant, day, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint AS hour, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND login) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.hour = d.hour AND r.user_name = d.user_name AND r.logins = 0
        $q$, delta);
    EXECUTE format($q$
        DELETE FROM rollup_login_hours r
        USING (SELECT DISTINCT tenant, extract(isodow FROM event_time AT TIME ZONE 'UTC')::smallint AS weekday,
                      extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint AS hour, coalesce(user_name, '') AS user_name
               FROM (%s) d WHERE sign < 0 AND login) d
        WHERE r.tenant = d.tenant AND r.weekday = d.weekday AND r.hour = d.hour AND r.user_name = d.user_name AND r.logins = 0
        $q$, delta);
    RETURN;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_apply(text) IS 'Applies the signed rows of pg_temp.sparkevents_pending_rollups to the rollup_* tables; op INSERT skips the clean-up only removals need.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_flush() RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_pending_rollups') IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM pg_temp.sparkevents_pending_rollups LIMIT 1;
    IF FOUND THEN
        PERFORM spark_events_rollup_apply('INSERT');
        TRUNCATE pg_temp.sparkevents_pending_rollups;
    END IF;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_flush() IS 'Applies the inserts deferred under sparkevents.defer_rollups to the rollup_* tables (load.FlushRollups).';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    cols CONSTANT text := 'tenant, event_time, event_type, user_name, folder_name, service_name';
    delta text;
    same CONSTANT text := 'WHERE n.tenant = o.tenant AND n.event_id = o.event_id AND (n.event_time, n.event_type, n.user_name, n.folder_name, n.service_name) IS NOT DISTINCT FROM (o.event_time, o.event_type, o.user_name, o.folder_name, o.service_name)';
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sparkevents.keep_rollups', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM spark_events_rollup_pending();
    IF TG_OP = 'INSERT' AND current_setting('sparkevents.defer_rollups', true) = 'on' THEN
        INSERT INTO pg_temp.sparkevents_pending_rollups SELECT tenant, event_time, event_type, user_name, folder_name, service_name, 1 FROM new_rows;
        RETURN NULL;
    END IF;
    -- Inserts deferred before this statement come first.
    PERFORM spark_events_rollup_flush();
    -- Each row of the statement with its sign: +1 added, -1 removed.
    -- An update counts only where it changed what the rollups read: an
    -- export that edits a description moves no bucket, and would otherwise
    -- subtract and add every row it touched (and read their first and last
    -- times again).
    delta := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', cols)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', cols)
        ELSE format('SELECT %s, -1 AS sign FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n %s) '
                    'UNION ALL SELECT %s, 1 AS sign FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o %s)',
                    cols, same, cols, same)
    END;

    EXECUTE 'INSERT INTO pg_temp.sparkevents_pending_rollups ' || delta;
    PERFORM spark_events_rollup_apply(TG_OP);
    -- DELETE, not TRUNCATE: a statement's rows are few, and TRUNCATE
    -- gives the table a new file each time.
    DELETE FROM pg_temp.sparkevents_pending_rollups;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup() IS 'Applies a statement''s changes of spark_events to the rollup_* tables, or under sparkevents.defer_rollups keeps an INSERT''s rows for spark_events_rollup_flush(). Skips DELETEs when sparkevents.keep_rollups is on.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF to_regclass('pg_temp.sparkevents_pending_rollups') IS NOT NULL THEN
        TRUNCATE pg_temp.sparkevents_pending_rollups;
    END IF;
    IF current_setting('sparkevents.keep_rollups', true) IS DISTINCT FROM 'on' THEN
        TRUNCATE rollup_daily_events, rollup_daily_users, rollup_daily_services, rollup_hourly_logins, rollup_login_hours, rollup_service_users, rollup_users;
    END IF;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollups_rebuild(only_tenant text) RETURNS void
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    -- Writers wait until the rollups are rebuilt; readers do not.
    LOCK TABLE spark_events IN SHARE MODE;
    DELETE FROM rollup_daily_events WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_users WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_services WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_hourly_logins WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_login_hours WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_service_users WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_users WHERE only_tenant IS NULL OR tenant = only_tenant;

    INSERT INTO rollup_daily_events (tenant, day, event_type, events)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, event_type, count(*)
    FROM spark_events
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3;

    INSERT INTO rollup_daily_users (tenant, day, user_name, events, logins, first_seen, last_seen, last_login)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, user_name, count(*),
           count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')),
           min(event_time), max(event_time),
           max(event_time) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND user_name IS NOT NULL
    GROUP BY 1, 2, 3;

    INSERT INTO rollup_daily_services (tenant, day, service_name, folder_name, user_name, publishes, updates, last_published)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, service_name, coalesce(folder_name, ''), coalesce(user_name, ''),
           count(*) FILTER (WHERE event_type = 'PublishEngine'),
           count(*) FILTER (WHERE event_type = 'UpdateEngine'),
           max(event_time) FILTER (WHERE event_type = 'PublishEngine')
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant)
      AND event_type IN ('PublishEngine', 'UpdateEngine') AND service_name <> ''
    GROUP BY 1, 2, 3, 4, 5;

    INSERT INTO rollup_hourly_logins (tenant, day, hour, user_name, logins)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, extract(hour FROM event_time AT TIME ZONE 'UTC')::smallint,
           coalesce(user_name, ''), count(*)
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND event_type IN ('SparkLogin', 'CALogin')
    GROUP BY 1, 2, 3, 4;

    INSERT INTO rollup_users (tenant, user_name, events, first_seen, last_seen)
    SELECT tenant, user_name, sum(events), min(first_seen), max(last_seen)
    FROM rollup_daily_users
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2;

    INSERT INTO rollup_service_users (tenant, service_name, folder_name, user_name, publishes, updates, last_published)
    SELECT tenant, service_name, folder_name, user_name, sum(publishes), sum(updates), max(last_published)
    FROM rollup_daily_services
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3, 4;

    INSERT INTO rollup_login_hours (tenant, weekday, hour, user_name, logins)
    SELECT tenant, extract(isodow FROM day)::smallint, hour, user_name, sum(logins)
    FROM rollup_hourly_logins
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3, 4;
END
$fn$;
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollups_rebuild(text) IS 'Recomputes the rollup_* tables of one tenant (NULL: every tenant) from spark_events (sparkevents rollups rebuild).';
DROP TABLE rollup_daily_folders;
ALTER TABLE rollup_daily_events DROP COLUMN users, DROP COLUMN user_counts;
DROP FUNCTION spark_events_rollup_keys(jsonb);
DROP AGGREGATE spark_events_rollup_sum(jsonb);
DROP FUNCTION spark_events_rollup_add(jsonb, jsonb);
