-- Permission changes by folder: in which folders were permissions added,
-- removed or modified in the period, how often, by how many people, and when
-- last? Changes outside any folder are listed with an empty folder.
--
-- Parameters:
--   from: start of the period, inclusive (default: all history)
--   to: end of the period, exclusive (default: no end)
--   tenant: only this tenant (default: every tenant)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -f sql/permission_changes_by_folder.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif

SELECT tenant,
       folder_id,
       folder_name,
       count(*)                                  AS changes,
       count(*) FILTER (WHERE change = 'add')    AS added,
       count(*) FILTER (WHERE change = 'remove') AS removed,
       count(*) FILTER (WHERE change = 'modify') AS modified,
       count(DISTINCT user_name)                 AS changed_by,
       max(event_time)                           AS last_change
FROM permission_changes
WHERE event_time >= :'from'::timestamptz
  AND event_time <  :'to'::timestamptz
  AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
GROUP BY tenant, folder_id, folder_name
ORDER BY changes DESC, tenant, folder_name, folder_id;
