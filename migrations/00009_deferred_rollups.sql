-- The loader defers the rollups' share of its inserts to the end of its
-- transaction. Applied per statement, a load of a million events in chunks
-- of 2,048 updated each user's row of rollup_users once a chunk: 489
-- versions of one row in one transaction, each lookup walking the ones
-- before (21 s of a 46 s import, bench/README.md, "What the rollups cost an
-- import"). With sparkevents.defer_rollups on (load.DeferRollups), an
-- INSERT's rows only go to a temporary table, and
-- spark_events_rollup_flush(), which the loader calls before it commits
-- (load.FlushRollups), applies them at once. Any other statement on
-- spark_events flushes them first, so the rollups see every change in its
-- order. A transaction that never flushes loses its deferred rows with the
-- temporary table's rows at commit: the loader's tests compare the rollups
-- with a rebuild. Every statement's signed rows pass through the same
-- temporary table, since a function the trigger calls cannot see the
-- trigger's transition tables.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION spark_events_rollup_pending() RETURNS void
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
CREATE FUNCTION spark_events_rollup_apply(op text) RETURNS void
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
CREATE FUNCTION spark_events_rollup_flush() RETURNS void
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
BEGIN
    IF current_setting('sparkevents.keep_rollups', true) IS DISTINCT FROM 'on' THEN
        TRUNCATE rollup_daily_events, rollup_daily_users, rollup_daily_services, rollup_hourly_logins, rollup_login_hours, rollup_service_users, rollup_users;
    END IF;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    cols CONSTANT text := 'tenant, event_time, (event_time AT TIME ZONE ''UTC'')::date AS day, event_type, user_name, folder_name, service_name, event_type IN (''SparkLogin'', ''CALogin'') AS login';
    delta text;
    same CONSTANT text := 'WHERE n.tenant = o.tenant AND n.event_id = o.event_id AND (n.event_time, n.event_type, n.user_name, n.folder_name, n.service_name) IS NOT DISTINCT FROM (o.event_time, o.event_type, o.user_name, o.folder_name, o.service_name)';
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sparkevents.keep_rollups', true) = 'on' THEN
        RETURN NULL;
    END IF;
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
    IF TG_OP = 'INSERT' THEN
        RETURN NULL;
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
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd
DROP FUNCTION spark_events_rollup_flush();
DROP FUNCTION spark_events_rollup_apply(text);
DROP FUNCTION spark_events_rollup_pending();
