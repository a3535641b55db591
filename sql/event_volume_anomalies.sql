-- Event volume anomalies: on which UTC days was the number of events far
-- from normal, that is at least factor times the median of the trailing
-- window (high), or at most the median divided by factor (low)? Days without
-- events count as zero; days with fewer than min_history days of history
-- before them are not judged.
--
-- Parameters:
--   from: first day to judge (default: all history)
--   to: end of the period, exclusive; days from the day of to on are not judged (default: no end)
--   tenant: only this tenant (default: every tenant)
--   window: length in days of the trailing window the median is taken over (default: 28)
--   factor: how many times above or below the median is far (default: 3)
--   min_history: days of history a day needs before it is judged (default: 7)
--
-- Example:
--   PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v window=14 -v factor=4 -f sql/event_volume_anomalies.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?to} \else \set to 'infinity' \endif
\if :{?tenant} \else \set tenant '' \endif
\if :{?window} \else \set window 28 \endif
\if :{?factor} \else \set factor 3 \endif
\if :{?min_history} \else \set min_history 7 \endif

WITH p AS (
    SELECT (:'from'::timestamptz AT TIME ZONE 'UTC')::date AS from_day,
           (:'to'::timestamptz AT TIME ZONE 'UTC')::date   AS to_day,
           :'window'::int                                  AS window_days,
           :'factor'::numeric                              AS factor,
           :'min_history'::int                             AS min_history
),
span AS (
    -- min and max alone, so each is one probe of an index. Without events
    -- there is no series at all: greatest and least would skip the NULLs
    -- and span from -infinity to infinity.
    SELECT CASE WHEN d.first_day IS NOT NULL THEN greatest(p.from_day - p.window_days, d.first_day) END AS first_day,
           CASE WHEN d.last_day IS NOT NULL THEN least(p.to_day - 1, d.last_day) END                   AS last_day
    FROM p
    CROSS JOIN (
        SELECT (SELECT (min(event_time) AT TIME ZONE 'UTC')::date FROM spark_events
                 WHERE (:'tenant'::text = '' OR tenant = :'tenant'::text)) AS first_day,
               (SELECT (max(event_time) AT TIME ZONE 'UTC')::date FROM spark_events
                 WHERE (:'tenant'::text = '' OR tenant = :'tenant'::text)) AS last_day
    ) d
),
counts AS (
    SELECT (event_time AT TIME ZONE 'UTC')::date AS day, count(*) AS events
    FROM spark_events
    WHERE (event_time AT TIME ZONE 'UTC')::date BETWEEN (SELECT first_day FROM span) AND (SELECT last_day FROM span)
      AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
    GROUP BY 1
),
series AS (
    SELECT d::date AS day, coalesce(c.events, 0) AS events
    FROM span
    CROSS JOIN generate_series(span.first_day, span.last_day, interval '1 day') AS d
    LEFT JOIN counts c ON c.day = d::date
),
judged AS (
    SELECT s.day, s.events, h.median, h.history_days
    FROM series s
    CROSS JOIN p
    CROSS JOIN LATERAL (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.events) AS median,
               count(*)                                              AS history_days
        FROM series x
        WHERE x.day >= s.day - p.window_days AND x.day < s.day
    ) h
    WHERE s.day >= p.from_day
)
SELECT j.day,
       j.events,
       j.median                                               AS trailing_median,
       round((j.events / nullif(j.median, 0))::numeric, 2)    AS ratio,
       CASE WHEN j.events > j.median THEN 'high' ELSE 'low' END AS direction
FROM judged j
CROSS JOIN p
WHERE j.history_days >= p.min_history
  AND ((j.events > j.median AND j.events >= p.factor * j.median)
    OR (j.events < j.median AND j.events * p.factor <= j.median))
ORDER BY j.day;
