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

-- A rollup row whose events are all gone but whose counts stay (days
-- pruned under sparkevents.keep_rollups) kept its first and last times
-- NULL when a trigger read them again from the events, which the NOT NULL
-- columns refused: a forget, or a prune after one that kept the rollups,
-- failed for a user with only such days left. The times now stay as they
-- were when no event is left to read them from. And a service's last
-- publish is read again only while publishes are left: a prune deleting
-- the oldest events, often a (service, folder, user)'s only publish, read
-- 20k events of the service for each (10 s a batch at 10M events,
-- bench/README.md, "Prune beside a sync"); with none left it is NULL.
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

-- +goose Down
DELETE FROM etl_runs WHERE kind IN ('prune', 'forget');
ALTER TABLE etl_runs DROP COLUMN details;
ALTER TABLE etl_runs DROP COLUMN rows_deleted;
ALTER TABLE etl_runs DROP CONSTRAINT etl_runs_kind_check;
ALTER TABLE etl_runs ADD CONSTRAINT etl_runs_kind_check CHECK (kind IN ('import', 'sync', 'backfill'));
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION spark_events_rollup() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $fn$
DECLARE
    cols CONSTANT text := 'tenant, event_time, (event_time AT TIME ZONE ''UTC'')::date AS day, event_type, user_name, folder_name, service_name, event_type IN (''SparkLogin'', ''CALogin'') AS login';
    delta text;
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sparkevents.keep_rollups', true) = 'on' THEN
        RETURN NULL;
    END IF;
    -- Each row of the statement with its sign: +1 added, -1 removed.
    delta := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', cols)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', cols)
        ELSE format('SELECT %s, -1 AS sign FROM old_rows UNION ALL SELECT %s, 1 AS sign FROM new_rows', cols, cols)
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
            SELECT min(e.event_time), max(e.event_time),
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
            SELECT min(e.event_time), max(e.event_time)
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
        SET last_published = (
            SELECT max(e.event_time)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name
              AND e.event_time >= r.day::timestamp AT TIME ZONE 'UTC'
              AND e.event_time < (r.day + 1)::timestamp AT TIME ZONE 'UTC')
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
        SET last_published = (
            SELECT max(e.event_time)
            FROM spark_events e
            WHERE e.tenant = r.tenant AND e.service_name = r.service_name AND e.event_type = 'PublishEngine'
              AND coalesce(e.folder_name, '') = r.folder_name AND coalesce(e.user_name, '') = r.user_name)
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
