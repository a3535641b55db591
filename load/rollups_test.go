package load

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/transform"
)

// rollupSnapshot returns every row of every rollup table as text, in key
// order: what the triggers have kept.
func rollupSnapshot(t testing.TB, q Querier) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, table := range RollupTables {
		rows, err := q.Query(ctx, "SELECT r::text FROM "+pgx.Identifier{table}.Sanitize()+" r ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %d rows\n", table, len(lines))
		for _, l := range lines {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

// rebuiltSnapshot returns what RebuildRollups makes of the stored events,
// leaving the rollups as they were.
func rebuiltSnapshot(t testing.TB, pool *pgxpool.Pool, tenant string) string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := RebuildRollups(ctx, tx, tenant); err != nil {
		t.Fatal(err)
	}
	return rollupSnapshot(t, tx)
}

// wantRollupsRebuilt fails the test unless the rollups the triggers kept
// equal those rebuilt from the stored events.
func wantRollupsRebuilt(t testing.TB, pool *pgxpool.Pool, when string) {
	t.Helper()
	got, want := rollupSnapshot(t, pool), rebuiltSnapshot(t, pool, "")
	if got != want {
		t.Fatalf("%s: rollups kept by the triggers differ from the rebuilt ones:\nkept:\n%s\nrebuilt:\n%s", when, got, want)
	}
}

// wantUserCountsMatch fails the test unless each user's events of a day,
// summed over the maps of rollup_daily_events, are their events in
// rollup_daily_users: the two must agree on every day, those a prune kept
// past their events included.
func wantUserCountsMatch(t testing.TB, q Querier, when string) {
	t.Helper()
	var bad int64
	err := q.QueryRow(context.Background(), `SELECT count(*)
		FROM (SELECT tenant, day, key AS user_name, sum(value::bigint) AS n
		      FROM rollup_daily_events CROSS JOIN jsonb_each_text(user_counts) GROUP BY 1, 2, 3) m
		FULL JOIN rollup_daily_users u USING (tenant, day, user_name)
		WHERE m.n IS DISTINCT FROM u.events`).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%s: %d users' days count other events in rollup_daily_events.user_counts than in rollup_daily_users", when, bad)
	}
}

// rollupEvents are events of two tenants over several UTC days and hours,
// with log-ins, publishes and updates (with and without a folder or a
// user) and other types; hashed ones take the loader's straight copy,
// the others its insert and merge.
func rollupEvents(tenant string, n int, hashed bool) []transform.Event {
	types := []string{"SparkLogin", "PublishEngine", "UpdateEngine", "CALogin", "DeleteEngine", "AddPermission", "PublishEngine"}
	t0 := time.Date(2026, 4, 1, 21, 0, 0, 0, time.UTC)
	evs := make([]transform.Event, n)
	for i := range evs {
		e := transform.Event{
			Tenant:      tenant,
			EventTime:   t0.Add(time.Duration(i) * 37 * time.Minute),
			EventType:   types[i%len(types)],
			UserName:    fmt.Sprintf("u%d@example.com", i%5),
			FolderName:  fmt.Sprintf("F%d", i%3),
			ServiceName: fmt.Sprintf("S%d", i%4),
			HashedID:    hashed,
		}
		if i%11 == 0 {
			e.UserName = ""
		}
		if i%13 == 0 {
			e.FolderName = ""
		}
		if i%17 == 0 {
			e.ServiceName = ""
		}
		e.EventID = fmt.Sprintf("x-%s-%04d", tenant, i)
		if hashed {
			e.EventID = "h:" + e.EventTime.Format("20060102T150405.000000Z") + fmt.Sprintf(":%032x", i)
		}
		evs[i] = e
	}
	return evs
}

func loadTenantEvents(t *testing.T, pool *pgxpool.Pool, evs []transform.Event, chunkRows int) Counts {
	t.Helper()
	ctx := context.Background()
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: evs[0].Tenant, Source: "rollups.xlsx"})
	c, err := upsert(ctx, tx, id, seq(evs), chunkRows)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRollupsFollowEveryWrite(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	hashed := rollupEvents("acme", 300, true)
	ids := rollupEvents("beta", 200, false)
	if c := loadTenantEvents(t, pool, hashed, 64); c.Inserted != 300 {
		t.Fatalf("first import = %+v", c)
	}
	if c := loadTenantEvents(t, pool, ids, 64); c.Inserted != 200 {
		t.Fatalf("first import of beta = %+v", c)
	}
	if n := count(t, pool, "SELECT sum(events) FROM rollup_daily_events"); n != 500 {
		t.Fatalf("rollup_daily_events counts %d events after the first imports, want 500", n)
	}
	wantRollupsRebuilt(t, pool, "after the first imports")
	first := rollupSnapshot(t, pool)

	// A re-import changes nothing, in chunks that hold a key twice too.
	loadTenantEvents(t, pool, hashed, 64)
	again := append(append([]transform.Event{}, ids...), ids[:50]...)
	if c := loadTenantEvents(t, pool, again, 48); c.Inserted != 0 || c.Updated != 0 {
		t.Fatalf("re-import = %+v, want nothing written", c)
	}
	if got := rollupSnapshot(t, pool); got != first {
		t.Fatalf("a re-import changed the rollups:\n%s\nwant\n%s", got, first)
	}

	// Changed rows: time (to another day and hour), type, user (to another,
	// to none, from none), folder, service, and one changed twice in a
	// load; the merge updates them.
	changed := append([]transform.Event{}, ids...)
	changed[1].EventTime = changed[1].EventTime.Add(-49 * time.Hour)
	changed[2].EventType = "SparkLogin"
	changed[3].UserName = "someone@example.com"
	changed[4].UserName = ""
	changed[11].UserName = "was-nobody@example.com"
	changed[7].FolderName = "Moved"
	changed[9].FolderID = "fid-9"
	changed[8].ServiceName = "Renamed"
	changed[14].EventTime = changed[14].EventTime.Add(3 * time.Minute)
	changed[21].EventType = "UpdateEngine"
	// The last event of a user's day and the last publish of a service's
	// day move out of it: their times must be read again.
	changed[13].EventTime = changed[13].EventTime.Add(-30 * 24 * time.Hour)
	changed[6].EventTime = changed[6].EventTime.Add(-30 * 24 * time.Hour)
	changed = append(changed, changed[5])
	changed[len(changed)-1].EventType = "CALogin"
	if c := loadTenantEvents(t, pool, changed, 64); c.Updated != 13 {
		t.Fatalf("import of changed rows = %+v, want 13 updated", c)
	}
	wantRollupsRebuilt(t, pool, "after an import of changed rows")

	// Rows whose change the rollups do not read (a description) are
	// updated without writing a rollup row.
	versions := rollupVersions(t, pool)
	// Event 5 is stored as its second row in changed, the CALogin one.
	edited := append(append([]transform.Event{}, changed[:5]...), changed[6:]...)
	for i := 20; i < 40; i++ {
		edited[i].Description = "edited"
	}
	if c := loadTenantEvents(t, pool, edited, 64); c.Updated != 20 {
		t.Fatalf("import of edited descriptions = %+v, want 20 updated", c)
	}
	if got := rollupVersions(t, pool); got != versions {
		t.Fatal("an update of descriptions wrote rollup rows")
	}

	// Writes by hand: an UPDATE that moves events across days, types and
	// users, a COPY, a DELETE.
	exec(`UPDATE spark_events SET event_time = event_time + interval '5 hours', user_name = upper(user_name)
		WHERE tenant = 'acme' AND event_type IN ('PublishEngine', 'SparkLogin') AND event_time < '2026-04-04'`)
	wantRollupsRebuilt(t, pool, "after an UPDATE")
	exec(`UPDATE spark_events SET folder_id = 'fid-' || (length(event_id) % 2) WHERE tenant = 'beta' AND event_type IN ('DeleteEngine', 'AddPermission')`)
	wantRollupsRebuilt(t, pool, "after an UPDATE of folder IDs")
	conn := acquire(t, pool)
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"spark_events"},
		[]string{"tenant", "event_id", "event_time", "event_type", "user_name", "service_name", "first_run_id", "last_run_id"},
		pgx.CopyFromRows([][]any{
			{"gamma", "c1", time.Date(2026, 4, 2, 23, 59, 59, 0, time.UTC), "PublishEngine", "u1@example.com", "S1", 1, 1},
			{"gamma", "c2", time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC), "SparkLogin", nil, nil, 1, 1},
		}))
	if err != nil {
		t.Fatal(err)
	}
	wantRollupsRebuilt(t, pool, "after a COPY")
	exec(`DELETE FROM spark_events WHERE tenant = 'beta' AND event_time < '2026-04-03 06:00'`)
	exec(`DELETE FROM spark_events WHERE tenant = 'acme' AND event_type = 'UpdateEngine'`)
	wantRollupsRebuilt(t, pool, "after DELETEs")

	// The hatch: a DELETE in a transaction that keeps the rollups leaves
	// them alone; the rebuild then drops the deleted events' rows.
	before := rollupSnapshot(t, pool)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := KeepRollups(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM spark_events WHERE tenant = 'acme' AND event_time < '2026-04-05'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rollupSnapshot(t, pool); got != before {
		t.Fatalf("a DELETE under KeepRollups changed the rollups:\n%s\nwant\n%s", got, before)
	}
	if rebuilt := rebuiltSnapshot(t, pool, "acme"); rebuilt == before {
		t.Fatal("bad test: the DELETE under KeepRollups deleted nothing the rollups hold")
	}
	// Only in that transaction: the next DELETE is applied again.
	exec(`DELETE FROM spark_events WHERE tenant = 'beta' AND event_type = 'SparkLogin'`)
	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := RebuildRollups(ctx, tx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantRollupsRebuilt(t, pool, "after a DELETE under KeepRollups, the next DELETE and a rebuild of the tenant")

	exec("TRUNCATE spark_events")
	if got := rollupSnapshot(t, pool); strings.Count(got, ": 0 rows") != len(RollupTables) {
		t.Fatalf("rollups after TRUNCATE:\n%s", got)
	}
}

// TestRollupsBackfilledByMigration checks that migration 7 fills the
// rollups from the events already stored, and that its Down drops them.
func TestRollupsBackfilledByMigration(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	for {
		v, err := SchemaVersion(ctx, pool, testSchema)
		if err != nil {
			t.Fatal(err)
		}
		if v < 7 {
			break
		}
		if err := MigrateDown(ctx, pool, testSchema); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_class WHERE relname LIKE 'rollup%' AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"); n != 0 {
		t.Fatalf("%d rollup tables after migrating down", n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'spark_events_rollup%' AND pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"); n != 0 {
		t.Fatalf("%d rollup functions after migrating down", n)
	}
	loadTenantEvents(t, pool, rollupEvents("acme", 100, true), 2048)
	if err := MigrateUp(ctx, pool, testSchema); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT sum(events) FROM rollup_daily_events"); n != 100 {
		t.Fatalf("the migration's backfill counts %d events, want 100", n)
	}
	wantRollupsRebuilt(t, pool, "after the migration")
}

// rollupVersions is every rollup row's place and xmin: a write of any
// row, even one that changes no value, changes it.
func rollupVersions(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, table := range RollupTables {
		var v string
		q := "SELECT coalesce(string_agg(ctid::text || xmin::text, ',' ORDER BY ctid), '') FROM " + pgx.Identifier{table}.Sanitize()
		if err := pool.QueryRow(context.Background(), q).Scan(&v); err != nil {
			t.Fatal(err)
		}
		b.WriteString(table + ": " + v + "\n")
	}
	return b.String()
}
