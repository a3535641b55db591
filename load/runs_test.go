package load

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/transform"
)

func TestBeginRunRolledBackLeavesNoRun(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BeginRun(ctx, tx, Run{Kind: "sync", Tenant: "acme", Source: "job 1"}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, tx, "SELECT count(*) FROM etl_runs WHERE status = 'running'"); n != 1 {
		t.Fatalf("%d running runs inside the transaction, want 1", n)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, "SELECT count(*) FROM etl_runs"); n != 0 {
		t.Errorf("%d runs after rollback, want 0", n)
	}
}

func TestRunLifecycle(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	start := time.Date(2026, 3, 1, 0, 0, 0, 1000, time.UTC)
	end := start.Add(24 * time.Hour)
	r := Run{Kind: "sync", Tenant: "acme", Source: "job 42", WindowStart: start, WindowEnd: end}

	tx, id := beginRun(t, pool, r)
	rejects := []transform.Reject{
		{Sheet: "Events", Row: 7, Raw: json.RawMessage(`{"Timestamp": "yesterday"}`), Reason: `Timestamp: cannot parse "yesterday"`},
		{Sheet: "Events", Row: 9, Reason: "Event Type: empty"},
	}
	if err := InsertRejects(ctx, tx, id, r.Source, rejects); err != nil {
		t.Fatal(err)
	}
	c := Counts{Read: 10, Inserted: 5, Updated: 2, Unchanged: 3, Rejected: 2}
	if err := FinishRun(ctx, tx, id, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	runs, err := Runs(ctx, pool, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("Runs = %+v, want 1", runs)
	}
	got := runs[0]
	if got.ID != id || got.Kind != "sync" || got.Tenant != "acme" || got.Source != "job 42" || got.Status != "succeeded" ||
		got.Counts != c || got.Error != "" {
		t.Errorf("run = %+v", got)
	}
	if got.WindowStart == nil || !got.WindowStart.Equal(start) || got.WindowEnd == nil || !got.WindowEnd.Equal(end) {
		t.Errorf("window = %v..%v, want %s..%s", got.WindowStart, got.WindowEnd, start, end)
	}
	if got.FinishedAt == nil || got.FinishedAt.Before(got.StartedAt) || got.FinishedAt.Equal(got.StartedAt) {
		t.Errorf("started %s, finished %v: want finished after started", got.StartedAt, got.FinishedAt)
	}

	rows, err := pool.Query(ctx, "SELECT source, sheet, row_number, raw::text, reason FROM etl_rejects WHERE run_id = $1 ORDER BY row_number", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var i int
	for ; rows.Next(); i++ {
		var source, sheet, raw, reason string
		var row int
		if err := rows.Scan(&source, &sheet, &row, &raw, &reason); err != nil {
			t.Fatal(err)
		}
		want := rejects[i]
		wantRaw := string(want.Raw)
		if wantRaw == "" {
			wantRaw = "{}"
		}
		if source != "job 42" || sheet != want.Sheet || row != want.Row || raw != wantRaw || reason != want.Reason {
			t.Errorf("reject %d = %s %s %d %s %s, want %+v", i, source, sheet, row, raw, reason, want)
		}
	}
	if i != len(rejects) {
		t.Errorf("%d rejects stored, want %d", i, len(rejects))
	}
}

// A run records when its work began, the export job's submission, and not
// only when its load did; without a start, when it is recorded.
func TestRunStartedAt(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	submitted := time.Now().Add(-90 * time.Second).Truncate(time.Microsecond)
	tx, ok := beginRun(t, pool, Run{Kind: "sync", Tenant: "acme", Source: "job 1", StartedAt: submitted})
	if err := FinishRun(ctx, tx, ok, Counts{}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	failed, err := RecordFailedRun(ctx, pool, Run{Kind: "sync", Tenant: "acme", Source: "job 2", StartedAt: submitted}, Counts{}, errors.New("boom"))
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	unstarted, err := RecordFailedRun(ctx, pool, Run{Kind: "import", Tenant: "acme", Source: "a.xlsx"}, Counts{}, errors.New("boom"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Runs(ctx, pool, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]RunInfo{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	for _, id := range []int64{ok, failed} {
		if r := byID[id]; !r.StartedAt.Equal(submitted) || r.FinishedAt == nil || r.FinishedAt.Sub(r.StartedAt) < 90*time.Second {
			t.Errorf("run %d started %s, finished %v: want it started at the submission, %s, 90 s before it finished", id, r.StartedAt, r.FinishedAt, submitted)
		}
	}
	if r := byID[unstarted]; r.StartedAt.Before(before) {
		t.Errorf("run without a start: started %s, want when it was recorded (after %s)", r.StartedAt, before)
	}
}

func TestFinishRunUnknownRun(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := FinishRun(ctx, tx, 999, Counts{}); err == nil {
		t.Error("FinishRun of a run that does not exist succeeded")
	}
}

func TestRecordFailedRunAfterCancel(t *testing.T) {
	pool := migrated(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as after an interrupt: the failure must still be recorded
	r := Run{Kind: "import", Tenant: "acme", Source: "big.xlsx"}
	c := Counts{Read: 100, Rejected: 3}
	id, err := RecordFailedRun(ctx, pool, r, c, errors.New("copy to staging table: disk full"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Runs(context.Background(), pool, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("Runs = %+v, want 1", runs)
	}
	got := runs[0]
	if got.ID != id || got.Status != "failed" || got.Counts != c || got.Error != "copy to staging table: disk full" ||
		got.FinishedAt == nil || got.WindowStart != nil || got.WindowEnd != nil {
		t.Errorf("failed run = %+v", got)
	}
}

func TestWatermarkNeverMovesBackwards(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	if _, ok, err := Watermark(ctx, pool, "acme"); err != nil || ok {
		t.Fatalf("Watermark before any = ok %v, %v; want none", ok, err)
	}
	t1 := time.Date(2026, 3, 2, 15, 8, 0, 123456000, time.UTC)
	steps := []struct {
		set, want time.Time
		wantRun   int // index into runs
	}{
		{t1, t1, 0},
		{t1.Add(-time.Hour), t1, 0},
		{t1, t1, 0},
		{t1.Add(time.Microsecond), t1.Add(time.Microsecond), 3},
	}
	var runs []int64
	for i, s := range steps {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, err := BeginRun(ctx, tx, Run{Kind: "sync", Tenant: "acme", Source: "job"})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, id)
		if err := SetWatermark(ctx, tx, "acme", s.set, id); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		got, ok, err := Watermark(ctx, pool, "acme")
		if err != nil || !ok || !got.Equal(s.want) {
			t.Errorf("step %d: set %s, Watermark = %s, %v, %v; want %s", i, s.set.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano), ok, err, s.want.Format(time.RFC3339Nano))
		}
		if by := count(t, pool, "SELECT last_run_id FROM etl_watermarks WHERE tenant = 'acme'"); by != runs[s.wantRun] {
			t.Errorf("step %d: watermark last_run_id = %d, want %d", i, by, runs[s.wantRun])
		}
	}
	if _, ok, err := Watermark(ctx, pool, "other"); err != nil || ok {
		t.Errorf("Watermark of another tenant = ok %v, %v; want none", ok, err)
	}
}

func TestLockTenant(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	unlock, err := LockTenant(ctx, pool, testSchema, "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockTenant(ctx, pool, testSchema, "acme")
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "acme") {
		t.Errorf("second lock of acme = %v, want ErrLocked naming acme", err)
	}
	unlockOther, err := LockTenant(ctx, pool, testSchema, "globex")
	if err != nil {
		t.Errorf("lock of another tenant: %v", err)
	} else {
		unlockOther()
	}
	unlockSchema, err := LockTenant(ctx, pool, "other_schema", "acme")
	if err != nil {
		t.Errorf("lock of acme in another schema: %v", err)
	} else {
		unlockSchema()
	}
	unlock()
	unlock() // a second call is harmless
	again, err := LockTenant(ctx, pool, testSchema, "acme")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
	if n := count(t, pool, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()"); n != 0 {
		t.Errorf("%d advisory locks left after unlocking", n)
	}
}

func TestRunsAndStatus(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)

	// acme: an import with events and rejects, then a failed sync.
	tx, imp := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "a.xlsx"})
	evs := makeEvents(5)
	c, err := Upsert(ctx, tx, imp, seq(evs))
	if err != nil {
		t.Fatal(err)
	}
	if err := InsertRejects(ctx, tx, imp, "a.xlsx", []transform.Reject{{Sheet: "S", Row: 2, Reason: "r"}}); err != nil {
		t.Fatal(err)
	}
	c.Rejected = 1
	if err := FinishRun(ctx, tx, imp, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	failed, err := RecordFailedRun(ctx, pool, Run{Kind: "sync", Tenant: "acme", Source: "job 1"}, Counts{}, errors.New("boom"))
	if err != nil {
		t.Fatal(err)
	}
	// globex: only a watermark, set by a sync that stored nothing.
	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	sync, err := BeginRun(ctx, tx, Run{Kind: "sync", Tenant: "globex", Source: "job 2", WindowStart: baseTime, WindowEnd: baseTime.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := SetWatermark(ctx, tx, "globex", baseTime.Add(time.Hour), sync); err != nil {
		t.Fatal(err)
	}
	if err := FinishRun(ctx, tx, sync, Counts{}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		tenant string
		limit  int
		want   []int64
	}{
		{"", 0, []int64{sync, failed, imp}},
		{"", 2, []int64{sync, failed}},
		{"acme", 0, []int64{failed, imp}},
		{"globex", 5, []int64{sync}},
		{"nobody", 5, nil},
	}
	for _, tt := range tests {
		runs, err := Runs(ctx, pool, tt.tenant, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("Runs(%q, %d) = %v, want %v", tt.tenant, tt.limit, ids, tt.want)
		}
	}

	// initech: a failed sync, then a later import, which must not hide
	// the failing sync.
	failedSync, err := RecordFailedRun(ctx, pool, Run{Kind: "sync", Tenant: "initech", Source: "job 3"}, Counts{}, errors.New("401"))
	if err != nil {
		t.Fatal(err)
	}
	later, err := RecordFailedRun(ctx, pool, Run{Kind: "import", Tenant: "initech", Source: "b.xlsx"}, Counts{}, errors.New("bad file"))
	if err != nil {
		t.Fatal(err)
	}

	st, err := Status(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st[0].Tenant != "acme" || st[1].Tenant != "globex" || st[2].Tenant != "initech" {
		t.Fatalf("Status = %+v, want acme, globex and initech", st)
	}
	a, g, i := st[0], st[1], st[2]
	lastEvent := evs[4].EventTime
	if a.Events != 5 || a.LastEvent == nil || !a.LastEvent.Equal(lastEvent) || a.Watermark != nil ||
		a.RejectsLastDay != 1 || a.LastRun == nil || a.LastRun.ID != failed || a.LastRun.Error != "boom" ||
		a.LastSync == nil || a.LastSync.ID != failed {
		t.Errorf("acme status = %+v (last run %+v)", a, a.LastRun)
	}
	if g.Events != 0 || g.LastEvent != nil || g.Watermark == nil || !g.Watermark.Equal(baseTime.Add(time.Hour)) ||
		g.RejectsLastDay != 0 || g.LastRun == nil || g.LastRun.ID != sync || g.LastRun.Status != "succeeded" ||
		g.LastSync == nil || g.LastSync.ID != sync {
		t.Errorf("globex status = %+v (last run %+v)", g, g.LastRun)
	}
	if i.LastRun == nil || i.LastRun.ID != later || i.LastSync == nil || i.LastSync.ID != failedSync || i.LastSync.Status != "failed" {
		t.Errorf("initech status = %+v (last run %+v, last sync %+v), want the import last and the failed sync as the last sync", i, i.LastRun, i.LastSync)
	}
}

// A second load of a tenant waits for the first's transaction to end, and is
// told so first; other tenants, other schemas and LockTenant do not wait,
// and a canceled wait returns.
func TestLockEvents(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	begin := func() pgx.Tx {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tx.Rollback(context.Background()) })
		return tx
	}
	noWait := func(schema, tenant string) func() {
		return func() { t.Errorf("lock of %s/%s waited", schema, tenant) }
	}

	tx1 := begin()
	if err := LockEvents(ctx, tx1, testSchema, "acme", noWait(testSchema, "acme")); err != nil {
		t.Fatal(err)
	}
	for _, other := range [][2]string{{testSchema, "globex"}, {"other_schema", "acme"}} {
		tx := begin()
		if err := LockEvents(ctx, tx, other[0], other[1], noWait(other[0], other[1])); err != nil {
			t.Errorf("lock of %s/%s: %v", other[0], other[1], err)
		}
		tx.Rollback(ctx)
	}
	if unlock, err := LockTenant(ctx, pool, testSchema, "acme"); err != nil {
		t.Errorf("LockTenant while a load holds the events lock: %v", err)
	} else {
		unlock()
	}

	// untilWaiting returns once the session of tx waits for an advisory lock
	// (pg_locks is cluster-wide and other tests may be waiting too), or
	// within 30 s with an error.
	untilWaiting := func(tx pgx.Tx) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			var n int
			err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1", tx.Conn().PgConn().PID()).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	tx2 := begin()
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- LockEvents(ctx, tx2, testSchema, "acme", func() { close(waiting) }) }()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("second lock of acme returned %v while the first transaction was open", err)
	case <-time.After(30 * time.Second):
		t.Fatal("second lock of acme neither waited nor returned")
	}
	if err := untilWaiting(tx2); err != nil {
		t.Fatalf("the second lock never waited in the server: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("second lock of acme returned %v while the first transaction was open", err)
	default:
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second lock of acme after the first committed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second lock of acme still waiting after the first committed")
	}

	if err := tx2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx3, tx4 := begin(), begin()
	if err := LockEvents(ctx, tx3, testSchema, "initech", nil); err != nil {
		t.Fatal(err)
	}
	// Cancel once the server shows the wait, so it is the wait that ends.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := LockEvents(cctx, tx4, testSchema, "initech", func() {
		go func() {
			untilWaiting(tx4)
			cancel()
		}()
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "initech") {
		t.Errorf("canceled wait = %v, want context.Canceled naming the tenant", err)
	}
}
