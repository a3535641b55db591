package analyst

import "time"

// split is a period cut as the query library reads it: its whole UTC days
// from the rollups, the partial days at its ends from spark_events. The
// arguments are bound in this order by the report's queries: $1 and $2 the
// whole days [dayFrom, dayTo), $3 to $6 the two ranges of events [lo1, hi1)
// and [lo2, hi2). An open end is bound as -infinity or infinity, an empty
// range as the same bound twice.
type split struct {
	dayFrom, dayTo     any
	lo1, hi1, lo2, hi2 any
}

// splitPeriod splits [from, to); a zero from or to is open.
func splitPeriod(from, to time.Time) split {
	var s split
	d1, d2 := ceilDay(from), utcDay(to)
	if !from.IsZero() && !to.IsZero() && !d1.Before(d2) {
		// Within one day, or across one midnight: no whole day.
		return split{dayFrom: "infinity", dayTo: "infinity", lo1: from, hi1: to, lo2: to, hi2: to}
	}
	if from.IsZero() {
		s.dayFrom, s.lo1, s.hi1 = "-infinity", "-infinity", "-infinity"
	} else {
		s.dayFrom, s.lo1, s.hi1 = d1, from, d1
	}
	if to.IsZero() {
		s.dayTo, s.lo2, s.hi2 = "infinity", "infinity", "infinity"
	} else {
		s.dayTo, s.lo2, s.hi2 = d2, d2, to
	}
	return s
}

func (s split) args(more ...any) []any {
	return append([]any{s.dayFrom, s.dayTo, s.lo1, s.hi1, s.lo2, s.hi2}, more...)
}

// ceilDay is the first UTC midnight at or after t.
func ceilDay(t time.Time) time.Time {
	d := utcDay(t)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// The report's questions over a split period ($7 is the tenant, empty for
// every one): the whole days from the rollups, the partial days from the
// events, as sql/daily_active_users.sql reads them. Rollup rows of days
// whose events a prune removed (kept under a longer retention) count too.
const (
	wholeDays  = `day >= $1::date AND day < $2::date AND ($7 = '' OR tenant = $7)`
	partialDay = `((event_time >= $3::timestamptz AND event_time < $4::timestamptz)
		OR (event_time >= $5::timestamptz AND event_time < $6::timestamptz)) AND ($7 = '' OR tenant = $7)`

	// covers says whether the whole days hold every day of the rollups
	// (of tenant $7), so that the all-time rollups answer for them: one row
	// per user (rollup_users) or per weekday, hour and user
	// (rollup_login_hours) instead of one per day. The days are those of
	// rollup_daily_events, a row per day and type.
	covers = `(SELECT coalesce(min(day) >= $1::date AND max(day) < $2::date, true)
		FROM rollup_daily_events WHERE ($7 = '' OR tenant = $7))`

	// totalsSQL: events, distinct users, distinct tenants.
	totalsSQL = `SELECT
		(SELECT coalesce(sum(events), 0)::bigint FROM rollup_daily_events WHERE ` + wholeDays + `)
		  + (SELECT count(*) FROM spark_events WHERE ` + partialDay + `),
		(SELECT count(*) FROM (SELECT user_name FROM rollup_users WHERE ` + covers + ` AND ($7 = '' OR tenant = $7)
		                       UNION SELECT user_name FROM rollup_daily_users WHERE NOT ` + covers + ` AND ` + wholeDays + `
		                       UNION SELECT user_name FROM spark_events WHERE ` + partialDay + ` AND user_name IS NOT NULL) u),
		(SELECT count(*) FROM (SELECT tenant FROM rollup_daily_events WHERE ` + wholeDays + `
		                       UNION SELECT tenant FROM spark_events WHERE ` + partialDay + `) t)`

	// boundsSQL: the first and last event of [$1, $2) of tenant $3, or the
	// midnight of a day the rollups keep before (after) them.
	boundsSQL = `WITH e AS (SELECT min(event_time) AS lo, max(event_time) AS hi FROM spark_events
		        WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($3 = '' OR tenant = $3)),
		r AS (SELECT min(day) AS lo, max(day) AS hi FROM rollup_daily_events
		      WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date
		        AND ($3 = '' OR tenant = $3))
		SELECT CASE WHEN e.lo IS NULL OR r.lo < (e.lo AT TIME ZONE 'UTC')::date THEN r.lo::timestamp AT TIME ZONE 'UTC' ELSE e.lo END,
		       CASE WHEN e.hi IS NULL OR r.hi > (e.hi AT TIME ZONE 'UTC')::date THEN r.hi::timestamp AT TIME ZONE 'UTC' ELSE e.hi END
		FROM e, r`

	// perDaySQL: events per UTC day and type.
	perDaySQL = `SELECT day, event_type, sum(n)::bigint FROM (
		SELECT day, event_type, events FROM rollup_daily_events WHERE ` + wholeDays + `
		UNION ALL
		SELECT (event_time AT TIME ZONE 'UTC')::date, event_type, 1 FROM spark_events WHERE ` + partialDay + `) x(day, event_type, n)
		GROUP BY 1, 2`

	// loginHoursSQL: log-ins per ISO weekday and UTC hour.
	loginHoursSQL = `SELECT wd, h, sum(n)::bigint FROM (
		SELECT weekday::int, hour::int, logins FROM rollup_login_hours WHERE ` + covers + ` AND ($7 = '' OR tenant = $7)
		UNION ALL
		SELECT extract(isodow FROM day)::int, hour::int, logins FROM rollup_hourly_logins WHERE NOT ` + covers + ` AND ` + wholeDays + `
		UNION ALL
		SELECT extract(isodow FROM event_time AT TIME ZONE 'UTC')::int, extract(hour FROM event_time AT TIME ZONE 'UTC')::int, 1
		FROM spark_events WHERE ` + partialDay + ` AND event_type IN ('SparkLogin', 'CALogin')) x(wd, h, n)
		GROUP BY 1, 2`

	// topUsersSQL: the $8 users with the most events, with their active
	// days, last event and log-ins. A rollup row is one day of a user, as
	// is each partial day's group.
	topUsersSQL = `SELECT tenant, user_name, sum(events)::bigint, count(*), max(last_seen), sum(logins)::bigint FROM (
		SELECT tenant, user_name, events, last_seen, logins FROM rollup_daily_users WHERE ` + wholeDays + ` AND user_name <> ''
		UNION ALL
		SELECT tenant, user_name, count(*), max(event_time), count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))
		FROM spark_events WHERE ` + partialDay + ` AND user_name <> ''
		GROUP BY tenant, user_name, (event_time AT TIME ZONE 'UTC')::date) x(tenant, user_name, events, last_seen, logins)
		GROUP BY tenant, user_name
		ORDER BY 3 DESC, 1, 2
		LIMIT $8`

	// topServicesSQL: the $3 services (of tenant $4) with the most events
	// in [$1, $2), with their publishes, distinct users and last event. No
	// rollup holds every event of a service with its users: the ranking
	// counts without DISTINCT (a hash aggregate), and only the top
	// services' users are counted, through the service's index (3.1 s
	// instead of 6.9 s for 6.4M service events at 10M).
	topServicesSQL = `WITH top AS (
		SELECT tenant, folder_name, service_name, count(*) AS events,
		       count(*) FILTER (WHERE event_type = 'PublishEngine') AS publishes, max(event_time) AS last_event
		FROM spark_events
		WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND service_name <> '' AND ($4 = '' OR tenant = $4)
		GROUP BY tenant, folder_name, service_name
		ORDER BY 4 DESC, 1, coalesce(folder_name, ''), 3
		LIMIT $3)
		SELECT tenant, coalesce(folder_name, ''), service_name, events, publishes,
		       (SELECT count(DISTINCT e.user_name) FROM spark_events e
		        WHERE e.tenant = top.tenant AND e.service_name = top.service_name
		          AND e.folder_name IS NOT DISTINCT FROM top.folder_name
		          AND e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz),
		       last_event
		FROM top
		ORDER BY 4 DESC, 1, 2, 3`
)
