-- Top services by publishes: which services were published most often in the
-- period (PublishEngine events), by how many people, and how often were they
-- updated (UpdateEngine)? A service is a service name in a folder of a tenant.
--
-- Parameters:
--   from: start of the period, inclusive (default: all history)
--   to: end of the period, exclusive (default: no end)
--   tenant: only this tenant (default: every tenant)
--   limit: how many services to list (default: 20)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -v limit=10 -f sql/top_services_by_publishes.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif
\if :{?limit} \else \set limit 20 \endif

-- Whole UTC days of the period are read from the rollups (migration 00007),
-- kept up by every load; the partial days at its ends, if any, from the
-- events. A period whose whole days hold every stored publish and update
-- (the default: all history) is read from the all-time rollup instead, a
-- row per service, folder and user. The rollups store no folder and no user
-- as ''. Every bound is a scalar subquery, which the planner takes as an
-- index bound.
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
    WHERE r.event_type IN ('PublishEngine', 'UpdateEngine')
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
),
x AS (
    SELECT r.tenant, nullif(r.folder_name, '') AS folder_name, r.service_name, nullif(r.user_name, '') AS user_name,
           r.publishes, r.updates, r.last_published
    FROM rollup_daily_services r
    WHERE NOT (SELECT all_time FROM covers)
      AND r.day >= (SELECT first_day FROM b) AND r.day < (SELECT end_day FROM b)
      AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
    UNION ALL
    SELECT e.tenant, e.folder_name, e.service_name, e.user_name,
           (e.event_type = 'PublishEngine')::int, (e.event_type = 'UpdateEngine')::int,
           CASE WHEN e.event_type = 'PublishEngine' THEN e.event_time END
    FROM spark_events e
    WHERE e.event_type IN ('PublishEngine', 'UpdateEngine')
      AND e.service_name <> ''
      AND (((e.event_time AT TIME ZONE 'UTC')::date = (SELECT first_day - 1 FROM b)
            AND e.event_time >= (SELECT from_t FROM b) AND e.event_time < (SELECT least(a, to_t) FROM b))
          OR ((e.event_time AT TIME ZONE 'UTC')::date = (SELECT end_day FROM b)
            AND e.event_time >= (SELECT greatest(a, z, from_t) FROM b) AND e.event_time < (SELECT to_t FROM b)))
      AND (:'tenant'::text = '' OR e.tenant = :'tenant'::text)
)
SELECT tenant,
       folder_name,
       service_name,
       sum(publishes)::bigint                                   AS publishes,
       sum(updates)::bigint                                     AS updates,
       count(DISTINCT user_name) FILTER (WHERE publishes > 0)   AS publishers,
       max(last_published)                                      AS last_published
FROM x
WHERE NOT (SELECT all_time FROM covers)
GROUP BY tenant, folder_name, service_name
HAVING sum(publishes) > 0
UNION ALL
-- The whole history: a user has one row per service and folder, read in
-- the key's order, so the groups need neither a sort nor a DISTINCT.
SELECT r.tenant,
       nullif(r.folder_name, ''),
       r.service_name,
       sum(r.publishes)::bigint,
       sum(r.updates)::bigint,
       count(*) FILTER (WHERE r.publishes > 0 AND r.user_name <> ''),
       max(r.last_published)
FROM rollup_service_users r
WHERE (SELECT all_time FROM covers)
  AND (:'tenant'::text = '' OR r.tenant = :'tenant'::text)
GROUP BY r.tenant, r.service_name, r.folder_name
HAVING sum(r.publishes) > 0
ORDER BY publishes DESC, updates DESC, tenant, folder_name, service_name
LIMIT :'limit'::int;
