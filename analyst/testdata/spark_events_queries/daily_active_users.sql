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

SELECT (event_time AT TIME ZONE 'UTC')::date         AS day,
       count(DISTINCT nullif(user_name, ''))          AS active_users,
       count(*)                                       AS events
FROM spark_events
WHERE event_time >= :'from'::timestamptz
  AND event_time <  :'to'::timestamptz
  AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
GROUP BY day
ORDER BY day;
