-- Rollups: summary tables of spark_events that keep up by themselves, so a
-- dashboard's question over months or years reads thousands of rows instead
-- of millions (bench/README.md, "At 10M events: rollups, and no
-- partitions").
--
--   rollup_daily_events    events per (tenant, UTC day, event type)
--   rollup_daily_users     per (tenant, UTC day, user): events, log-ins, the
--                          first and last event and the last log-in; a row
--                          per user and day, so distinct users are counted
--                          exactly over any range of days
--   rollup_users           the same over the whole history, per (tenant,
--                          user): events, first and last event
--   rollup_daily_services  PublishEngine and UpdateEngine events per (tenant,
--                          UTC day, service, folder, user): publishes,
--                          updates and the last publish
--   rollup_service_users   the same over the whole history, per (tenant,
--                          service, folder, user): the top services of all
--                          time without a row per day
--   rollup_hourly_logins   SparkLogin and CALogin events per (tenant, UTC
--                          day, UTC hour, user)
--   rollup_login_hours     the same over the whole history, per (tenant, ISO
--                          weekday, UTC hour, user): the log-in heat map of
--                          all time without a row per day
--
-- The tables leave 30% of each page free (fillfactor 70), so most updates
-- of a bucket's counts are HOT, writing no index entry: it took a third off
-- the triggers' time of an import (bench/README.md).
--
-- Every key leads with tenant, so the tables can be distributed by tenant
-- (Citus) beside spark_events. A key column that spark_events allows to be
-- NULL (folder_name, and user_name of the services and log-in rollups) holds
-- '' for NULL: the loader never stores an empty string (it stores NULL), and
-- the queries that read these columns turn '' back into NULL. Events without
-- a user have no row in rollup_daily_users.
--
-- They are maintained in the transaction that changes spark_events, by
-- statement-level AFTER triggers with transition tables (one per INSERT,
-- UPDATE and DELETE: PostgreSQL allows transition tables only on a trigger
-- of one event), whatever writes: the loader's COPY, INSERT and INSERT ... ON
-- CONFLICT DO UPDATE, a COPY of another program, an UPDATE or DELETE by hand.
-- Each statement's rows are summed into deltas, the old rows subtracted and
-- the new ones added, and a bucket whose count drops to zero is deleted. So
-- a re-import that changes nothing changes no rollup, an updated event is
-- counted once, and an event whose time, type or user changes moves from its
-- old bucket to its new one. The first and last times (first_seen,
-- last_seen, last_login, last_published) take least/greatest of what comes
-- in; when a row that leaves a bucket held one of them, the bucket's times
-- are read again from spark_events (one UTC day, or for an all-time rollup
-- the whole history, of one user or service: an index range). TRUNCATE of
-- spark_events empties the rollups.
--
-- The escape hatch: a transaction that has run
--
--     SET LOCAL sparkevents.keep_rollups = on
--
-- (load.KeepRollups) deletes events without touching the rollups (and a
-- TRUNCATE keeps them too). It is for a prune whose rollups keep a longer
-- retention than the events: the rollups of pruned days then summarise
-- events that are gone, and `sparkevents rollups rebuild` would drop them.
-- UPDATEs are always applied (a pseudonymization moves a user's counts to
-- the new name). Anything else that deletes events (forget, a DELETE by
-- hand) must leave the setting off. Rollups kept past their events are out
-- of the triggers' reach: erasing a person must also delete (or rename)
-- their rows of rollup_daily_users, rollup_users, rollup_daily_services,
-- rollup_service_users, rollup_hourly_logins and rollup_login_hours by
-- user_name, for the days whose events a prune removed.
--
-- spark_events_rollups_rebuild(tenant) recomputes the rollups of one tenant
-- (NULL: of every tenant) from spark_events; it backfills them below and is
-- what `sparkevents rollups rebuild` runs. On a big table the backfill takes
-- about 2.5 minutes per 10M events on 2 cores (bench/README.md), during
-- which loads wait: run sparkevents migrate up when no load is due.
--
-- The trigger functions set their search_path to this schema, so a
-- statement run with another search_path (psql without PGOPTIONS) still
-- finds the rollups.

-- +goose Up
CREATE TABLE rollup_daily_events (
    tenant      text   NOT NULL,
    day         date   NOT NULL,
    event_type  text   NOT NULL,
    events      bigint NOT NULL,
    PRIMARY KEY (tenant, day, event_type)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_events IS 'Events per tenant, UTC day and event type, kept up by triggers on spark_events (migration 00007).';

CREATE TABLE rollup_daily_users (
    tenant      text        NOT NULL,
    day         date        NOT NULL,
    user_name   text        NOT NULL,
    events      bigint      NOT NULL,
    logins      bigint      NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    last_login  timestamptz,
    PRIMARY KEY (tenant, day, user_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_users IS 'Per tenant, UTC day and user: events, SparkLogin/CALogin log-ins, the first and last event and the last log-in of that day. Events without a user are not here. Kept up by triggers on spark_events (migration 00007).';

CREATE TABLE rollup_users (
    tenant      text        NOT NULL,
    user_name   text        NOT NULL,
    events      bigint      NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    PRIMARY KEY (tenant, user_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_users IS 'Per tenant and user, over the whole history: events, the first and the last event. Events without a user are not here. Kept up by triggers on spark_events (migration 00007).';

CREATE TABLE rollup_daily_services (
    tenant          text        NOT NULL,
    day             date        NOT NULL,
    service_name    text        NOT NULL,
    folder_name     text        NOT NULL,
    user_name       text        NOT NULL,
    publishes       bigint      NOT NULL,
    updates         bigint      NOT NULL,
    last_published  timestamptz,
    PRIMARY KEY (tenant, day, service_name, folder_name, user_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_daily_services IS 'PublishEngine and UpdateEngine events per tenant, UTC day, service, folder ('''' for none) and user ('''' for none), with the last publish of that day. Kept up by triggers on spark_events (migration 00007).';

CREATE TABLE rollup_service_users (
    tenant          text        NOT NULL,
    service_name    text        NOT NULL,
    folder_name     text        NOT NULL,
    user_name       text        NOT NULL,
    publishes       bigint      NOT NULL,
    updates         bigint      NOT NULL,
    last_published  timestamptz,
    PRIMARY KEY (tenant, service_name, folder_name, user_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_service_users IS 'PublishEngine and UpdateEngine events of the whole history per tenant, service, folder ('''' for none) and user ('''' for none), with the last publish. Kept up by triggers on spark_events (migration 00007).';

CREATE TABLE rollup_hourly_logins (
    tenant     text     NOT NULL,
    day        date     NOT NULL,
    hour       smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    user_name  text     NOT NULL,
    logins     bigint   NOT NULL,
    PRIMARY KEY (tenant, day, hour, user_name)
) WITH (fillfactor = 70);
CREATE TABLE rollup_login_hours (
    tenant     text     NOT NULL,
    weekday    smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    hour       smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
    user_name  text     NOT NULL,
    logins     bigint   NOT NULL,
    PRIMARY KEY (tenant, weekday, hour, user_name)
) WITH (fillfactor = 70);
COMMENT ON TABLE rollup_login_hours IS 'SparkLogin and CALogin events of the whole history per tenant, ISO weekday (1 = Monday), UTC hour and user ('''' for none). Kept up by triggers on spark_events (migration 00007).';

COMMENT ON TABLE rollup_hourly_logins IS 'SparkLogin and CALogin events per tenant, UTC day, UTC hour and user ('''' for none). Kept up by triggers on spark_events (migration 00007).';

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
-- trigger's transition tables. An update counts only where it changed what
-- the rollups read (a description edit moves no bucket).
--
-- A rollup row whose events are all gone but whose counts stay (days
-- pruned under sparkevents.keep_rollups) keeps its first and last times
-- when no event is left to read them from. A service's last publish is
-- read again only while publishes are left: a prune deleting the oldest
-- events, often a (service, folder, user)'s only publish, would otherwise
-- read 20k events of the service for each (bench/README.md, "Prune beside a
-- sync").

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
CREATE FUNCTION spark_events_rollup() RETURNS trigger
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
CREATE FUNCTION spark_events_rollup_truncate() RETURNS trigger
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
CREATE FUNCTION spark_events_rollups_rebuild(only_tenant text) RETURNS void
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

CREATE TRIGGER spark_events_rollup_insert AFTER INSERT ON spark_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION spark_events_rollup();
CREATE TRIGGER spark_events_rollup_update AFTER UPDATE ON spark_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION spark_events_rollup();
CREATE TRIGGER spark_events_rollup_delete AFTER DELETE ON spark_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION spark_events_rollup();
CREATE TRIGGER spark_events_rollup_truncate AFTER TRUNCATE ON spark_events
    FOR EACH STATEMENT EXECUTE FUNCTION spark_events_rollup_truncate();

SELECT spark_events_rollups_rebuild(NULL);

-- user_activity reads the users rollup: the same answer (a user's active
-- days are their rows), from a row per user and day instead of a row per
-- event. CREATE OR REPLACE keeps its comments and grants.
CREATE OR REPLACE VIEW user_activity AS
SELECT tenant,
       user_name,
       min(first_seen)        AS first_seen,
       max(last_seen)         AS last_seen,
       sum(events)::bigint    AS events,
       count(*)               AS active_days,
       sum(logins)::bigint    AS logins,
       max(last_login)        AS last_login
FROM rollup_daily_users
WHERE user_name <> ''
GROUP BY tenant, user_name;
COMMENT ON VIEW user_activity IS 'One row per (tenant, user): when the user was first and last seen and how active they are, over the whole history. Reads rollup_daily_users, a row per user and day.';

-- The per-event questions that stay on spark_events (who_deleted_what,
-- permission_changes and permission_changes_by_folder) get partial indexes
-- of their few rows, by tenant and time: the (event_type, event_time) index
-- cannot bound the time of several types at once (every Delete* type), so
-- a 30-day question read every deletion of the history. They cost a load
-- only its deletions and permission changes.
CREATE INDEX spark_events_deletions_idx ON spark_events (tenant, event_time)
    WHERE event_type LIKE 'Delete%';
COMMENT ON INDEX spark_events_deletions_idx IS 'Deletions (Delete* events) by tenant and time: serves sql/who_deleted_what.sql (migration 00007).';
CREATE INDEX spark_events_permission_changes_idx ON spark_events (tenant, event_time)
    WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission');
COMMENT ON INDEX spark_events_permission_changes_idx IS 'Permission changes by tenant and time: serves permission_changes and sql/permission_changes_by_folder.sql (migration 00007).';

-- +goose Down
DROP INDEX spark_events_permission_changes_idx;
DROP INDEX spark_events_deletions_idx;
CREATE OR REPLACE VIEW user_activity AS
SELECT tenant,
       user_name,
       min(event_time)                                                   AS first_seen,
       max(event_time)                                                   AS last_seen,
       count(*)                                                          AS events,
       count(DISTINCT (event_time AT TIME ZONE 'UTC')::date)             AS active_days,
       count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))   AS logins,
       max(event_time) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')) AS last_login
FROM spark_events
WHERE user_name <> ''
GROUP BY tenant, user_name;
COMMENT ON VIEW user_activity IS 'One row per (tenant, user): when the user was first and last seen and how active they are, over the whole history. Reads every event: filter on tenant or user_name when you can.';
DROP TRIGGER spark_events_rollup_truncate ON spark_events;
DROP TRIGGER spark_events_rollup_delete ON spark_events;
DROP TRIGGER spark_events_rollup_update ON spark_events;
DROP TRIGGER spark_events_rollup_insert ON spark_events;
DROP FUNCTION spark_events_rollups_rebuild(text);
DROP FUNCTION spark_events_rollup_truncate();
DROP FUNCTION spark_events_rollup();
DROP FUNCTION spark_events_rollup_flush();
DROP FUNCTION spark_events_rollup_apply(text);
DROP FUNCTION spark_events_rollup_pending();
DROP TABLE rollup_login_hours;
DROP TABLE rollup_service_users;
DROP TABLE rollup_hourly_logins;
DROP TABLE rollup_daily_services;
DROP TABLE rollup_users;
DROP TABLE rollup_daily_users;
DROP TABLE rollup_daily_events;
