-- Daily active users: how many distinct users had at least one event on each
-- UTC day of the period, and how many events were there?
-- Days without any event are not listed.
--
-- Parameters:
--   from: start of the period, inclusive, a date or timestamp (default: all history)
--   to: end of the period, exclusive (default: no end)
--   tenant: only this tenant (default: every tenant)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -v to=2026-02-01 -f sql/daily_active_users.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif

-- Whole UTC days of the period are read from the rollups (migration 00007),
-- kept up by every load; the partial days at its ends, if any, from the
-- events. Every bound is a scalar subquery, which the planner takes as an
-- index bound (a join with b would read every event), and a partial day is
-- asked by its day too, which the planner expects to hold a day's events
-- (by a time range alone it expects far more, and compiles the query).
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
whole_events AS (
    SELECT r.day, sum(r.events)::bigint AS events
    FROM rollup_daily_events r
    WHERE r.day >= (SELECT first_day FROM b) AND r.day < (SELECT end_day FROM b)
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
    GROUP BY r.day
),
whole_users AS (
    -- Of one tenant a user has one row a day: counting needs no DISTINCT,
    -- which would sort every row.
    SELECT r.day, count(nullif(r.user_name, '')) AS active_users
    FROM rollup_daily_users r
    WHERE r.day >= (SELECT first_day FROM b) AND r.day < (SELECT end_day FROM b)
      AND r.tenant = :'tenant'::text
    GROUP BY r.day
    UNION ALL
    SELECT r.day, count(DISTINCT nullif(r.user_name, ''))
    FROM rollup_daily_users r
    WHERE r.day >= (SELECT first_day FROM b) AND r.day < (SELECT end_day FROM b)
      AND :'tenant'::text = ''
    GROUP BY r.day
),
edges AS (
    SELECT (e.event_time AT TIME ZONE 'UTC')::date        AS day,
           count(DISTINCT nullif(e.user_name, ''))        AS active_users,
           count(*)                                       AS events
    FROM spark_events e
    WHERE (((e.event_time AT TIME ZONE 'UTC')::date = (SELECT first_day - 1 FROM b)
          AND e.event_time >= (SELECT from_t FROM b) AND e.event_time < (SELECT least(a, to_t) FROM b))
        OR ((e.event_time AT TIME ZONE 'UTC')::date = (SELECT end_day FROM b)
          AND e.event_time >= (SELECT greatest(a, z, from_t) FROM b) AND e.event_time < (SELECT to_t FROM b)))
      AND (:'tenant'::text = '' OR e.tenant = :'tenant'::text)
    GROUP BY 1
)
SELECT e.day, coalesce(u.active_users, 0) AS active_users, e.events
FROM whole_events e
LEFT JOIN whole_users u ON u.day = e.day
UNION ALL
SELECT day, active_users, events FROM edges
ORDER BY day;
