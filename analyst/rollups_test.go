package analyst

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// spark_events_queries holds the library's queries as they were before
// they read the rollups: each reads spark_events alone.
const eventQueriesDir = "testdata/spark_events_queries"

// runText runs query text (a library file) with params over its defaults,
// as RunQuery does, and returns its columns and rows in text form.
func runText(t *testing.T, pool *pgxpool.Pool, name, text string, params map[string]string) ([]string, [][]string) {
	t.Helper()
	q, err := parseQuery(name, text)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, p := range q.Params {
		values[p.Name] = p.Default
	}
	for k, v := range params {
		if _, ok := values[k]; !ok {
			t.Fatalf("%s has no parameter %s", name, k)
		}
		values[k] = v
	}
	sql, order, err := bindVariables(stripMeta(q.SQL))
	if err != nil {
		t.Fatal(err)
	}
	args := []any{pgx.QueryResultFormats{pgx.TextFormatCode}}
	for _, n := range order {
		args = append(args, values[n])
	}
	res, err := runReadOnly(context.Background(), pool, sql, args)
	if err != nil {
		t.Fatalf("%s %v: %v", name, params, err)
	}
	rows := make([][]string, len(res.rows))
	for i, r := range res.rows {
		for _, c := range r {
			if c == nil {
				rows[i] = append(rows[i], "NULL")
			} else {
				rows[i] = append(rows[i], *c)
			}
		}
	}
	return res.columns, rows
}

// insertVariedEvents stores events of three tenants over 70 days, at every
// hour, of login, publish, update and other types, with and without a
// user, folder or service, then changes and deletes some, so the rollups
// the queries read have been kept up through inserts, updates and deletes.
func insertVariedEvents(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('import', 'acme', 'varied', 'succeeded');
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, folder_id, folder_name,
		                          service_name, service_version, first_run_id, last_run_id)
		SELECT (ARRAY['acme', 'beta', 'gamma'])[1 + h % 3], 'v' || i,
		       timestamptz '2026-01-01' + (h % 100800) * interval '1 minute' + (h % 997) * interval '1 ms',
		       (ARRAY['SparkLogin', 'CALogin', 'PublishEngine', 'UpdateEngine', 'DownloadEngine', 'DeleteEngine',
		              'AddPermission', 'PublishEngine', 'SparkLogin'])[1 + (h / 7) % 9],
		       CASE WHEN h % 17 = 0 THEN NULL ELSE 'user' || (h / 13) % 23 || '@example.com' END,
		       CASE WHEN h % 11 = 0 THEN NULL ELSE 'f' || (h / 5) % 4 END,
		       CASE WHEN h % 11 = 0 THEN NULL ELSE 'Folder ' || (h / 5) % 4 END,
		       CASE WHEN h % 19 = 0 THEN NULL ELSE 'Service' || (h / 3) % 9 END,
		       '1.0', 1, 1
		FROM generate_series(1, 6000) i, LATERAL (SELECT abs(hashint4(i)) AS h) x;
		UPDATE spark_events SET event_time = event_time - interval '2 days 3 hours', event_type = 'SparkLogin'
		WHERE event_id LIKE 'v%3';
		UPDATE spark_events SET user_name = 'renamed' || user_name WHERE event_id LIKE 'v%7';
		DELETE FROM spark_events WHERE event_id LIKE 'v%9';
		ANALYZE spark_events;`)
	if err != nil {
		t.Fatal(err)
	}
}

// TestRollupQueriesAnswerAsBefore runs each query that reads the rollups
// and its spark_events original on the same events, over whole, partial
// and empty periods, every tenant and one: the answers must be the same.
func TestRollupQueriesAnswerAsBefore(t *testing.T) {
	pool, _ := migrated(t)
	insertVariedEvents(t, pool)
	periods := []map[string]string{
		{},
		{"from": "2026-01-10", "to": "2026-02-01"},
		{"from": "2026-01-10 13:45:00", "to": "2026-02-01 00:00:00.000001"},
		{"from": "2026-01-10 06:00+02", "to": "2026-01-10 18:00"},
		{"from": "2026-01-10 06:00", "to": "2026-01-11 18:00", "tenant": "beta"},
		{"from": "2026-01-20 12:00", "tenant": "acme"},
		{"to": "2026-01-20 12:00", "tenant": "gamma"},
		{"from": "2026-02-01", "to": "2026-01-01"},
		{"tenant": "acme"},
		{"tenant": "nobody"},
	}
	tests := map[string][]map[string]string{
		"daily_active_users":         periods,
		"logins_by_hour_and_weekday": periods,
		"top_services_by_publishes":  append(periods, map[string]string{"limit": "1000"}, map[string]string{"limit": "1000", "from": "2026-01-03 07:30"}),
		"event_volume_anomalies":     append(periods, map[string]string{"factor": "1.2", "window": "5", "min_history": "2"}, map[string]string{"factor": "1.1", "tenant": "acme", "from": "2026-01-05 10:00"}),
		"dormant_users": {
			{}, {"days": "3"}, {"tenant": "beta"}, {"as_of": "2026-02-01"}, {"as_of": "2026-01-20 13:17:00", "days": "2"},
			{"as_of": "2026-01-20 13:17:00+05", "days": "1", "tenant": "beta"}, {"as_of": "2025-01-01"},
			{"as_of": "2026-01-20 13:17:00", "days": "0"}, {"as_of": "2026-02-20 00:00:00.5", "days": "40"},
			{"as_of": "2026-01-03 02:00", "days": "1", "tenant": "gamma"},
		},
	}
	files, err := filepath.Glob(filepath.Join(eventQueriesDir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Fatalf("%d original queries in %s, %d tested", len(files), eventQueriesDir, len(tests))
	}
	for name, paramSets := range tests {
		old, err := os.ReadFile(filepath.Join(eventQueriesDir, name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		cur, err := os.ReadFile(filepath.Join("..", "sql", name+".sql"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cur), "rollup_") {
			t.Errorf("sql/%s.sql does not read the rollups", name)
		}
		for _, params := range paramSets {
			t.Run(fmt.Sprintf("%s %v", name, params), func(t *testing.T) {
				wantCols, want := runText(t, pool, name, string(old), params)
				gotCols, got := runText(t, pool, name, string(cur), params)
				if !reflect.DeepEqual(gotCols, wantCols) {
					t.Fatalf("columns %v, want %v", gotCols, wantCols)
				}
				equalRows(t, name, got, want)
			})
		}
		// A bad test would compare empty answers.
		if _, rows := runText(t, pool, name, string(old), nil); len(rows) == 0 {
			t.Errorf("bad test: %s answers nothing by default", name)
		}
	}
}

// TestUserActivityAnswersAsBefore compares the user_activity view, which
// reads the users rollup, with its definition over spark_events before
// migration 00007, on the same events.
func TestUserActivityAnswersAsBefore(t *testing.T) {
	pool, _ := migrated(t)
	insertVariedEvents(t, pool)
	const before = `
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
		GROUP BY tenant, user_name`
	for _, where := range []string{"true", "tenant = 'beta'", "user_name = 'user3@example.com'"} {
		want := cells(t, pool, "SELECT * FROM ("+before+") v WHERE "+where+" ORDER BY 1, 2")
		got := cells(t, pool, "SELECT * FROM user_activity WHERE "+where+" ORDER BY 1, 2")
		if len(want) == 0 {
			t.Fatalf("bad test: no users where %s", where)
		}
		equalRows(t, "user_activity where "+where, got, want)
	}
	if def := cells(t, pool, "SELECT pg_get_viewdef('user_activity')")[0][0]; !strings.Contains(def, "rollup_daily_users") {
		t.Errorf("user_activity does not read the rollup:\n%s", def)
	}
}

// TestRunQueryWithoutJIT checks that the library's queries run with JIT
// compilation off: the planner costs the rollup branches a query skips as
// if they ran, and compiling for them cost more than the query.
func TestRunQueryWithoutJIT(t *testing.T) {
	pool, _ := migrated(t)
	res, err := runReadOnly(context.Background(), pool, "SELECT current_setting('jit')", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := *res.rows[0][0]; got != "off" {
		t.Errorf("jit = %s in the library's transaction, want off", got)
	}
}

// TestDistinctCountViewsAnswerAsBefore compares daily_event_counts and
// folder_activity, whose distinct counts migration 00009 takes in byte
// order, with their definitions of migration 00002 on the same events,
// names that sort differently under a collation than in byte order
// included.
func TestDistinctCountViewsAnswerAsBefore(t *testing.T) {
	pool, _ := migrated(t)
	insertVariedEvents(t, pool)
	// Names equal but for case, accents or spacing, which a collation
	// orders together and bytes apart.
	if _, err := pool.Exec(context.Background(), `
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, folder_id, folder_name,
		                          service_name, service_version, first_run_id, last_run_id)
		SELECT 'acme', 'w' || i, timestamptz '2026-01-05 10:00' + i * interval '1 minute', 'SparkLogin',
		       (ARRAY['Émile', 'emile', 'Emile', 'e mile', 'émile', ''])[1 + i % 6], 'f1', 'Folder 1',
		       (ARRAY['Zed', 'zed', 'Été', 'ete', ''])[1 + i % 5], '1.0', 1, 1
		FROM generate_series(1, 60) i;
		ANALYZE spark_events;`); err != nil {
		t.Fatal(err)
	}
	views := map[string]string{
		"daily_event_counts": `
			SELECT (event_time AT TIME ZONE 'UTC')::date AS day,
			       tenant,
			       event_type,
			       count(*)                  AS events,
			       count(DISTINCT user_name) AS users
			FROM spark_events
			GROUP BY 1, 2, 3`,
		"folder_activity": `
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
			GROUP BY 1, 2, 3, 4`,
	}
	for view, before := range views {
		for _, where := range []string{"true", "tenant = 'acme'", "day >= '2026-01-05' AND day < '2026-01-07'"} {
			want := cells(t, pool, "SELECT * FROM ("+before+") v WHERE "+where+" ORDER BY 1, 2, 3, 4")
			got := cells(t, pool, "SELECT * FROM "+view+" WHERE "+where+" ORDER BY 1, 2, 3, 4")
			if len(want) == 0 {
				t.Fatalf("bad test: %s has no rows where %s", view, where)
			}
			equalRows(t, view+" where "+where, got, want)
		}
	}
}

// TestReportQueriesAnswerAsBefore runs the report's questions that read the
// rollups for whole days beside their spark_events originals, over whole,
// partial, one-day, open and reversed periods, every tenant and one.
func TestReportQueriesAnswerAsBefore(t *testing.T) {
	pool, _ := migrated(t)
	insertVariedEvents(t, pool)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	var zero time.Time
	periods := []struct {
		from, to time.Time
		tenant   string
	}{
		{zero, zero, ""},
		{at("2026-01-10 00:00:00"), at("2026-02-01 00:00:00"), ""},
		{at("2026-01-10 13:45:00"), at("2026-02-01 00:00:00.000001"), ""},
		{at("2026-01-10 06:00:00"), at("2026-01-10 18:00:00"), ""},
		{at("2026-01-10 06:00:00"), at("2026-01-11 18:00:00"), "beta"},
		{at("2026-01-20 12:00:00"), zero, "acme"},
		{zero, at("2026-01-20 12:00:00"), "gamma"},
		{at("2026-02-01 00:00:00"), at("2026-01-01 00:00:00"), ""},
		{zero, zero, "nobody"},
		// Whole days that hold every day of the rollups.
		{at("2025-12-01 00:00:00"), at("2026-04-01 00:00:00"), ""},
		{at("2025-12-01 12:00:00"), at("2026-04-01 00:00:00"), "beta"},
	}
	const e = `event_time >= $1::timestamptz AND event_time < $2::timestamptz AND ($3 = '' OR tenant = $3)`
	before := map[string]string{
		totalsSQL: `SELECT count(*), count(DISTINCT user_name), count(DISTINCT tenant) FROM spark_events WHERE ` + e,
		perDaySQL: `SELECT (event_time AT TIME ZONE 'UTC')::date, event_type, count(*) FROM spark_events WHERE ` + e + ` GROUP BY 1, 2 ORDER BY 1, 2`,
		loginHoursSQL: `SELECT extract(isodow FROM event_time AT TIME ZONE 'UTC')::int, extract(hour FROM event_time AT TIME ZONE 'UTC')::int, count(*)
			FROM spark_events WHERE ` + e + ` AND event_type IN ('SparkLogin', 'CALogin') GROUP BY 1, 2 ORDER BY 1, 2`,
		topUsersSQL: `SELECT tenant, user_name, count(*), count(DISTINCT (event_time AT TIME ZONE 'UTC')::date),
			max(event_time), count(*) FILTER (WHERE event_type IN ('SparkLogin', 'CALogin'))
			FROM spark_events WHERE ` + e + ` AND user_name <> '' GROUP BY tenant, user_name ORDER BY 3 DESC, 1, 2 LIMIT $4`,
	}
	// The top services count distinct users for the top ones only.
	topServices := `SELECT tenant, coalesce(folder_name, ''), service_name, count(*),
		count(*) FILTER (WHERE event_type = 'PublishEngine'), count(DISTINCT user_name), max(event_time)
		FROM spark_events
		WHERE event_time >= $1::timestamptz AND event_time < $2::timestamptz AND service_name <> '' AND ($4 = '' OR tenant = $4)
		GROUP BY tenant, folder_name, service_name
		ORDER BY 4 DESC, 1, 2, 3
		LIMIT $3`
	ordered := map[string]string{perDaySQL: " ORDER BY 1, 2", loginHoursSQL: " ORDER BY 1, 2"}
	for _, p := range periods {
		lo, hi := any(p.from), any(p.to)
		if p.from.IsZero() {
			lo = "-infinity"
		}
		if p.to.IsZero() {
			hi = "infinity"
		}
		s := splitPeriod(p.from, p.to)
		for sql, old := range before {
			oldArgs, args := []any{lo, hi, p.tenant}, s.args(p.tenant)
			if sql == topUsersSQL {
				oldArgs, args = append(oldArgs, 1000), append(args, 1000)
			}
			want := cells(t, pool, old, oldArgs...)
			got := cells(t, pool, sql+ordered[sql], args...)
			equalRows(t, fmt.Sprintf("%.40q over [%v, %v) of %q", sql, p.from, p.to, p.tenant), got, want)
		}
		for _, n := range []int{3, 1000} {
			equalRows(t, fmt.Sprintf("top %d services over [%v, %v) of %q", n, p.from, p.to, p.tenant),
				cells(t, pool, topServicesSQL, lo, hi, n, p.tenant), cells(t, pool, topServices, lo, hi, n, p.tenant))
		}
	}
	if n := cells(t, pool, before[totalsSQL], "-infinity", "infinity", ""); n[0][0] == "0" {
		t.Fatal("bad test: no events")
	}
}
