-- Who deleted what: which deletions happened in the period (any event type
-- starting with Delete: services, service versions, products, product
-- documents, sections, and deletion types Spark adds later), who did each
-- and when?
--
-- Parameters:
--   from: start of the period, inclusive (default: all history)
--   to: end of the period, exclusive (default: no end)
--   tenant: only this tenant (default: every tenant)
--   user_name: only deletions by this user (default: every user)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -v user_name=jane@example.com -f sql/who_deleted_what.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif
\if :{?user_name} \else \set user_name '' \endif

SELECT event_time,
       tenant,
       user_name,
       CASE event_type
           WHEN 'DeleteEngine'          THEN 'service'
           WHEN 'DeleteEngineVersion'   THEN 'service version'
           WHEN 'DeleteProduct'         THEN 'product'
           WHEN 'DeleteProductDocument' THEN 'product document'
           WHEN 'DeleteSection'         THEN 'section'
           ELSE lower(substr(event_type, length('Delete') + 1))
       END AS deleted,
       folder_name,
       service_name,
       service_version,
       description,
       event_type
FROM spark_events
WHERE event_type LIKE 'Delete%'
  AND event_time >= :'from'::timestamptz
  AND event_time <  :'to'::timestamptz
  AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
  AND (:'user_name'::text = '' OR user_name = :'user_name'::text)
ORDER BY event_time, tenant, event_id;
