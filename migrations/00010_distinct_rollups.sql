-- Distinct users per type and per folder, and distinct services per
-- folder, kept by the rollup triggers: the views daily_event_counts and
-- folder_activity read rollups instead of counting distinct names over
-- every event of their days (7.4 s and 9.2 s for a tenant's whole
-- history at 10M events, 321 ms and 377 ms for 30 days; bench/README.md,
-- "Distinct users kept by the triggers").
--
--   rollup_daily_events.users     distinct users per (tenant, UTC day,
--                                 event type)
--   rollup_daily_users.types      a user's events of that day per event
--                                 type, {"SparkLogin": 3, ...}
--   rollup_daily_users.folders    the same per folder, keyed by the JSON
--                                 array [folder_id, folder_name]
--   rollup_daily_folders          per (tenant, UTC day, folder): what
--                                 folder_activity shows
--   rollup_daily_folder_services  events per (tenant, UTC day, folder,
--                                 service): the services counted in
--                                 rollup_daily_folders.services
--
-- A distinct count cannot be summed, so each keeps the multiplicities it
-- is counted from: a user counts for a type on a day while their row of
-- rollup_daily_users holds a positive count of it. A statement's upsert of
-- those rows returns the counts after it; with the statement's own delta
-- that says which (user, type) and (user, folder) pairs it created or
-- emptied, which moves the users counts by exactly one each, under the
-- row locks of the upsert (so concurrent writers count right). The types
-- and folders of a user's day are a few keys in the row the trigger writes
-- anyway; a table keyed (tenant, day, type, user) would have held 5.9M
-- rows at bench/fill's 10M events, and one per folder as many again.
-- Folders are keyed '' for NULL, as in rollup_daily_services: the loader
-- never stores an empty string, and the view turns '' back into NULL.
--
-- The functions of migration 00007 are replaced whole: the rows waiting
-- for the rollups now carry folder_id, in a temporary table of another
-- name (sparkevents_rollup_rows), so a session that made the old one
-- before this migration does not feed it the new shape.

-- +goose Up
ALTER TABLE rollup_daily_events ADD COLUMN users bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN rollup_daily_events.users IS 'Distinct user names among the events (events without a user are not counted), from rollup_daily_users.types (migration 00010).';
ALTER TABLE rollup_daily_users ADD COLUMN types jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN folders jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN rollup_daily_users.types IS 'The user''s events of the day per event type: {"SparkLogin": 3}. Counts rollup_daily_events.users (migration 00010).';
COMMENT ON COLUMN rollup_daily_users.folders IS 'The user''s events of the day per folder, keyed by the JSON text of [folder_id, folder_name] ('''' for NULL): counts rollup_daily_folders.users (migration 00010).';

CREATE TABLE rollup_daily_folders (
    tenant              text        NOT NULL,
    day                 date        NOT NULL,
    folder_id           text        NOT NULL,
    folder_name         text        NOT NULL,
    events              bigint      NOT NULL,
    users               bigint      NOT NULL,
    services            bigint      NOT NULL,
    publishes           bigint      NOT NULL,
    deletions           bigint      NOT NULL,
    permission_changes  bigint      NOT NULL,
    last_event          timestamptz NOT NULL,
    PRIMARY KEY (tenant, day, folder_id, folder_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_folders IS 'Per tenant, UTC day and folder ('''' for NULL; events with neither a folder ID nor a name are not here): events, distinct users and services, publishes, deletions, permission changes and the last event. Kept up by triggers on spark_events (migration 00010); folder_activity reads it.';

CREATE TABLE rollup_daily_folder_services (
    tenant        text   NOT NULL,
    day           date   NOT NULL,
    folder_id     text   NOT NULL,
    folder_name   text   NOT NULL,
    service_name  text   NOT NULL,
    events        bigint NOT NULL,
    PRIMARY KEY (tenant, day, folder_id, folder_name, service_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_folder_services IS 'Events per tenant, UTC day, folder ('''' for NULL) and service (events without a service are not here): counts rollup_daily_folders.services. Kept up by triggers on spark_events (migration 00010).';

-- +goose StatementBegin
CREATE FUNCTION spark_events_rollup_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT coalesce(jsonb_object_agg(k, n), '{}')
        FROM (SELECT k, sum(n) AS n
              FROM (SELECT key, value::bigint FROM jsonb_each_text(a)
                    UNION ALL
                    SELECT key, value::bigint FROM jsonb_each_text(b)) s(k, n)
              GROUP BY k
              HAVING sum(n) <> 0) t);
-- +goose StatementEnd
COMMENT ON FUNCTION spark_events_rollup_add(jsonb, jsonb) IS 'Adds two maps of counts key by key, dropping the keys whose sum is 0: rollup_daily_users.types and folders.';
CREATE AGGREGATE spark_events_rollup_sum(jsonb) (SFUNC = spark_events_rollup_add, STYPE = jsonb, INITCOND = '{}');
COMMENT ON AGGREGATE spark_events_rollup_sum(jsonb) IS 'Sums maps of counts key by key (spark_events_rollup_add).';

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
    -- least and greatest leave alone.
    EXECUTE format($q$
        INSERT INTO rollup_daily_events AS r (tenant, day, event_type, events, users)
        SELECT tenant, day, event_type, sum(sign), 0
        FROM (%s) d
        GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0
        ORDER BY 1, 2, 3
        ON CONFLICT (tenant, day, event_type) DO UPDATE SET events = r.events + excluded.events
        $q$, delta);
    -- The users' days, with their counts per type and folder; then what
    -- those counts say of distinct users: a pair (user, type) whose count
    -- went from 0 to positive adds a user to its type's day, one that went
    -- to 0 takes one away. The same for the services of a folder's day.
    EXECUTE format($q$
        WITH d AS MATERIALIZED (%s),
        ty AS (
            SELECT tenant, day, user_name, jsonb_object_agg(event_type, n) AS types
            FROM (SELECT tenant, day, user_name, event_type, sum(sign) AS n
                  FROM d WHERE user_name IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0) x
            GROUP BY 1, 2, 3),
        fo AS (
            SELECT tenant, day, user_name, jsonb_object_agg(folder, n) AS folders
            FROM (SELECT tenant, day, user_name, jsonb_build_array(folder_id, folder_name)::text AS folder, sum(sign) AS n
                  FROM d WHERE user_name IS NOT NULL AND in_folder GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0) x
            GROUP BY 1, 2, 3),
        up AS (
            INSERT INTO rollup_daily_users AS r (tenant, day, user_name, events, logins, first_seen, last_seen, last_login, types, folders)
            SELECT s.tenant, s.day, s.user_name, s.events, s.logins, s.first_seen, s.last_seen, s.last_login,
                   coalesce(ty.types, '{}'), coalesce(fo.folders, '{}')
            FROM (SELECT tenant, day, user_name, sum(sign) AS events, coalesce(sum(sign) FILTER (WHERE login), 0) AS logins,
                         coalesce(min(event_time) FILTER (WHERE sign > 0), 'infinity') AS first_seen,
                         coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity') AS last_seen,
                         max(event_time) FILTER (WHERE sign > 0 AND login) AS last_login
                  FROM d
                  WHERE user_name IS NOT NULL
                  GROUP BY 1, 2, 3
                  HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0) s
            LEFT JOIN ty ON ty.tenant = s.tenant AND ty.day = s.day AND ty.user_name = s.user_name
            LEFT JOIN fo ON fo.tenant = s.tenant AND fo.day = s.day AND fo.user_name = s.user_name
            ORDER BY 1, 2, 3
            ON CONFLICT (tenant, day, user_name) DO UPDATE SET
                events = r.events + excluded.events,
                logins = r.logins + excluded.logins,
                first_seen = least(r.first_seen, excluded.first_seen),
                last_seen = greatest(r.last_seen, excluded.last_seen),
                last_login = greatest(r.last_login, excluded.last_login),
                types = spark_events_rollup_add(r.types, excluded.types),
                folders = spark_events_rollup_add(r.folders, excluded.folders)
            RETURNING r.tenant, r.day, r.user_name, r.types, r.folders),
        type_users AS (
            SELECT up.tenant, up.day, k.key AS event_type,
                   sum((coalesce((up.types ->> k.key)::bigint, 0) > 0)::int
                       - (coalesce((up.types ->> k.key)::bigint, 0) - k.value::bigint > 0)::int) AS users
            FROM up JOIN ty ON ty.tenant = up.tenant AND ty.day = up.day AND ty.user_name = up.user_name
                 CROSS JOIN jsonb_each_text(ty.types) k
            GROUP BY 1, 2, 3),
        counted AS (
            UPDATE rollup_daily_events r SET users = r.users + t.users
            FROM type_users t
            WHERE r.tenant = t.tenant AND r.day = t.day AND r.event_type = t.event_type AND t.users <> 0),
        folder_users AS (
            SELECT up.tenant, up.day, k.key::jsonb ->> 0 AS folder_id, k.key::jsonb ->> 1 AS folder_name,
                   sum((coalesce((up.folders ->> k.key)::bigint, 0) > 0)::int
                       - (coalesce((up.folders ->> k.key)::bigint, 0) - k.value::bigint > 0)::int) AS users
            FROM up JOIN fo ON fo.tenant = up.tenant AND fo.day = up.day AND fo.user_name = up.user_name
                 CROSS JOIN jsonb_each_text(fo.folders) k
            GROUP BY 1, 2, 3, 4),
        sv AS (
            SELECT tenant, day, folder_id, folder_name, service_name, sum(sign) AS n
            FROM d WHERE in_folder AND service_name IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0),
        sv_up AS (
            INSERT INTO rollup_daily_folder_services AS r (tenant, day, folder_id, folder_name, service_name, events)
            SELECT * FROM sv ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (tenant, day, folder_id, folder_name, service_name) DO UPDATE SET events = r.events + excluded.events
            RETURNING r.tenant, r.day, r.folder_id, r.folder_name, r.service_name, r.events),
        folder_services AS (
            SELECT u.tenant, u.day, u.folder_id, u.folder_name, sum((u.events > 0)::int - (u.events - sv.n > 0)::int) AS services
            FROM sv_up u JOIN sv ON sv.tenant = u.tenant AND sv.day = u.day AND sv.folder_id = u.folder_id
                                AND sv.folder_name = u.folder_name AND sv.service_name = u.service_name
            GROUP BY 1, 2, 3, 4)
        INSERT INTO rollup_daily_folders AS r (tenant, day, folder_id, folder_name, events, users, services,
                                               publishes, deletions, permission_changes, last_event)
        SELECT c.tenant, c.day, c.folder_id, c.folder_name, c.events, coalesce(u.users, 0), coalesce(s.services, 0),
               c.publishes, c.deletions, c.permission_changes, c.last_event
        FROM (SELECT tenant, day, folder_id, folder_name, sum(sign) AS events,
                     coalesce(sum(sign) FILTER (WHERE event_type = 'PublishEngine'), 0) AS publishes,
                     coalesce(sum(sign) FILTER (WHERE event_type LIKE 'Delete%%'), 0) AS deletions,
                     coalesce(sum(sign) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')), 0) AS permission_changes,
                     coalesce(max(event_time) FILTER (WHERE sign > 0), '-infinity') AS last_event
              FROM d WHERE in_folder
              GROUP BY 1, 2, 3, 4
              HAVING sum(sign) <> 0 OR count(*) FILTER (WHERE sign > 0) > 0) c
        LEFT JOIN folder_users u ON u.tenant = c.tenant AND u.day = c.day AND u.folder_id = c.folder_id AND u.folder_name = c.folder_name
        LEFT JOIN folder_services s ON s.tenant = c.tenant AND s.day = c.day AND s.folder_id = c.folder_id AND s.folder_name = c.folder_name
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (tenant, day, folder_id, folder_name) DO UPDATE SET
            events = r.events + excluded.events,
            users = r.users + excluded.users,
            services = r.services + excluded.services,
            publishes = r.publishes + excluded.publishes,
            deletions = r.deletions + excluded.deletions,
            permission_changes = r.permission_changes + excluded.permission_changes,
            last_event = greatest(r.last_event, excluded.last_event)
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
        DELETE FROM rollup_daily_folder_services r
        USING (SELECT DISTINCT tenant, day, folder_id, folder_name, service_name FROM (%s) d
               WHERE sign < 0 AND in_folder AND service_name IS NOT NULL) d
        WHERE r.tenant = d.tenant AND r.day = d.day AND r.folder_id = d.folder_id AND r.folder_name = d.folder_name
          AND r.service_name = d.service_name AND r.events = 0
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
                 rollup_daily_folders, rollup_daily_folder_services;
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
    DELETE FROM rollup_daily_folders WHERE only_tenant IS NULL OR tenant = only_tenant;
    DELETE FROM rollup_daily_folder_services WHERE only_tenant IS NULL OR tenant = only_tenant;

    -- Distinct counts straight from the events, not from the users' types
    -- and folders: a rebuild is also the proof of what the triggers keep.
    INSERT INTO rollup_daily_events (tenant, day, event_type, events, users)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, event_type, count(*), count(DISTINCT user_name COLLATE "C")
    FROM spark_events
    WHERE only_tenant IS NULL OR tenant = only_tenant
    GROUP BY 1, 2, 3;

    INSERT INTO rollup_daily_users (tenant, day, user_name, events, logins, first_seen, last_seen, last_login, types, folders)
    SELECT t.tenant, t.day, t.user_name, t.events, t.logins, t.first_seen, t.last_seen, t.last_login, t.types, coalesce(f.folders, '{}')
    FROM (SELECT tenant, day, user_name, sum(events) AS events, sum(logins) AS logins, min(first_seen) AS first_seen,
                 max(last_seen) AS last_seen, max(last_login) AS last_login, jsonb_object_agg(event_type, events) AS types
          FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, user_name, event_type, count(*) AS events,
                       count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')) AS logins,
                       min(event_time) AS first_seen, max(event_time) AS last_seen,
                       max(event_time) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')) AS last_login
                FROM spark_events
                WHERE (only_tenant IS NULL OR tenant = only_tenant) AND user_name IS NOT NULL
                GROUP BY 1, 2, 3, 4) e
          GROUP BY 1, 2, 3) t
    LEFT JOIN (SELECT tenant, day, user_name, jsonb_object_agg(folder, events) AS folders
               FROM (SELECT tenant, (event_time AT TIME ZONE 'UTC')::date AS day, user_name,
                            jsonb_build_array(coalesce(folder_id, ''), coalesce(folder_name, ''))::text AS folder, count(*) AS events
                     FROM spark_events
                     WHERE (only_tenant IS NULL OR tenant = only_tenant) AND user_name IS NOT NULL
                       AND (folder_id <> '' OR folder_name <> '')
                     GROUP BY 1, 2, 3, 4) e
               GROUP BY 1, 2, 3) f ON f.tenant = t.tenant AND f.day = t.day AND f.user_name = t.user_name;

    INSERT INTO rollup_daily_folders (tenant, day, folder_id, folder_name, events, users, services,
                                      publishes, deletions, permission_changes, last_event)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, coalesce(folder_id, ''), coalesce(folder_name, ''), count(*),
           count(DISTINCT user_name COLLATE "C"), count(DISTINCT service_name COLLATE "C"),
           count(*) FILTER (WHERE event_type = 'PublishEngine'),
           count(*) FILTER (WHERE event_type LIKE 'Delete%'),
           count(*) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')),
           max(event_time)
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND (folder_id <> '' OR folder_name <> '')
    GROUP BY 1, 2, 3, 4;

    INSERT INTO rollup_daily_folder_services (tenant, day, folder_id, folder_name, service_name, events)
    SELECT tenant, (event_time AT TIME ZONE 'UTC')::date, coalesce(folder_id, ''), coalesce(folder_name, ''), service_name, count(*)
    FROM spark_events
    WHERE (only_tenant IS NULL OR tenant = only_tenant) AND (folder_id <> '' OR folder_name <> '') AND service_name IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5;
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

-- The triggers' functions were replaced above; the rollups gain their new
-- columns and tables from the events (about a minute per 10M events on 2
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
DROP TABLE rollup_daily_folder_services;
DROP TABLE rollup_daily_folders;
DROP AGGREGATE spark_events_rollup_sum(jsonb);
DROP FUNCTION spark_events_rollup_add(jsonb, jsonb);
ALTER TABLE rollup_daily_users DROP COLUMN folders, DROP COLUMN types;
ALTER TABLE rollup_daily_events DROP COLUMN users;
