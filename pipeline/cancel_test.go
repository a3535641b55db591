package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// Ctrl-C (a cancelled context) in the middle of a file rolls the file back
// and records the run as failed.
func TestImportCancelledMidwayRollsBack(t *testing.T) {
	p, _ := newTestPipeline(t)
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, eventRows(0, 40000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, nil) }()
	waitFor(t, "the COPY to start", 60*time.Second, func() bool {
		return count(t, p, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'copy%' AND datname = current_database()") > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := count(t, p, "SELECT count(*) FROM spark_events"); n != 0 {
		t.Fatalf("%d events kept from a cancelled import", n)
	}
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'failed' AND error ILIKE '%cancel%'"); n != 1 {
		var runs string
		p.db.QueryRow(context.Background(), "SELECT string_agg(status || ': ' || coalesce(error, ''), '; ') FROM etl_runs").Scan(&runs)
		t.Fatalf("failed runs mentioning the cancel = %d, want 1 (runs: %s)", n, runs)
	}
}

func TestSyncCancelledKeepsCommittedWindowsOnly(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	since := f.now.Add(-10 * 24 * time.Hour)
	f.spark.AddEvents(sparkEvents(0, 240, since.Add(time.Minute), time.Hour)...)
	o := f.options()
	o.Since = since
	o.Parallel = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Once a window has committed, jobs stop finishing; then Ctrl-C.
	done := make(chan error, 1)
	go func() { _, err := f.p.Sync(ctx, o); done <- err }()
	waitFor(t, "the first window to commit", 30*time.Second, func() bool {
		return count(t, f.p, "SELECT count(*) FROM etl_watermarks") > 0
	})
	f.spark.SetFaults(sparktest.Faults{StuckJobs: true})
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wm, _, err := f.p.watermark(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if stored, want := count(t, f.p, "SELECT count(*) FROM spark_events"), count(t, f.p, "SELECT count(*) FROM spark_events WHERE event_time <= $1", wm); stored != want {
		t.Fatalf("%d events stored, but only %d are at or before the watermark %s", stored, want, wm)
	}
	if !wm.Before(f.now.Add(-time.Minute)) {
		t.Fatalf("watermark %s reached the end: the sync was not interrupted", wm)
	}
}
