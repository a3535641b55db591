package analyst

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/internal/pgtest"
	"sparkevents/load"
)

// cells runs sql and returns its rows with every value in PostgreSQL's text
// format under UTC ("" for NULL), so expectations read like psql output.
func cells(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) [][]string {
	t.Helper()
	return cellsIn(t, pool, "UTC", sql, args...)
}

// cellsIn is cells in a session whose time zone is tz.
func cellsIn(t *testing.T, pool *pgxpool.Pool, tz, sql string, args ...any) [][]string {
	t.Helper()
	ctx := context.Background()
	var out [][]string
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('TimeZone', $1, true)", tz); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var row []string
			for _, v := range rows.RawValues() {
				row = append(row, string(v))
			}
			out = append(out, row)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func equalRows(t *testing.T, what string, got, want [][]string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s:\ngot  %d rows:\n", what, len(got))
		for _, r := range got {
			fmt.Fprintf(&b, "  %q\n", r)
		}
		fmt.Fprintf(&b, "want %d rows:\n", len(want))
		for _, r := range want {
			fmt.Fprintf(&b, "  %q\n", r)
		}
		t.Error(b.String())
	}
}

func TestViews(t *testing.T) {
	pool := loaded(t)
	tests := []struct {
		name string
		sql  string
		want [][]string
	}{
		{
			name: "daily_event_counts of busy days",
			sql: `SELECT day, tenant, event_type, events, users FROM daily_event_counts
			      WHERE day IN ('2026-01-02', '2026-01-05', '2026-01-20') ORDER BY 1, 2, 3`,
			want: [][]string{
				{"2026-01-02", "acme", "AddPermission", "1", "1"},
				{"2026-01-02", "acme", "SparkLogin", "2", "2"},
				{"2026-01-05", "acme", "CALogin", "1", "1"},
				{"2026-01-05", "acme", "SparkLogin", "1", "1"},
				{"2026-01-05", "beta", "PublishEngine", "1", "1"},
				{"2026-01-05", "beta", "SparkLogin", "1", "1"},
				{"2026-01-20", "acme", "DownloadEngine", "40", "1"},
				{"2026-01-20", "acme", "SparkLogin", "1", "1"},
			},
		},
		{
			name: "daily_event_counts totals: every event counted once, unknown types and user-less events included",
			sql: `SELECT sum(events), count(DISTINCT day), sum(events) FILTER (WHERE event_type = 'FancyNewThing'),
			             sum(users) FILTER (WHERE event_type = 'RecompileNeuron')
			      FROM daily_event_counts`,
			want: [][]string{{fmt.Sprint(len(dataset())), "30", "1", "0"}},
		},
		{
			name: "user_activity",
			sql:  `SELECT tenant, user_name, first_seen, last_seen, events, active_days, logins, last_login FROM user_activity ORDER BY 1, 2`,
			want: [][]string{
				// alice: 30 log-ins, 3 publishes, 1 update, 3 permission changes, 1 FancyNewThing.
				{"acme", "alice", "2026-01-01 09:15:00+00", "2026-01-31 09:15:00+00", "38", "30", "30", "2026-01-31 09:15:00+00"},
				// bob: 4 log-ins, deactivate, activate, delete version, modify permission, 2 deletions,
				// on the 5th, 12th (twice), 15th, 16th, 17th, 19th, 25th, 26th, 27th.
				{"acme", "bob", "2026-01-05 14:30:00+00", "2026-01-27 13:00:00+00", "10", "9", "4", "2026-01-26 14:30:00+00"},
				{"acme", "carol", "2026-01-02 08:00:00+00", "2026-01-02 08:05:00+00", "2", "1", "1", "2026-01-02 08:00:00+00"},
				// dave: a publish, 40 downloads, a deletion; never logs in.
				{"acme", "dave", "2026-01-06 10:00:00+00", "2026-01-28 09:00:00+00", "42", "3", "0", ""},
				{"beta", "eve", "2026-01-05 09:00:00+00", "2026-01-05 09:30:00+00", "2", "1", "1", "2026-01-05 09:00:00+00"},
			},
		},
		{
			name: "service_lifecycle",
			sql: `SELECT tenant, event_time, action, folder_name, service_name, service_version, user_name
			      FROM service_lifecycle ORDER BY event_time, tenant`,
			want: [][]string{
				{"acme", "2026-01-03 10:00:00+00", "publish", "Pricing", "Quote", "v1", "alice"},
				{"acme", "2026-01-04 10:00:00+00", "publish", "Pricing", "Rates", "v1", "alice"},
				{"beta", "2026-01-05 09:30:00+00", "publish", "Misc", "Other", "v1", "eve"},
				{"acme", "2026-01-06 10:00:00+00", "publish", "Claims", "Triage", "v1", "dave"},
				{"acme", "2026-01-10 10:00:00+00", "update", "Pricing", "Quote", "v2", "alice"},
				{"acme", "2026-01-15 11:00:00+00", "deactivate", "Pricing", "Quote", "v2", "bob"},
				{"acme", "2026-01-16 11:00:00+00", "activate", "Pricing", "Quote", "v2", "bob"},
				{"acme", "2026-01-17 11:00:00+00", "delete version", "Pricing", "Quote", "v1", "bob"},
				{"acme", "2026-01-21 10:00:00+00", "publish", "Pricing", "Quote", "v3", "alice"},
				{"acme", "2026-01-25 12:00:00+00", "delete", "Pricing", "Rates", "v1", "bob"},
			},
		},
		{
			name: "folder_activity",
			sql: `SELECT day, tenant, folder_id, folder_name, events, users, services, publishes, deletions, permission_changes, last_event
			      FROM folder_activity WHERE day IN ('2026-01-02', '2026-01-20', '2026-01-28', '2026-01-29') ORDER BY 1, 2, 3`,
			want: [][]string{
				{"2026-01-02", "acme", "f2", "Claims", "1", "1", "0", "0", "0", "1", "2026-01-02 08:05:00+00"},
				{"2026-01-20", "acme", "f1", "Pricing", "40", "1", "1", "0", "0", "0", "2026-01-20 16:00:39+00"},
				{"2026-01-28", "acme", "f2", "Claims", "1", "1", "0", "0", "1", "0", "2026-01-28 09:00:00+00"},
				// The user-less event counts as an event but not as a user.
				{"2026-01-29", "acme", "f1", "Pricing", "1", "0", "1", "0", "0", "0", "2026-01-29 03:00:00+00"},
			},
		},
		{
			name: "folder_activity per folder",
			sql:  `SELECT folder_name, sum(events), sum(publishes), sum(deletions), sum(permission_changes) FROM folder_activity GROUP BY 1 ORDER BY 1`,
			want: [][]string{
				{"Claims", "5", "1", "2", "2"},
				{"Misc", "1", "1", "0", "0"},
				{"Pricing", "52", "3", "2", "3"},
			},
		},
		{
			name: "permission_changes",
			sql:  `SELECT tenant, event_time, change, user_name, folder_name, description FROM permission_changes ORDER BY event_time`,
			want: [][]string{
				{"acme", "2026-01-02 08:05:00+00", "add", "carol", "Claims", "grant view to eve"},
				{"acme", "2026-01-07 10:00:00+00", "add", "alice", "Pricing", "grant edit to bob"},
				{"acme", "2026-01-08 10:00:00+00", "add", "alice", "Pricing", "grant view to dave"},
				{"acme", "2026-01-09 10:00:00+00", "remove", "alice", "Pricing", "revoke view from dave"},
				{"acme", "2026-01-12 15:00:00+00", "modify", "bob", "Claims", "view to edit for carol"},
			},
		},
		{
			name: "sync_health",
			// The rows were written a moment before this query's now(): minutes
			// absorb the difference.
			sql: `SELECT tenant,
			             date_trunc('minute', now() - watermark)::text, date_trunc('minute', lag)::text,
			             round(lag_seconds / 60)::text,
			             last_run_kind, last_run_status, last_run_error,
			             date_trunc('minute', now() - last_run_started_at)::text,
			             date_trunc('minute', now() - last_success_at)::text,
			             rejects_last_day, failed_runs_last_day
			      FROM sync_health ORDER BY tenant`,
			want: [][]string{
				{"acme", "02:00:00", "02:00:00", "120", "sync", "failed", "export job failed: <timeout>", "01:00:00", "02:59:00", "2", "1"},
				{"beta", "00:45:00", "00:45:00", "45", "sync", "succeeded", "", "00:30:00", "00:29:00", "0", "0"},
				{"gamma", "", "", "", "sync", "running", "", "00:05:00", "", "0", "0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equalRows(t, tt.name, cells(t, pool, tt.sql), tt.want)
		})
	}
}

// TestViewsAreDocumented checks that BI tools will show a description of
// every view and of the columns the migration promises to explain.
func TestViewsAreDocumented(t *testing.T) {
	pool, _ := migrated(t)
	got := cells(t, pool, `
		SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'v' ORDER BY 1`, testSchema)
	want := []string{"daily_event_counts", "folder_activity", "permission_changes", "service_lifecycle", "sync_health", "user_activity"}
	if len(got) != len(want) {
		t.Fatalf("views = %q, want %q", got, want)
	}
	for i, r := range got {
		if r[0] != want[i] || len(r[1]) < 20 {
			t.Errorf("view %s: comment %q, want view %s with a comment", r[0], r[1], want[i])
		}
	}
	keyColumns := map[string][]string{
		"daily_event_counts": {"day", "events", "users"},
		"user_activity":      {"first_seen", "last_seen", "events", "active_days"},
		"service_lifecycle":  {"action", "user_name", "service_version"},
		"folder_activity":    {"day", "deletions", "permission_changes"},
		"permission_changes": {"change", "user_name"},
		"sync_health":        {"watermark", "lag", "last_run_status", "rejects_last_day"},
	}
	for view, cols := range keyColumns {
		for _, col := range cols {
			c := cells(t, pool, `
				SELECT coalesce(col_description(format('%I.%I', $1::text, $2::text)::regclass, a.attnum), '')
				FROM pg_attribute a
				WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass AND a.attname = $3`, testSchema, view, col)
			if len(c) != 1 || c[0][0] == "" {
				t.Errorf("%s.%s has no comment", view, col)
			}
		}
	}
}

// TestViewsUseIndexes checks the plans of filtered view and library queries
// on a table big enough that a sequential scan would be chosen if the filter
// could not reach an index, on a database of the test server's collation
// (C in CI) and on one whose collation is not C, as most servers' is. The
// benchmark-sized check is described in the package's report; this one
// keeps the test fast.
func TestViewsUseIndexes(t *testing.T) {
	databases := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"server collation", pgtest.URL},
		{"ICU en-US collation", func(t testing.TB) string { return pgtest.ICUURL(t, "en-US") }},
	}
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) { testViewsUseIndexes(t, migratedAt(t, db.url(t))) })
	}
}

func testViewsUseIndexes(t *testing.T, pool *pgxpool.Pool) {
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('import', 't', 'gen', 'succeeded');
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, folder_id, folder_name,
		                          service_name, service_version, first_run_id, last_run_id)
		SELECT 't' || (i % 3), 'e' || i,
		       timestamptz '2025-01-01' + i * interval '5 minutes',
		       CASE WHEN i % 1000 = 0 THEN 'DeleteEngine'
		            ELSE (ARRAY['SparkLogin', 'PublishEngine', 'AddPermission', 'DownloadEngine', 'UpdateEngine'])[1 + i % 5]
		       END,
		       'u' || (i % 50), 'f' || (i % 20), 'F' || (i % 20), 's' || (i % 40), '1', 1, 1
		FROM generate_series(1, 60000) i;
		ANALYZE spark_events;`)
	if err != nil {
		t.Fatal(err)
	}
	// Library queries as RunQuery binds them, with their defaults (all
	// time) and for one week.
	bound := func(name string, params map[string]string) (string, []any) {
		t.Helper()
		sql, args, err := bindQuery(name, params)
		if err != nil {
			t.Fatal(err)
		}
		return sql, args
	}
	allTime, allTimeArgs := bound("who_deleted_what", nil)
	week, weekArgs := bound("who_deleted_what", map[string]string{"from": "2025-03-01", "to": "2025-03-08"})
	tenantWeek, tenantWeekArgs := bound("who_deleted_what", map[string]string{"from": "2025-03-01", "to": "2025-03-08", "tenant": "t1"})
	anomalies, anomaliesArgs := bound("event_volume_anomalies", nil)
	anomaliesWeek, anomaliesWeekArgs := bound("event_volume_anomalies", map[string]string{"from": "2025-03-01", "to": "2025-03-08", "tenant": "t1"})
	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		// Distinct counts come from the rollups too (migration 00010).
		{"daily_event_counts by day", `SELECT * FROM daily_event_counts WHERE day >= '2025-03-01' AND day < '2025-03-08'`, nil, "rollup_daily_events"},
		{"daily_event_counts by tenant and day", `SELECT * FROM daily_event_counts WHERE tenant = 't1' AND day >= '2025-03-01' AND day < '2025-03-08'`, nil, "rollup_daily_events_pkey"},
		{"folder_activity by tenant and day", `SELECT * FROM folder_activity WHERE tenant = 't1' AND day = '2025-03-01'`, nil, "rollup_daily_folders_pkey"},
		{"service_lifecycle by time", `SELECT * FROM service_lifecycle WHERE event_time >= '2025-03-01' AND event_time < '2025-03-02'`, nil, "spark_events_"},
		{"permission_changes by time", `SELECT * FROM permission_changes WHERE event_time >= '2025-03-01' AND event_time < '2025-03-02'`, nil, "spark_events_"},
		// A row per user and day (migration 00007), not per event.
		{"user_activity by user", `SELECT * FROM user_activity WHERE user_name = 'u7'`, nil, "rollup_daily_users"},
		{"service_lifecycle by service", `SELECT * FROM service_lifecycle WHERE service_name = 's7'`, nil, "spark_events_service_time_idx"},
		{"who_deleted_what, all time", allTime, allTimeArgs, "spark_events_type_time_idx"},
		{"who_deleted_what, one week", week, weekArgs, "spark_events_"},
		{"who_deleted_what, one week of one tenant", tenantWeek, tenantWeekArgs, "spark_events_deletions_idx"},
		// Counts per day come from the rollup (migration 00007).
		{"event_volume_anomalies, all time", anomalies, anomaliesArgs, "rollup_daily_events"},
		{"event_volume_anomalies, one week of one tenant", anomaliesWeek, anomaliesWeekArgs, "rollup_daily_events_pkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var plan strings.Builder
			rows, err := pool.Query(ctx, "EXPLAIN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan.WriteString(line + "\n")
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			p := plan.String()
			if strings.Contains(p, "Seq Scan on spark_events") || !strings.Contains(p, tt.index) {
				t.Errorf("plan does not use an index %s*:\n%s", tt.index, p)
			}
		})
	}
}

func TestMigrationDownDropsViews(t *testing.T) {
	pool, _ := migrated(t)
	ctx := context.Background()
	count := func() int {
		t.Helper()
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_views WHERE schemaname = $1`, testSchema).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(); got != 6 {
		t.Fatalf("%d views after migrating up, want 6", got)
	}
	migrateDownTo(t, pool, 1)
	if got := count(); got != 0 {
		t.Errorf("%d views after migrating below version 2, want 0", got)
	}
	var idx bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('spark_events_utc_day_idx') IS NOT NULL`).Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if idx {
		t.Error("spark_events_utc_day_idx survived migrating down")
	}
}

// TestEventIDCollationMigrationKeepsViews checks that migration 00005,
// which drops the views that select event_id to change its collation,
// gives them back as they were, comments and a reader's grants included,
// going up and down.
func TestEventIDCollationMigrationKeepsViews(t *testing.T) {
	const byteOrder = 5 // migrations/00005_event_id_byte_order.sql
	pool, _ := migrated(t)
	ctx := context.Background()
	migrateDownTo(t, pool, byteOrder)
	role, _ := loginRole(t, pool)
	if err := GrantReader(ctx, pool, testSchema, role); err != nil {
		t.Fatal(err)
	}
	owner, _ := loginRole(t, pool)
	r, o := pgx.Identifier{role}.Sanitize(), pgx.Identifier{owner}.Sanitize()
	// Beside the reader's grants: a grant to PUBLIC, one with the grant
	// option, one on a column, one revoked (which the default privileges
	// GrantReader set would give back to a view created anew), a view
	// option, and an owner other than the role that migrates.
	for _, q := range []string{
		"GRANT SELECT ON service_lifecycle TO PUBLIC",
		"GRANT UPDATE ON permission_changes TO " + r + " WITH GRANT OPTION",
		"REVOKE SELECT ON permission_changes FROM " + r,
		"GRANT SELECT (user_name) ON permission_changes TO " + r,
		"ALTER VIEW permission_changes SET (security_barrier = true)",
		"GRANT USAGE, CREATE ON SCHEMA " + pgx.Identifier{testSchema}.Sanitize() + " TO " + o,
		"ALTER VIEW service_lifecycle OWNER TO " + o,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// What a view is: its definition, owner, options, comments and grants,
	// and its columns' comments and grants, in text form.
	views := func() map[string]string {
		t.Helper()
		rows := cells(t, pool, `
			SELECT c.relname, pg_get_viewdef(c.oid), c.relowner::regrole::text, coalesce(c.reloptions::text, ''),
			       coalesce(obj_description(c.oid, 'pg_class'), ''), coalesce(c.relacl::text, ''),
			       (SELECT string_agg(a.attname || ': ' || coalesce(col_description(c.oid, a.attnum), '') ||
			                          ' ' || coalesce(a.attacl::text, ''), '; ' ORDER BY a.attnum)
			        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0)
			FROM pg_class c
			WHERE c.relkind = 'v' AND c.relnamespace = $1::regnamespace
			ORDER BY 1`, testSchema)
		out := map[string]string{}
		for _, r := range rows {
			out[r[0]] = strings.Join(r[1:], "\n")
		}
		return out
	}
	collation := func() string {
		t.Helper()
		return cells(t, pool, `
			SELECT coalesce(co.collname, '')
			FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation
			WHERE a.attrelid = 'spark_events'::regclass AND a.attname = 'event_id'`)[0][0]
	}
	before := views()
	if len(before) != 6 || !strings.Contains(before["service_lifecycle"], owner) ||
		!strings.Contains(before["permission_changes"], role+"=w*/") || !strings.Contains(before["permission_changes"], "security_barrier") {
		t.Fatalf("bad test: views before migrating down: %v", before)
	}
	if c := collation(); c != "C" {
		t.Errorf("event_id collation after migrating up = %q, want C", c)
	}
	if err := load.MigrateDown(ctx, pool, testSchema); err != nil {
		t.Fatal(err)
	}
	if c := collation(); c != "default" {
		t.Errorf("event_id collation after migrating down = %q, want default", c)
	}
	if got := views(); !reflect.DeepEqual(got, before) {
		t.Errorf("views after migrating down:\n%v\nwant\n%v", got, before)
	}
	if err := load.MigrateUp(ctx, pool, testSchema); err != nil {
		t.Fatal(err)
	}
	if c := collation(); c != "C" {
		t.Errorf("event_id collation after migrating up again = %q, want C", c)
	}
	// Up again goes past 00005: migration 00007 redefines user_activity,
	// and 00009 daily_event_counts and folder_activity, which 00005 leaves
	// alone.
	got := views()
	for _, v := range []string{"user_activity", "daily_event_counts", "folder_activity"} {
		delete(got, v)
		delete(before, v)
	}
	if !reflect.DeepEqual(got, before) {
		t.Errorf("views after migrating up again:\n%v\nwant\n%v", got, before)
	}
}

// TestEventIDCollationMigrationRefusesViewRules checks that migration 00005
// stops, changing nothing, when one of the views it recreates has a rule
// of its own, which dropping the view would lose without a word.
func TestEventIDCollationMigrationRefusesViewRules(t *testing.T) {
	pool, _ := migrated(t)
	ctx := context.Background()
	migrateDownTo(t, pool, 5)
	if _, err := pool.Exec(ctx, "CREATE RULE keep_history AS ON DELETE TO service_lifecycle DO INSTEAD NOTHING"); err != nil {
		t.Fatal(err)
	}
	err := load.MigrateDown(ctx, pool, testSchema)
	if err == nil || !strings.Contains(err.Error(), "view service_lifecycle has triggers or rules of its own") {
		t.Fatalf("migrating down with a rule on service_lifecycle: %v, want the migration's refusal", err)
	}
	if v, err := load.SchemaVersion(ctx, pool, testSchema); err != nil || v != 5 {
		t.Errorf("SchemaVersion after the refusal = %d, %v; want 5", v, err)
	}
	if n := cells(t, pool, "SELECT count(*) FROM pg_rules WHERE rulename = 'keep_history'")[0][0]; n != "1" {
		t.Errorf("%s rules keep_history after the refusal, want 1", n)
	}
}

// TestGrafanaTimeColumn runs the time column sql/README.md gives Grafana
// for the daily views in sessions of several time zones: each day must be
// the instant its UTC day starts, whatever the session's zone.
func TestGrafanaTimeColumn(t *testing.T) {
	readme, err := os.ReadFile("../sql/README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`(day::[^`]* AS time)`").FindAllStringSubmatch(string(readme), -1)
	if len(m) != 1 {
		t.Fatalf("sql/README.md gives %d time columns for day (%q), want 1", len(m), m)
	}
	pool := loaded(t)
	for _, tz := range []string{"UTC", "America/Los_Angeles", "Asia/Tokyo", "Europe/Berlin"} {
		t.Run(tz, func(t *testing.T) {
			got := cellsIn(t, pool, tz, `SELECT count(*)::text, count(*) FILTER (WHERE extract(epoch FROM g.time) <> (g.day - date '1970-01-01') * 86400)::text
				FROM (SELECT `+m[0][1]+`, day FROM daily_event_counts) g`)
			if got[0][0] == "0" || got[0][1] != "0" {
				t.Errorf("%s in time zone %s: %s of %s days not at their UTC midnight", m[0][1], tz, got[0][1], got[0][0])
			}
		})
	}
}

// migrateDownTo migrates down until version is the newest migration applied,
// so that a test of one migration holds when later ones are added.
func migrateDownTo(t *testing.T, pool *pgxpool.Pool, version int64) {
	t.Helper()
	ctx := context.Background()
	for {
		v, err := load.SchemaVersion(ctx, pool, testSchema)
		if err != nil {
			t.Fatal(err)
		}
		if v <= version {
			return
		}
		if err := load.MigrateDown(ctx, pool, testSchema); err != nil {
			t.Fatal(err)
		}
	}
}
