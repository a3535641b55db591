-- Dormant users: who has not done anything (no event at all) in the last
-- N days, and when were they last seen?
--
-- Parameters:
--   days: how many days without an event make a user dormant (default: 30)
--   as_of: the moment to look back from; events after it are ignored (default: now)
--   tenant: only this tenant (default: every tenant)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v days=60 -f sql/dormant_users.sql

\if :{?days} \else \set days 30 \endif
\if :{?as_of} \else \set as_of '' \endif
\if :{?tenant} \else \set tenant '' \endif

-- Whole UTC days before as_of are read from the rollups (migration 00007),
-- kept up by every load; the day of as_of, up to as_of, from the events.
-- When every stored event lies before the day of as_of (as_of = now, the
-- default), the all-time rollup of users answers alone, a row per user.
WITH p AS (
    SELECT as_of, idle, (as_of AT TIME ZONE 'UTC')::date AS as_of_day,
           (as_of AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' AS as_of_day_start
    FROM (
        SELECT coalesce(nullif(:'as_of'::text, ''), now()::text)::timestamptz AS as_of,
               make_interval(days => :'days'::int)                            AS idle
    ) x
),
covers AS (
    SELECT coalesce(max(r.day) < (SELECT as_of_day FROM p), true) AS all_time
    FROM rollup_daily_events r
    WHERE (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
),
-- Inside the history, only the users idle through the last days before
-- as_of are summed over their days: the users with an event before as_of
-- (rollup_users.first_seen) and none in [as_of - days, as_of). Everyone is
-- active lately on a busy tenant, so this reads a few days' rows, not the
-- whole history's.
idle_users AS (
    SELECT r.tenant, r.user_name
    FROM rollup_users r
    WHERE NOT (SELECT all_time FROM covers)
      AND r.first_seen < (SELECT as_of FROM p)
      AND r.user_name <> ''
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
      AND NOT EXISTS (
          SELECT FROM rollup_daily_users d
          WHERE d.tenant = r.tenant AND d.user_name = r.user_name
            AND d.day >= (SELECT ((as_of - idle) AT TIME ZONE 'UTC')::date FROM p)
            AND d.day < (SELECT as_of_day FROM p)
            AND d.last_seen >= (SELECT as_of - idle FROM p))
      AND NOT EXISTS (
          SELECT FROM spark_events e
          WHERE e.tenant = r.tenant AND e.user_name = r.user_name
            AND e.event_time >= (SELECT greatest(as_of_day_start, as_of - idle) FROM p)
            AND e.event_time < (SELECT as_of FROM p))
),
u AS (
    SELECT r.tenant, r.user_name, r.first_seen, r.last_seen, r.events
    FROM rollup_daily_users r, p
    WHERE NOT (SELECT all_time FROM covers)
      AND r.day < p.as_of_day
      AND (r.tenant, r.user_name) IN (SELECT tenant, user_name FROM idle_users)
      AND r.user_name <> ''
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
    UNION ALL
    SELECT e.tenant, e.user_name, e.event_time, e.event_time, 1
    FROM spark_events e, p
    WHERE e.event_time >= p.as_of_day_start AND e.event_time < p.as_of
      AND e.user_name <> ''
      AND (:'tenant'::text = '' OR e.tenant = :'tenant'::text)
)
SELECT u.tenant,
       u.user_name,
       min(u.first_seen)                                               AS first_seen,
       max(u.last_seen)                                                AS last_seen,
       sum(u.events)::bigint                                           AS events,
       floor(extract(epoch FROM p.as_of - max(u.last_seen)) / 86400)::int AS days_idle
FROM u
CROSS JOIN p
GROUP BY u.tenant, u.user_name, p.as_of, p.idle
HAVING max(u.last_seen) < p.as_of - p.idle
UNION ALL
SELECT r.tenant,
       r.user_name,
       r.first_seen,
       r.last_seen,
       r.events,
       floor(extract(epoch FROM p.as_of - r.last_seen) / 86400)::int
FROM rollup_users r
CROSS JOIN p
WHERE (SELECT all_time FROM covers)
  AND r.user_name <> ''
  AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
  AND r.last_seen < p.as_of - p.idle
ORDER BY last_seen, tenant, user_name;
