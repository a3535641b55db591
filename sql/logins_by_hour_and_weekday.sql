-- Log-ins by hour of day and weekday: when do people log in (SparkLogin and
-- CALogin events), in UTC? Always 168 rows, one per ISO weekday (1 = Monday)
-- and hour, zeros included, ready for a heat map.
--
-- Parameters:
--   from: start of the period, inclusive (default: all history)
--   to: end of the period, exclusive (default: no end)
--   tenant: only this tenant (default: every tenant)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -f sql/logins_by_hour_and_weekday.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif

-- Whole UTC days of the period are read from the rollups (migration 00007),
-- kept up by every load; the partial days at its ends, if any, from the
-- events. A period whose whole days hold every stored log-in (the default:
-- all history) is read from the all-time rollup instead, a row per weekday,
-- hour and user. The rollups store log-ins without a user under ''. Every
-- bound is a scalar subquery, which the planner takes as an index bound.
WITH p AS (
    SELECT :'from'::timestamptz AS from_t,
           :'to'::timestamptz   AS to_t
),
b AS (
    -- [first_day, end_day): the days wholly inside [from, to); a and z are
    -- their bounds as times.
    SELECT from_t, to_t, first_day, end_day,
           first_day::timestamp AT TIME ZONE 'UTC' AS a,
           end_day::timestamp AT TIME ZONE 'UTC'   AS z
    FROM (
        SELECT from_t, to_t,
               (from_t AT TIME ZONE 'UTC')::date
                 + CASE WHEN date_trunc('day', from_t AT TIME ZONE 'UTC') = from_t AT TIME ZONE 'UTC' THEN 0 ELSE 1 END AS first_day,
               (to_t AT TIME ZONE 'UTC')::date AS end_day
        FROM p
    ) d
),
covers AS (
    SELECT coalesce(min(r.day) >= (SELECT first_day FROM b) AND max(r.day) < (SELECT end_day FROM b), true) AS all_time
    FROM rollup_daily_events r
    WHERE r.event_type IN ('SparkLogin', 'CALogin')
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
),
logins AS (
    SELECT extract(isodow FROM r.day)::int AS weekday, r.hour::int AS hour, nullif(r.user_name, '') AS user_name, r.logins
    FROM rollup_hourly_logins r
    WHERE NOT (SELECT all_time FROM covers)
      AND r.day >= (SELECT first_day FROM b) AND r.day < (SELECT end_day FROM b)
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
    UNION ALL
    SELECT extract(isodow FROM e.event_time AT TIME ZONE 'UTC')::int,
           extract(hour FROM e.event_time AT TIME ZONE 'UTC')::int,
           e.user_name,
           1
    FROM spark_events e
    WHERE e.event_type IN ('SparkLogin', 'CALogin')
      AND (((e.event_time AT TIME ZONE 'UTC')::date = (SELECT first_day - 1 FROM b)
            AND e.event_time >= (SELECT from_t FROM b) AND e.event_time < (SELECT least(a, to_t) FROM b))
          OR ((e.event_time AT TIME ZONE 'UTC')::date = (SELECT end_day FROM b)
            AND e.event_time >= (SELECT greatest(a, z, from_t) FROM b) AND e.event_time < (SELECT to_t FROM b)))
      AND (:'tenant'::text = '' OR e.tenant = :'tenant'::text)
),
cells AS (
    SELECT weekday, hour, sum(logins) AS logins, count(DISTINCT user_name) AS users
    FROM logins
    WHERE NOT (SELECT all_time FROM covers)
    GROUP BY weekday, hour
    UNION ALL
    -- The whole history of one tenant: a user has one row per weekday and
    -- hour, read in the key's order, so the cells need no DISTINCT.
    SELECT r.weekday, r.hour, sum(r.logins), count(nullif(r.user_name, ''))
    FROM rollup_login_hours r
    WHERE (SELECT all_time FROM covers)
      AND r.tenant = :'tenant'::text
    GROUP BY r.weekday, r.hour
    UNION ALL
    SELECT r.weekday, r.hour, sum(r.logins), count(DISTINCT nullif(r.user_name, ''))
    FROM rollup_login_hours r
    WHERE (SELECT all_time FROM covers)
      AND :'tenant'::text = ''
    GROUP BY r.weekday, r.hour
)
SELECT d.weekday,
       (ARRAY['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'])[d.weekday] AS weekday_name,
       h.hour,
       coalesce(c.logins, 0)::bigint AS logins,
       coalesce(c.users, 0) AS users
FROM generate_series(1, 7) AS d(weekday)
CROSS JOIN generate_series(0, 23) AS h(hour)
LEFT JOIN cells c ON c.weekday = d.weekday AND c.hour = h.hour
ORDER BY d.weekday, h.hour;
