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

WITH p AS (
    SELECT coalesce(nullif(:'as_of'::text, ''), now()::text)::timestamptz AS as_of,
           make_interval(days => :'days'::int)                            AS idle
)
SELECT e.tenant,
       e.user_name,
       min(e.event_time)                                               AS first_seen,
       max(e.event_time)                                               AS last_seen,
       count(*)                                                        AS events,
       floor(extract(epoch FROM p.as_of - max(e.event_time)) / 86400)::int AS days_idle
FROM spark_events e
CROSS JOIN p
WHERE e.user_name <> ''
  AND e.event_time < p.as_of
  AND (:'tenant'::text = '' OR e.tenant = :'tenant'::text)
GROUP BY e.tenant, e.user_name, p.as_of, p.idle
HAVING max(e.event_time) < p.as_of - p.idle
ORDER BY last_seen, e.tenant, e.user_name;
