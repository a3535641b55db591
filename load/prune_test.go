package load

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/transform"
)

// dailyRollupSnapshot is rollupSnapshot of the per-day rollups' rows of
// tenant from day on.
func dailyRollupSnapshot(t testing.TB, q Querier, tenant string, day time.Time) string {
	t.Helper()
	var b strings.Builder
	for _, table := range dailyRollups {
		rows, err := q.Query(context.Background(), "SELECT r::text FROM "+pgx.Identifier{table}.Sanitize()+" r WHERE tenant = $1 AND day >= $2::date ORDER BY 1", tenant, day)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", table, strings.Join(lines, "\n  "))
	}
	return b.String()
}

func pruneRunsOf(t *testing.T, pool *pgxpool.Pool, tenant string) []RunInfo {
	t.Helper()
	rs, err := Runs(context.Background(), pool, tenant, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []RunInfo
	for _, r := range rs {
		if r.Kind == "prune" {
			out = append(out, r)
		}
	}
	return out
}

func TestPruneDeletesOldEventsAndKeepsRollupsExact(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	loadTenantEvents(t, pool, rollupEvents("acme", 400, true), 64)
	loadTenantEvents(t, pool, rollupEvents("beta", 200, false), 64)
	// 400 events 37 minutes apart from 2026-04-01 21:00: ten days.
	cut := time.Date(2026, 4, 4, 7, 30, 0, 0, time.UTC) // rounded down to 04-04
	day := time.Date(2026, 4, 4, 0, 0, 0, 0, time.UTC)
	old := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND event_time < $1`, day)
	betaBefore := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'beta'`)
	if old == 0 {
		t.Fatal("no events to prune")
	}

	dry, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: cut})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Applied || dry.Events != old || dry.RollupRows == 0 {
		t.Fatalf("dry run = %+v, want %d events and some rollup rows", dry, old)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND event_time < $1`, day); n != old {
		t.Fatalf("a dry run deleted events: %d left of %d", n, old)
	}
	if len(pruneRunsOf(t, pool, "acme")) != 0 {
		t.Fatal("a dry run recorded a run")
	}

	r, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: cut, BatchRows: 7, Apply: true, Command: "prune --older-than 400d"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != old || r.Batches < int(old/7) || r.RollupsKept {
		t.Fatalf("prune = %+v, want %d events in batches of 7", r, old)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND event_time < $1`, day); n != 0 {
		t.Fatalf("%d events before the cutoff left", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND event_time >= $1`, day); n != 400-old {
		t.Fatalf("%d events from the cutoff's day left, want %d: the cutoff is rounded down to UTC midnight", n, 400-old)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'beta'`); n != betaBefore {
		t.Fatalf("beta's events: %d, want %d untouched", n, betaBefore)
	}
	wantRollupsRebuilt(t, pool, "after a prune")
	runs := pruneRunsOf(t, pool, "acme")
	if len(runs) != 1 || runs[0].Status != "succeeded" || runs[0].Source != "prune --older-than 400d" {
		t.Fatalf("prune runs = %+v", runs)
	}
	var deleted int64
	var details map[string]any
	if err := pool.QueryRow(ctx, `SELECT rows_deleted, details FROM etl_runs WHERE run_id = $1`, r.RunID).Scan(&deleted, &details); err != nil {
		t.Fatal(err)
	}
	if deleted != old || details["events"] != float64(old) || details["events_before"] != "2026-04-04" {
		t.Fatalf("prune's run: rows_deleted %d, details %v", deleted, details)
	}
	// Nothing more to prune: a second run deletes nothing.
	if r, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: cut, Apply: true}); err != nil || r.Events != 0 {
		t.Fatalf("second prune = %+v, %v", r, err)
	}
}

func TestPruneKeepsRollupsLonger(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	loadTenantEvents(t, pool, rollupEvents("acme", 400, false), 64)
	rollupsCut := time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC)
	eventsCut := time.Date(2026, 4, 6, 0, 0, 0, 0, time.UTC)
	kept := dailyRollupSnapshot(t, pool, "acme", rollupsCut)

	if _, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: eventsCut, Rollups: eventsCut.AddDate(0, 0, 1)}); err == nil {
		t.Fatal("rollups cut after the events: no error")
	}
	r, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: eventsCut, Rollups: rollupsCut, BatchRows: 50, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.RollupsKept || r.Events == 0 {
		t.Fatalf("prune = %+v", r)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE event_time < $1`, eventsCut); n != 0 {
		t.Fatalf("%d events before the cutoff left", n)
	}
	// The rollups of the days from rollupsCut on are as they were: those
	// of pruned days still count their events.
	if got := dailyRollupSnapshot(t, pool, "acme", rollupsCut); got != kept {
		t.Fatalf("rollups from %s changed:\n%s\nwant\n%s", rollupsCut, got, kept)
	}
	if n := count(t, pool, `SELECT count(*) FROM rollup_daily_events WHERE day < $1::date`, rollupsCut); n != 0 {
		t.Fatalf("%d rollup rows before the rollups' cutoff left", n)
	}
	// The all-time rollups are the sums of the per-day ones kept.
	for _, q := range []string{
		`SELECT count(*) FROM (SELECT tenant, user_name, sum(events) FROM rollup_daily_users GROUP BY 1, 2
		 EXCEPT SELECT tenant, user_name, events FROM rollup_users) d`,
		`SELECT count(*) FROM (SELECT tenant, user_name, events FROM rollup_users
		 EXCEPT SELECT tenant, user_name, sum(events) FROM rollup_daily_users GROUP BY 1, 2) d`,
		`SELECT count(*) FROM (SELECT tenant, service_name, folder_name, user_name, sum(publishes), sum(updates), max(last_published) FROM rollup_daily_services GROUP BY 1, 2, 3, 4
		 EXCEPT SELECT tenant, service_name, folder_name, user_name, publishes, updates, last_published FROM rollup_service_users) d`,
		`SELECT count(*) FROM (SELECT tenant, weekday, hour, user_name, logins FROM rollup_login_hours
		 EXCEPT SELECT tenant, extract(isodow FROM day)::smallint, hour, user_name, sum(logins) FROM rollup_hourly_logins GROUP BY 1, 2, 3, 4) d`,
	} {
		if n := count(t, pool, q); n != 0 {
			t.Fatalf("%d all-time rollup rows differ from the sums of the days kept: %s", n, q)
		}
	}

	// A prune whose rollups follow the events removes the days kept, and
	// the rollups equal a rebuild again.
	r, err = PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: eventsCut, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 0 || r.RollupRows == 0 {
		t.Fatalf("second prune = %+v, want only rollup rows", r)
	}
	wantRollupsRebuilt(t, pool, "after the rollups' days kept were pruned")
}

func TestPruneRunsAndRejects(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i, kind := range []string{"sync", "sync", "sync", "import", "backfill", "sync"} {
		var id int64
		status := "succeeded"
		if i == 2 {
			status = "running"
		}
		if err := pool.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, started_at) VALUES ($1, 'acme', 'x', $2, $3) RETURNING run_id`,
			kind, status, old.AddDate(0, 0, i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		exec(`INSERT INTO etl_rejects (run_id, source, sheet, row_number, raw, reason) VALUES ($1, 'x', 's', 1, '{}', 'bad'), ($1, 'x', 's', 2, '{}', 'bad')`, id)
	}
	// A new run, and a watermark naming the second.
	exec(`INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('sync', 'acme', 'new', 'succeeded')`)
	exec(`INSERT INTO etl_watermarks (tenant, watermark, last_run_id) VALUES ('acme', now(), $1)`, ids[1])
	exec(`INSERT INTO etl_runs (kind, tenant, source, status, started_at) VALUES ('sync', 'beta', 'x', 'succeeded', $1)`, old)

	cut := old.AddDate(1, 0, 0)
	dry, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Runs: cut})
	if err != nil {
		t.Fatal(err)
	}
	// Gone: the first and the last old sync; kept: the watermark's, the
	// running one, the import and the backfill (each the newest of its
	// kind), the new one.
	if dry.Runs != 2 || dry.Rejects != 4 {
		t.Fatalf("dry run = %+v, want 2 runs and 4 rejects", dry)
	}
	r, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Runs: cut, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Runs != 2 || r.Rejects != 4 {
		t.Fatalf("prune = %+v", r)
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_runs WHERE run_id IN ($1, $2)`, ids[0], ids[5]); n != 0 {
		t.Fatal("the old runs are still there")
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_rejects WHERE run_id IN ($1, $2)`, ids[0], ids[5]); n != 0 {
		t.Fatal("the old runs' rejects are still there")
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_runs WHERE run_id = ANY($1)`, ids[1:5]); n != 4 {
		t.Fatalf("%d of the 4 runs to keep are left", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_runs WHERE tenant = 'beta'`); n != 1 {
		t.Fatal("another tenant's run was pruned")
	}
	// The prune's own record is never pruned.
	if _, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Runs: time.Now().AddDate(0, 0, 2), Apply: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(pruneRunsOf(t, pool, "acme")); n != 2 {
		t.Fatalf("%d prune runs, want both kept", n)
	}
}

// A load of the same tenant beside a prune waits at most a batch, and the
// two leave the rollups exact.
func TestPruneBesideLoads(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	loadTenantEvents(t, pool, rollupEvents("acme", 400, true), 64)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var loadErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		t0 := time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if err := LockEvents(ctx, tx, testSchema, "acme", nil); err != nil {
					return err
				}
				id, err := BeginRun(ctx, tx, Run{Kind: "sync", Tenant: "acme", Source: "beside"})
				if err != nil {
					return err
				}
				evs := []transform.Event{{Tenant: "acme", EventID: fmt.Sprintf("new-%d", i), EventTime: t0.Add(time.Duration(i) * time.Minute),
					EventType: "SparkLogin", UserName: "u1@example.com"}}
				_, err = Upsert(ctx, tx, id, seq(evs))
				return err
			})
			if err != nil {
				loadErr = err
				return
			}
		}
	}()
	r, err := PruneTenant(ctx, pool, testSchema, Prune{Tenant: "acme", Events: time.Date(2026, 4, 7, 0, 0, 0, 0, time.UTC), BatchRows: 10, Apply: true})
	close(stop)
	wg.Wait()
	if err != nil || loadErr != nil {
		t.Fatalf("prune: %v; loads beside it: %v", err, loadErr)
	}
	if r.Events == 0 {
		t.Fatalf("prune = %+v", r)
	}
	wantRollupsRebuilt(t, pool, "after a prune beside loads")
	var details json.RawMessage
	if err := pool.QueryRow(ctx, `SELECT details FROM etl_runs WHERE run_id = $1`, r.RunID).Scan(&details); err != nil {
		t.Fatal(err)
	}
}
