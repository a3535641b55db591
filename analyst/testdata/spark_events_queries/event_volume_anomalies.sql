-- Event volume anomalies: on which UTC days was the number of events far
-- from normal, that is at least factor times the median of the trailing
-- window (high), or at most the median divided by factor (low)? Days without
-- events count as zero, the days after the latest stored event included (a
-- stopped sync or a Spark outage looks like that); today, not over yet, is
-- never judged, nor are days with fewer than min_history days of history
-- before them.
--
-- Parameters:
--   from: first day to judge (default: all history)
--   to: end of the period, exclusive; days from the day of to on are not judged (default: no end: up to yesterday)
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
           (now() AT TIME ZONE 'UTC')::date - 1            AS yesterday,
           :'window'::int                                  AS window_days,
           :'factor'::numeric                              AS factor,
           :'min_history'::int                             AS min_history
),
span AS (
    -- From the earliest event's day (min alone, one probe of an index) or the
    -- window before from, to the end of the period or yesterday, whichever
    -- comes first: not to the latest event's day, so the days without events
    -- after it are judged. Without events, or with nothing to judge, there is
    -- no row and so no series: greatest would skip a NULL first day and span
    -- from -infinity.
    SELECT s.first_day, s.last_day
    FROM (
        SELECT greatest(p.from_day - p.window_days, e.first_day) AS first_day,
               least(p.to_day - 1, p.yesterday)                   AS last_day
        FROM p
        CROSS JOIN (
            SELECT (min(event_time) AT TIME ZONE 'UTC')::date AS first_day
            FROM spark_events
            WHERE (:'tenant'::text = '' OR tenant = :'tenant'::text)
        ) e
        WHERE e.first_day IS NOT NULL
    ) s
    WHERE s.first_day <= s.last_day
),
counts AS (
    SELECT (event_time AT TIME ZONE 'UTC')::date AS day, count(*) AS events
    FROM spark_events
    WHERE (event_time AT TIME ZONE 'UTC')::date BETWEEN (SELECT first_day FROM span) AND (SELECT last_day FROM span)
      AND (:'tenant'::text = '' OR tenant = :'tenant'::text)
    GROUP BY 1
),
series AS (
    -- Days by date arithmetic: a series of timestamptz would turn the dates
    -- into midnights of the session's time zone.
    SELECT span.first_day + i AS day, coalesce(c.events, 0) AS events
    FROM span
    CROSS JOIN generate_series(0, span.last_day - span.first_day) AS i
    LEFT JOIN counts c ON c.day = span.first_day + i
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
