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
u AS (
    SELECT r.tenant, r.user_name, r.first_seen, r.last_seen, r.events
    FROM rollup_daily_users r, p
    WHERE NOT (SELECT all_time FROM covers)
      AND r.day < p.as_of_day
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
