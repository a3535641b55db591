-- Views for analysts and BI tools (Metabase, Grafana, Superset): the
-- questions people ask of the event log, answered once, documented with
-- COMMENT ON so they show up in the tools' data browsers.
--
-- Days are UTC days everywhere, so a chart does not change with the viewer's
-- time zone. Every view is a plain view: it reads spark_events at query time
-- and is never stale. The views grouped by day expose the day as a grouping
-- column, so a filter on it is pushed into the scan and served by the
-- expression index below instead of aggregating the whole table; the
-- per-event views keep event_time as is, served by the (event_type,
-- event_time) index.

-- +goose Up
CREATE INDEX spark_events_utc_day_idx ON spark_events (((event_time AT TIME ZONE 'UTC')::date));
COMMENT ON INDEX spark_events_utc_day_idx IS 'Serves day filters on daily_event_counts and folder_activity.';

CREATE VIEW daily_event_counts AS
SELECT (event_time AT TIME ZONE 'UTC')::date AS day,
       tenant,
       event_type,
       count(*)                  AS events,
       count(DISTINCT user_name) AS users
FROM spark_events
GROUP BY 1, 2, 3;
COMMENT ON VIEW daily_event_counts IS 'Events per UTC day, tenant and event type. Filter on day to keep it cheap.';
COMMENT ON COLUMN daily_event_counts.day IS 'UTC calendar day of event_time.';
COMMENT ON COLUMN daily_event_counts.events IS 'Number of events of this type that day.';
COMMENT ON COLUMN daily_event_counts.users IS 'Distinct user names among those events (events without a user are not counted).';

CREATE VIEW user_activity AS
SELECT tenant,
       user_name,
       min(event_time)                                                   AS first_seen,
       max(event_time)                                                   AS last_seen,
       count(*)                                                          AS events,
       count(DISTINCT (event_time AT TIME ZONE 'UTC')::date)             AS active_days,
       count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))   AS logins,
       max(event_time) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin')) AS last_login
FROM spark_events
WHERE user_name <> ''
GROUP BY tenant, user_name;
COMMENT ON VIEW user_activity IS 'One row per (tenant, user): when the user was first and last seen and how active they are, over the whole history. Reads every event: filter on tenant or user_name when you can.';
COMMENT ON COLUMN user_activity.first_seen IS 'Time of the user''s earliest stored event.';
COMMENT ON COLUMN user_activity.last_seen IS 'Time of the user''s latest stored event.';
COMMENT ON COLUMN user_activity.events IS 'Number of events by the user.';
COMMENT ON COLUMN user_activity.active_days IS 'Number of distinct UTC days with at least one event by the user.';
COMMENT ON COLUMN user_activity.logins IS 'Number of SparkLogin and CALogin events.';
COMMENT ON COLUMN user_activity.last_login IS 'Time of the latest SparkLogin or CALogin event; NULL if none.';

CREATE VIEW service_lifecycle AS
SELECT tenant,
       event_time,
       CASE event_type
           WHEN 'PublishEngine'       THEN 'publish'
           WHEN 'CancelPublish'       THEN 'cancel publish'
           WHEN 'UpdateEngine'        THEN 'update'
           WHEN 'RestoreEngine'       THEN 'restore'
           WHEN 'ServiceActivated'    THEN 'activate'
           WHEN 'ServiceDeactivated'  THEN 'deactivate'
           WHEN 'DeleteEngineVersion' THEN 'delete version'
           WHEN 'DeleteEngine'        THEN 'delete'
       END AS action,
       event_type,
       folder_id,
       folder_name,
       service_name,
       service_version,
       user_name,
       description,
       event_id
FROM spark_events
WHERE event_type IN ('PublishEngine', 'CancelPublish', 'UpdateEngine', 'RestoreEngine',
                     'ServiceActivated', 'ServiceDeactivated', 'DeleteEngineVersion', 'DeleteEngine');
COMMENT ON VIEW service_lifecycle IS 'Every life-cycle event of a service (publish, cancel publish, update, restore, activate, deactivate, delete version, delete): who did it, when, and the version. Filter on event_time or service_name.';
COMMENT ON COLUMN service_lifecycle.action IS 'The life-cycle step in plain words, derived from event_type.';
COMMENT ON COLUMN service_lifecycle.user_name IS 'Who did it.';
COMMENT ON COLUMN service_lifecycle.service_version IS 'The service version the event is about, as Spark reports it.';

CREATE VIEW folder_activity AS
SELECT (event_time AT TIME ZONE 'UTC')::date                                   AS day,
       tenant,
       folder_id,
       folder_name,
       count(*)                                                                AS events,
       count(DISTINCT user_name)                                               AS users,
       count(DISTINCT service_name)                                            AS services,
       count(*) FILTER (WHERE event_type = 'PublishEngine')                    AS publishes,
       count(*) FILTER (WHERE event_type LIKE 'Delete%')                       AS deletions,
       count(*) FILTER (WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission')) AS permission_changes,
       max(event_time)                                                         AS last_event
FROM spark_events
WHERE folder_id <> '' OR folder_name <> ''
GROUP BY 1, 2, 3, 4;
COMMENT ON VIEW folder_activity IS 'Activity per UTC day and folder. A renamed folder appears under each of its names. Filter on day to keep it cheap.';
COMMENT ON COLUMN folder_activity.day IS 'UTC calendar day of the events.';
COMMENT ON COLUMN folder_activity.users IS 'Distinct users active in the folder that day.';
COMMENT ON COLUMN folder_activity.services IS 'Distinct services touched in the folder that day.';
COMMENT ON COLUMN folder_activity.deletions IS 'Events whose type starts with Delete (services, versions, products, documents, sections).';
COMMENT ON COLUMN folder_activity.permission_changes IS 'AddPermission, RemovePermission and ModifyPermission events.';

CREATE VIEW permission_changes AS
SELECT tenant,
       event_time,
       CASE event_type
           WHEN 'AddPermission'    THEN 'add'
           WHEN 'RemovePermission' THEN 'remove'
           WHEN 'ModifyPermission' THEN 'modify'
       END AS change,
       event_type,
       user_name,
       folder_id,
       folder_name,
       service_name,
       description,
       attributes,
       event_id
FROM spark_events
WHERE event_type IN ('AddPermission', 'RemovePermission', 'ModifyPermission');
COMMENT ON VIEW permission_changes IS 'Every permission added, removed or modified. Filter on event_time.';
COMMENT ON COLUMN permission_changes.change IS 'add, remove or modify.';
COMMENT ON COLUMN permission_changes.user_name IS 'Who changed the permission.';
COMMENT ON COLUMN permission_changes.description IS 'Spark''s description of the change; the grantee and the permission are usually named here.';
COMMENT ON COLUMN permission_changes.attributes IS 'Extra workbook columns of the event, which may name the grantee.';

-- Tenants come from the bookkeeping tables, not from spark_events: they are
-- small (a row per load), so the view stays cheap however many events there
-- are, and a tenant whose every load failed still shows up.
CREATE VIEW sync_health AS
WITH tenants AS (
    SELECT tenant FROM etl_watermarks WHERE stream = 'events'
    UNION
    SELECT tenant FROM etl_runs
)
SELECT t.tenant,
       w.watermark,
       w.updated_at                          AS watermark_updated_at,
       now() - w.watermark                   AS lag,
       extract(epoch FROM now() - w.watermark)::double precision AS lag_seconds,
       r.run_id                              AS last_run_id,
       r.kind                                AS last_run_kind,
       r.status                              AS last_run_status,
       r.started_at                          AS last_run_started_at,
       r.finished_at                         AS last_run_finished_at,
       r.error                               AS last_run_error,
       s.finished_at                         AS last_success_at,
       (SELECT count(*)
          FROM etl_runs d
          JOIN etl_rejects j ON j.run_id = d.run_id
         WHERE d.tenant = t.tenant
           AND d.started_at >= now() - interval '1 day') AS rejects_last_day,
       (SELECT count(*)
          FROM etl_runs f
         WHERE f.tenant = t.tenant
           AND f.status = 'failed'
           AND f.started_at >= now() - interval '1 day') AS failed_runs_last_day
FROM tenants t
LEFT JOIN etl_watermarks w ON w.tenant = t.tenant AND w.stream = 'events'
LEFT JOIN LATERAL (
    SELECT run_id, kind, status, started_at, finished_at, error
      FROM etl_runs
     WHERE tenant = t.tenant
     ORDER BY started_at DESC, run_id DESC
     LIMIT 1) r ON true
LEFT JOIN LATERAL (
    SELECT finished_at
      FROM etl_runs
     WHERE tenant = t.tenant AND status = 'succeeded'
     ORDER BY started_at DESC, run_id DESC
     LIMIT 1) s ON true;
COMMENT ON VIEW sync_health IS 'Per tenant: how far its events are stored, how far that is behind now, how the last load went, and the rejects and failures of the last 24 hours.';
COMMENT ON COLUMN sync_health.watermark IS 'Every event before this time has been loaded (etl_watermarks, stream events); NULL if no sync has completed.';
COMMENT ON COLUMN sync_health.lag IS 'now() minus watermark: how stale the stored events may be.';
COMMENT ON COLUMN sync_health.lag_seconds IS 'lag in seconds, for alerting thresholds in BI tools.';
COMMENT ON COLUMN sync_health.last_run_status IS 'Status of the tenant''s latest load: running, succeeded or failed.';
COMMENT ON COLUMN sync_health.last_success_at IS 'When the tenant''s latest successful load finished.';
COMMENT ON COLUMN sync_health.rejects_last_day IS 'Rows in etl_rejects from loads started in the last 24 hours.';
COMMENT ON COLUMN sync_health.failed_runs_last_day IS 'Loads started in the last 24 hours that failed.';

-- +goose Down
DROP VIEW sync_health;
DROP VIEW permission_changes;
DROP VIEW folder_activity;
DROP VIEW service_lifecycle;
DROP VIEW user_activity;
DROP VIEW daily_event_counts;
DROP INDEX spark_events_utc_day_idx;
