package analyst

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// insertDailyEvents stores perDay events of tenant on each UTC day of
// [first, last], spread over the day from midnight on, under one import run.
func insertDailyEvents(t testing.TB, pool *pgxpool.Pool, tenant string, first, last time.Time, perDay int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		WITH run AS (
		    INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('import', $1, 'daily', 'succeeded')
		    RETURNING run_id
		)
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, first_run_id, last_run_id)
		SELECT $1, $1 || '-' || to_char(d, 'YYYYMMDD') || '-' || i,
		       d + i * interval '14 minutes', 'SparkLogin', 'u' || i, run.run_id, run.run_id
		FROM run,
		     generate_series($2::timestamptz, $3::timestamptz, interval '1 day') AS d,
		     generate_series(0, $4::int - 1) AS i`, tenant, first, last, perDay)
	if err != nil {
		t.Fatal(err)
	}
}

func ymd(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}

// lowZero is the row of a day without events judged against a trailing
// median of median events.
func lowZero(day time.Time, median string) []string {
	return []string{day.Format("2006-01-02"), "0", median, "0.00", "low"}
}

// serverToday returns the database's current UTC day, which the query
// under test reads through now(). Close to a UTC midnight it first waits for
// the next day, so that the test's inserts and its queries, a few seconds in
// all, see the same today.
func serverToday(t *testing.T, pool *pgxpool.Pool) time.Time {
	t.Helper()
	const margin = 30 * time.Second
	var now time.Time
	if err := pool.QueryRow(context.Background(), "SELECT now()").Scan(&now); err != nil {
		t.Fatal(err)
	}
	if left := utcDay(now).AddDate(0, 0, 1).Sub(now); left < margin {
		time.Sleep(left + time.Second)
		now = now.Add(left + time.Second)
	}
	return utcDay(now)
}

// TestEventVolumeAnomaliesJudgesDaysWithoutEvents checks that the days
// without any event after the last stored one, which is what a stopped sync
// or a Spark outage looks like, are judged as zero-event days up to the end
// of the period, and that the current UTC day, still in progress, never is.
//
//   - stopped: 100 events a day from 2026-01-01 to 01-30, then none.
//   - live: 100 events a day from 30 days ago to 2 days ago, none yesterday
//     and one so far today.
func TestEventVolumeAnomaliesJudgesDaysWithoutEvents(t *testing.T) {
	pool, _ := migrated(t)
	today := serverToday(t, pool)
	yesterday, tomorrow := today.AddDate(0, 0, -1), today.AddDate(0, 0, 1)
	insertDailyEvents(t, pool, "stopped", ymd("2026-01-01"), ymd("2026-01-30"), 100)
	insertDailyEvents(t, pool, "live", today.AddDate(0, 0, -30), today.AddDate(0, 0, -2), 100)
	insertDailyEvents(t, pool, "live", today, today, 1)

	// After the last event of "stopped" the trailing 28 days hold ever more
	// zero days: the median stays 100 while they are fewer than 14, is 50
	// with 14 (Feb 14), and 0 from then on, when a zero day is normal.
	var stoppedFeb9, stoppedAll [][]string
	for d := ymd("2026-01-31"); d.Before(ymd("2026-02-14")); d = d.AddDate(0, 0, 1) {
		if d.Before(ymd("2026-02-10")) {
			stoppedFeb9 = append(stoppedFeb9, lowZero(d, "100"))
		}
		stoppedAll = append(stoppedAll, lowZero(d, "100"))
	}
	stoppedAll = append(stoppedAll, lowZero(ymd("2026-02-14"), "50"))

	tests := []struct {
		name   string
		params map[string]string
		want   [][]string
	}{
		{"zero days up to an explicit to", map[string]string{"tenant": "stopped", "to": "2026-02-10"}, stoppedFeb9},
		{"zero days inside from and to", map[string]string{"tenant": "stopped", "from": "2026-02-05", "to": "2026-02-08"},
			[][]string{lowZero(ymd("2026-02-05"), "100"), lowZero(ymd("2026-02-06"), "100"), lowZero(ymd("2026-02-07"), "100")}},
		{"period ending with the events", map[string]string{"tenant": "stopped", "to": "2026-01-31"}, [][]string{}},
		{"default to: every day up to yesterday", map[string]string{"tenant": "stopped"}, stoppedAll},
		{"window of 7 days", map[string]string{"tenant": "stopped", "window": "7", "to": "2026-03-01"},
			// Feb 3: 3 zero days of 7, the median still 100; Feb 4: 4 of 7.
			[][]string{lowZero(ymd("2026-01-31"), "100"), lowZero(ymd("2026-02-01"), "100"), lowZero(ymd("2026-02-02"), "100"), lowZero(ymd("2026-02-03"), "100")}},
		{"default to: yesterday judged, today not", map[string]string{"tenant": "live"}, [][]string{lowZero(yesterday, "100")}},
		{"to tomorrow: today still not judged", map[string]string{"tenant": "live", "to": tomorrow.Format("2006-01-02")},
			[][]string{lowZero(yesterday, "100")}},
		{"to today", map[string]string{"tenant": "live", "to": today.Format("2006-01-02")}, [][]string{lowZero(yesterday, "100")}},
		{"to yesterday", map[string]string{"tenant": "live", "to": yesterday.Format("2006-01-02")}, [][]string{}},
		{"tenant without events", map[string]string{"tenant": "nobody"}, [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runJSON(t, pool, "event_volume_anomalies", tt.params, "day", "events", "trailing_median", "ratio", "direction")
			equalRows(t, "event_volume_anomalies", got, tt.want)
		})
	}
}

// TestEventVolumeAnomaliesIgnoresSessionTimeZone checks that the days are
// UTC days whatever the session's time zone, given a period as absolute
// times: a psql or BI session need not be in UTC for the series of days, or
// for today, to be right. Pacific/Apia skipped its 2011-12-30 (UTC-10 to
// UTC+14), which a series of local midnights loses, though it is a UTC day
// like any other; here it is the one without events.
func TestEventVolumeAnomaliesIgnoresSessionTimeZone(t *testing.T) {
	pool, _ := migrated(t)
	today := serverToday(t, pool)
	insertDailyEvents(t, pool, "apia", ymd("2011-12-01"), ymd("2011-12-29"), 100)
	insertDailyEvents(t, pool, "apia", ymd("2011-12-31"), ymd("2012-01-09"), 100)
	insertDailyEvents(t, pool, "live", today.AddDate(0, 0, -30), today.AddDate(0, 0, -2), 100)
	insertDailyEvents(t, pool, "live", today, today, 1)

	tests := []struct {
		name   string
		params map[string]string
		want   [][]string
	}{
		{"a day that Apia skipped", map[string]string{"tenant": "apia", "from": "2011-12-20T00:00:00Z", "to": "2012-01-05T00:00:00Z"},
			[][]string{lowZero(ymd("2011-12-30"), "100")}},
		{"yesterday and today are UTC days", map[string]string{"tenant": "live"},
			[][]string{lowZero(today.AddDate(0, 0, -1), "100")}},
	}
	for _, tz := range []string{"UTC", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati", "Pacific/Apia"} {
		for _, tt := range tests {
			t.Run(tz+"/"+tt.name, func(t *testing.T) {
				sql, args, err := bindQuery("event_volume_anomalies", tt.params)
				if err != nil {
					t.Fatal(err)
				}
				equalRows(t, "event_volume_anomalies", cellsIn(t, pool, tz, sql, args...), tt.want)
			})
		}
	}
}
