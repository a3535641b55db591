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

WITH logins AS (
    SELECT extract(isodow FROM event_time AT TIME ZONE 'UTC')::int AS weekday,
           extract(hour FROM event_time AT TIME ZONE 'UTC')::int   AS hour,
           user_name
    FROM spark_events
    WHERE event_type IN ('SparkLogin', 'CALogin')
      AND event_time >= :'from'::timestamptz
      AND event_time <  :'to'::timestamptz
      AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
)
SELECT d.weekday,
       (ARRAY['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'])[d.weekday] AS weekday_name,
       h.hour,
       count(l.weekday)            AS logins,
       count(DISTINCT l.user_name) AS users
FROM generate_series(1, 7) AS d(weekday)
CROSS JOIN generate_series(0, 23) AS h(hour)
LEFT JOIN logins l ON l.weekday = d.weekday AND l.hour = h.hour
GROUP BY d.weekday, h.hour
ORDER BY d.weekday, h.hour;
