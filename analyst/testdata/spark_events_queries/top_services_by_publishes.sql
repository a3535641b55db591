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

SELECT tenant,
       folder_name,
       service_name,
       count(*) FILTER (WHERE event_type = 'PublishEngine')                  AS publishes,
       count(*) FILTER (WHERE event_type = 'UpdateEngine')                   AS updates,
       count(DISTINCT user_name) FILTER (WHERE event_type = 'PublishEngine') AS publishers,
       max(event_time) FILTER (WHERE event_type = 'PublishEngine')           AS last_published
FROM spark_events
WHERE event_type IN ('PublishEngine', 'UpdateEngine')
  AND service_name <> ''
  AND event_time >= :'from'::timestamptz
  AND event_time <  :'to'::timestamptz
  AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
GROUP BY tenant, folder_name, service_name
HAVING count(*) FILTER (WHERE event_type = 'PublishEngine') > 0
ORDER BY publishes DESC, updates DESC, tenant, folder_name, service_name
LIMIT :'limit'::int;
