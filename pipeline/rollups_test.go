package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/extract/sparktest"
	"sparkevents/load"
)

// rollupsDiffer returns how many rollup rows the triggers kept that a
// rebuild from the stored events would not, plus the reverse; the rebuild
// is rolled back.
func rollupsDiffer(t *testing.T, p *Pipeline) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := p.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, table := range load.RollupTables {
		if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+pgx.Identifier{"kept_" + table}.Sanitize()+" AS SELECT * FROM "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	if err := load.RebuildRollups(ctx, tx, ""); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, table := range load.RollupTables {
		kept, rebuilt := pgx.Identifier{"kept_" + table}.Sanitize(), pgx.Identifier{table}.Sanitize()
		var d int64
		err := tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM (TABLE "+kept+" EXCEPT ALL TABLE "+rebuilt+") a) + (SELECT count(*) FROM (TABLE "+rebuilt+" EXCEPT ALL TABLE "+kept+") b)").Scan(&d)
		if err != nil {
			t.Fatal(err)
		}
		if d != 0 {
			t.Errorf("%s: %d rows differ between the triggers' rollup and a rebuild", table, d)
		}
		n += d
	}
	return n
}

// TestSyncKeepsRollupsUp syncs, then syncs again over the lookback, where
// there are new events, late ones and one that Spark now reports with
// another type and time; the rollups the triggers kept must equal a
// rebuild after each sync.
func TestSyncKeepsRollupsUp(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	ctx := context.Background()
	// The last of the first events lies 50 minutes before now, inside the
	// next sync's hour of lookback.
	since := f.now.Add(-200*20*time.Minute - 30*time.Minute)
	first := sparkEvents(100, 200, since, 20*time.Minute)
	f.spark.AddEvents(first...)
	o := f.options()
	o.Since = since
	if _, err := f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.p, "SELECT coalesce(sum(events), 0) FROM rollup_daily_events"); n != 200 {
		t.Fatalf("rollup_daily_events counts %d events after the first sync, want 200", n)
	}
	rollupsDiffer(t, f.p)

	f.now = f.now.Add(15 * time.Minute)
	fresh := sparkEvents(1000, 10, f.now.Add(-10*time.Minute), 30*time.Second)
	late := sparkEvents(2000, 3, f.now.Add(-50*time.Minute), time.Minute)
	// The last stored event again, later and of another type: the export
	// lists it after its old version, so the load takes the new one.
	moved := first[len(first)-1]
	moved.Time, moved.Type = moved.Time.Add(2*time.Minute), "CALogin"
	f.spark.AddEvents(fresh...)
	f.spark.AddEvents(late...)
	f.spark.AddEvents(moved)
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Inserted != 13 || sum.Counts.Updated != 1 {
		t.Fatalf("second sync = %+v, want 13 inserted, 1 updated", sum.Counts)
	}
	rollupsDiffer(t, f.p)
	if n := count(t, f.p, "SELECT coalesce(sum(events), 0) FROM rollup_daily_events WHERE event_type = 'CALogin'"); n != 1 {
		t.Fatalf("rollup_daily_events counts %d CALogin events, want the moved one", n)
	}

	f.now = f.now.Add(15 * time.Minute)
	if _, err := f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	rollupsDiffer(t, f.p)
}
