-- Service version history: what happened to each service, step by step
-- (publish, cancel publish, update, restore, activate, deactivate, delete
-- version, delete): to which version, by whom and when?
--
-- Parameters:
--   service: only services with this name (default: every service)
--   folder: only services in the folder with this name (default: every folder)
--   tenant: only this tenant (default: every tenant)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v service=Quote -f sql/service_version_history.sql

\if :{?service} \else \set service '' \endif
\if :{?folder} \else \set folder '' \endif
\if :{?tenant} \else \set tenant '' \endif

SELECT tenant,
       folder_name,
       service_name,
       row_number() OVER (PARTITION BY tenant, folder_name, service_name
                          ORDER BY event_time, event_id) AS step,
       event_time,
       action,
       service_version,
       user_name,
       description
FROM service_lifecycle
WHERE (:'service'::text = '' OR service_name = :'service'::text)
  AND (:'folder'::text = '' OR folder_name = :'folder'::text)
  AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
ORDER BY tenant, folder_name, service_name, step;
