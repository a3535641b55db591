package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// syncFixture is an emulator and a pipeline with a fixed clock.
type syncFixture struct {
	p     *Pipeline
	url   string
	spark *sparktest.Server
	now   time.Time
}

func newSyncFixture(t *testing.T, opts sparktest.Options) *syncFixture {
	t.Helper()
	p, url := newTestPipeline(t)
	if opts.Tenant == "" {
		opts.Tenant = "acme"
	}
	opts.Token = "s3cret-token"
	if opts.PendingPolls == 0 {
		opts.PendingPolls = -1
	}
	s := sparktest.NewServer(opts)
	t.Cleanup(s.Close)
	return &syncFixture{p: p, url: url, spark: s, now: time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)}
}

func (f *syncFixture) options() SyncOptions {
	o := SyncOptions{
		Tenant:   f.spark.Tenant,
		Lookback: time.Hour,
		Settle:   time.Minute,
		Window:   24 * time.Hour,
		Parallel: 2,
		Now:      func() time.Time { return f.now },
	}
	o.Spark.BaseURL = f.spark.URL
	o.Spark.Token = f.spark.Token
	o.Spark.PollInterval = time.Millisecond
	o.Spark.MaxPollInterval = 5 * time.Millisecond
	o.Spark.JobTimeout = 5 * time.Second
	o.Spark.MinRetryWait = time.Millisecond
	o.Spark.MaxRetryWait = 10 * time.Millisecond
	return o
}

func (f *syncFixture) wantStored(t *testing.T, evs []sparktest.Event) {
	t.Helper()
	got := storedIDs(t, f.p, f.spark.Tenant)
	if len(got) != len(evs) {
		t.Fatalf("stored %d events, want %d", len(got), len(evs))
	}
	for _, e := range evs {
		at, ok := got[e.ID]
		if !ok {
			t.Fatalf("event %s (%s) not stored", e.ID, e.Time)
		}
		if !at.Equal(e.Time) {
			t.Fatalf("event %s stored at %s, want %s", e.ID, at, e.Time)
		}
	}
}

func TestSyncIsIncremental(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	ctx := context.Background()
	since := f.now.Add(-10 * 24 * time.Hour)
	// Events before --since and inside the settle time must not be loaded yet.
	early := sparkEvents(0, 5, since.Add(-48*time.Hour), time.Hour)
	inRange := sparkEvents(100, 400, since, 30*time.Minute)
	settling := sparkEvents(900, 2, f.now.Add(-30*time.Second), time.Second)
	f.spark.AddEvents(early...)
	f.spark.AddEvents(inRange...)
	f.spark.AddEvents(settling...)

	o := f.options()
	if _, err := f.p.Sync(ctx, o); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("first sync without --since: err = %v, want a usage error naming --since", err)
	}
	o.Since = since
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, inRange)
	if sum.Windows != 10 || sum.Counts.Inserted != 400 {
		t.Fatalf("summary = %+v, want 10 windows, 400 inserted", sum)
	}
	if st := f.spark.Stats(); sum.Requests != int64(st.Requests) {
		t.Fatalf("summary counts %d requests, the emulator saw %d", sum.Requests, st.Requests)
	}
	if want := f.now.Add(-time.Minute); !sum.Watermark.Equal(want) {
		t.Fatalf("watermark = %s, want now - settle = %s", sum.Watermark, want)
	}

	// New events, and late ones stamped inside the lookback.
	f.now = f.now.Add(15 * time.Minute)
	fresh := sparkEvents(1000, 10, f.now.Add(-10*time.Minute), 30*time.Second)
	late := sparkEvents(2000, 3, f.now.Add(-50*time.Minute), time.Minute)
	f.spark.AddEvents(fresh...)
	f.spark.AddEvents(late...)
	sum, err = f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Inserted != 15 || sum.Counts.Updated != 0 {
		// 10 fresh, 3 late, and the 2 that were settling last time.
		t.Fatalf("second sync = %+v, want 15 inserted, 0 updated", sum.Counts)
	}
	all := append(append(append(append([]sparktest.Event{}, inRange...), settling...), fresh...), late...)
	f.wantStored(t, all)

	// Nothing new: no row is written.
	before := rowVersions(t, f.p)
	f.now = f.now.Add(15 * time.Minute)
	sum, err = f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Inserted != 0 || sum.Counts.Updated != 0 {
		t.Fatalf("idle sync = %+v, want nothing inserted or updated", sum.Counts)
	}
	if !sameVersions(before, rowVersions(t, f.p)) {
		t.Fatal("idle sync rewrote rows")
	}
	if st := f.spark.Stats(); st.AuthHeadersSeenByFileHost != 0 || st.Downloads == 0 {
		t.Fatalf("file host saw the bearer token %d times in %d downloads; want never", st.AuthHeadersSeenByFileHost, st.Downloads)
	}
}

func TestSyncSurvivesRateLimitsAndServerErrors(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{Format: "zip"})
	evs := sparkEvents(0, 120, f.now.Add(-3*24*time.Hour), 30*time.Minute)
	f.spark.AddEvents(evs...)
	f.spark.SetFaults(sparktest.Faults{RateLimited: 2, ServerErrors: 3})
	o := f.options()
	o.Since = f.now.Add(-3 * 24 * time.Hour)
	if _, err := f.p.Sync(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
}

func TestSyncFailedOrStuckJobKeepsWatermark(t *testing.T) {
	tests := []struct {
		name    string
		faults  sparktest.Faults
		mention string
	}{
		{"failed", sparktest.Faults{FailJobs: "Export quota exceeded for tenant"}, "Export quota exceeded for tenant"},
		{"stuck", sparktest.Faults{StuckJobs: true}, "job-timeout"},
		{"truncated", sparktest.Faults{TruncateDownloads: 100}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSyncFixture(t, sparktest.Options{})
			ctx := context.Background()
			f.spark.AddEvents(sparkEvents(0, 48, f.now.Add(-2*24*time.Hour), time.Hour)...)
			o := f.options()
			o.Since = f.now.Add(-2 * 24 * time.Hour)
			o.Spark.JobTimeout = 300 * time.Millisecond
			if _, err := f.p.Sync(ctx, o); err != nil {
				t.Fatal(err)
			}
			wm, _, err := f.p.watermark(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			stored := count(t, f.p, "SELECT count(*) FROM spark_events")

			f.now = f.now.Add(2 * time.Hour)
			f.spark.AddEvents(sparkEvents(100, 5, f.now.Add(-90*time.Minute), time.Minute)...)
			f.spark.SetFaults(tt.faults)
			_, err = f.p.Sync(ctx, o)
			if !errors.Is(err, ErrSpark) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want a Spark error mentioning %q", err, tt.mention)
			}
			wm2, _, _ := f.p.watermark(ctx, "acme")
			if !wm2.Equal(wm) {
				t.Fatalf("watermark moved from %s to %s after a failed window", wm, wm2)
			}
			if n := count(t, f.p, "SELECT count(*) FROM spark_events"); n != stored {
				t.Fatalf("events = %d after the failure, want %d", n, stored)
			}
			var status, msg string
			if err := f.p.db.QueryRow(ctx, "SELECT status, coalesce(error, '') FROM etl_runs ORDER BY run_id DESC LIMIT 1").Scan(&status, &msg); err != nil {
				t.Fatal(err)
			}
			if status != "failed" || !strings.Contains(msg, tt.mention) {
				t.Fatalf("last run = %s %q, want failed mentioning %q", status, msg, tt.mention)
			}
		})
	}
}

// A window whose export holds the page size is split until every export
// holds less. A split window is asked with a smaller overlap: with the full
// minute around every half, 40 events within a minute would fill every
// export down to a one-second window.
func TestSyncSplitsAWindowThatHitsThePageSize(t *testing.T) {
	tests := []struct {
		name    string
		events  int
		spacing time.Duration
		overlap time.Duration
	}{
		{"spread over a day", 150, 5 * time.Minute, 0},
		{"40 in a minute, with the default overlap", 40, 1500 * time.Millisecond, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSyncFixture(t, sparktest.Options{PageSize: 40})
			evs := sparkEvents(0, tt.events, f.now.Add(-23*time.Hour), tt.spacing)
			f.spark.AddEvents(evs...)
			o := f.options()
			o.Since = f.now.Add(-24 * time.Hour)
			o.PageSize, o.Overlap = 40, tt.overlap
			if _, err := f.p.Sync(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			f.wantStored(t, evs)
			if st := f.spark.Stats(); st.Jobs < 5 {
				t.Fatalf("%d jobs: the capped window was not split", st.Jobs)
			}
		})
	}
}

func TestSyncAndBackfillRefuseBadOptions(t *testing.T) {
	tests := []struct {
		name     string
		set      func(*SyncOptions)
		backfill bool // also refused by a backfill
	}{
		{"event type filter", func(o *SyncOptions) { o.EventTypes = []string{"SparkLogin"} }, false},
		{"user filter", func(o *SyncOptions) { o.UserName = "ann@x.com" }, false},
		{"service filter", func(o *SyncOptions) { o.ServiceName = "svc" }, false},
		{"folder filter", func(o *SyncOptions) { o.FolderID = "f1" }, false},
		{"negative settle", func(o *SyncOptions) { o.Settle = -time.Hour }, true},
		{"negative overlap", func(o *SyncOptions) { o.Overlap = -time.Minute }, true},
		{"negative lookback", func(o *SyncOptions) { o.Lookback = -time.Hour }, true},
		{"too many windows", func(o *SyncOptions) { o.Window = time.Millisecond }, true},
		{"a first sync since the future", func(o *SyncOptions) { o.Since = o.Now().Add(time.Hour) }, false},
	}
	f := newSyncFixture(t, sparktest.Options{})
	f.spark.AddEvents(sparkEvents(0, 5, f.now.Add(-5*time.Hour), time.Hour)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options()
			o.Since = f.now.Add(-24 * time.Hour)
			tt.set(&o)
			if _, err := f.p.Sync(context.Background(), o); !errors.Is(err, ErrUsage) {
				t.Errorf("sync: err = %v, want ErrUsage", err)
			}
			_, err := f.p.Backfill(context.Background(), o, f.now.Add(-24*time.Hour), f.now)
			if tt.backfill != errors.Is(err, ErrUsage) {
				t.Errorf("backfill: err = %v, want ErrUsage: %v", err, tt.backfill)
			}
		})
	}
	if _, ok, _ := f.p.watermark(context.Background(), "acme"); ok {
		t.Error("a refused sync moved the watermark")
	}
}

func TestSyncOfALockedTenantExitsAtOnce(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	f.spark.AddEvents(sparkEvents(0, 10, f.now.Add(-2*24*time.Hour), time.Hour)...)
	o := f.options()
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	o.Spark.JobTimeout = time.Minute
	// The first sync's jobs hang until the second has been refused.
	f.spark.SetFaults(sparktest.Faults{StuckJobs: true})

	first := make(chan error, 1)
	go func() { _, err := f.p.Sync(context.Background(), o); first <- err }()
	// Once the first holds the tenant's lock, a second sync is refused at once.
	// Jobs are submitted only once the tenant's lock is held.
	waitFor(t, "the first sync to take the lock and submit", 30*time.Second, func() bool {
		return f.spark.Stats().Jobs > 0
	})
	started := time.Now()
	_, err := f.p.Sync(context.Background(), o)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "acme") {
		t.Fatalf("second sync: err = %v, want ErrLocked naming the tenant", err)
	}
	if waited := time.Since(started); waited > 5*time.Second {
		t.Fatalf("the refused sync took %s: it waited for the lock", waited)
	}
	f.spark.SetFaults(sparktest.Faults{})
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("first sync: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("first sync did not finish")
	}
	if n := count(t, f.p, "SELECT count(*) FROM spark_events"); n != 10 {
		t.Fatalf("stored %d events, want 10", n)
	}
}

func TestBackfillLeavesTheWatermarkAlone(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{NoIDColumn: true, NumericTimes: true, Date1904: true})
	evs := sparkEvents(0, 60, f.now.Add(-5*24*time.Hour), 90*time.Minute)
	f.spark.AddEvents(evs...)
	o := f.options()
	ctx := context.Background()
	sum, err := f.p.Backfill(ctx, o, f.now.Add(-5*24*time.Hour), f.now)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Inserted != 60 {
		t.Fatalf("backfill inserted %d, want 60", sum.Counts.Inserted)
	}
	if _, ok, _ := f.p.watermark(ctx, "acme"); ok {
		t.Fatal("backfill set a watermark")
	}
	// Without an ID column events are identified by content: a second
	// backfill over the same range duplicates nothing.
	sum, err = f.p.Backfill(ctx, o, f.now.Add(-5*24*time.Hour), f.now)
	if err != nil {
		t.Fatal(err)
	}
	// Events on a window boundary are exported by both windows (Spark's
	// bounds are inclusive here), so Read may exceed 60: all unchanged.
	if sum.Counts.Inserted != 0 || sum.Counts.Updated != 0 || sum.Counts.Unchanged != sum.Counts.Read {
		t.Fatalf("second backfill = %+v, want every row unchanged", sum.Counts)
	}
	if n := count(t, f.p, "SELECT count(*) FROM spark_events"); n != 60 {
		t.Fatalf("events = %d, want 60", n)
	}
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	// Off the window boundaries, so no event is exported twice.
	f.spark.AddEvents(sparkEvents(0, 30, f.now.Add(-2*24*time.Hour+time.Minute), time.Hour)...)
	o := f.options()
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	o.DryRun = true
	sum, err := f.p.Sync(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts.Read != 30 {
		t.Fatalf("dry run read %d, want 30", sum.Counts.Read)
	}
	if n := count(t, f.p, "SELECT (SELECT count(*) FROM spark_events) + (SELECT count(*) FROM etl_runs) + (SELECT count(*) FROM etl_watermarks)"); n != 0 {
		t.Fatalf("dry run wrote %d rows", n)
	}
}

// Whatever Spark's bounds mean, events on a window boundary are loaded: the
// pipeline asks for a little more than each window.
func TestSyncLoadsBoundaryEventsWhenSparkBoundsAreExclusive(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{ExclusiveBounds: true})
	since := f.now.Add(-3 * 24 * time.Hour)
	// One event on every window boundary, including the first start.
	evs := sparkEvents(0, 3, since, 24*time.Hour)
	f.spark.AddEvents(evs...)
	o := f.options()
	o.Since = since
	o.Overlap = time.Minute
	if _, err := f.p.Sync(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
}

func TestSyncFailsAWindowWhoseEveryRowIsRejected(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	since := f.now.Add(-2 * 24 * time.Hour)
	evs := sparkEvents(0, 5, since.Add(time.Hour), time.Hour)
	for i := range evs {
		evs[i].Type = "" // as if the export's layout changed
	}
	f.spark.AddEvents(evs...)
	o := f.options()
	o.Since = since
	_, err := f.p.Sync(context.Background(), o)
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "--column") {
		t.Fatalf("err = %v, want an input error pointing at --column", err)
	}
	if _, ok, _ := f.p.watermark(context.Background(), "acme"); ok {
		t.Fatal("the watermark moved past a window whose every row was rejected")
	}
	// A count does not accept it: a small window holds fewer rows than most.
	o.Parse.MaxRejects = "100"
	if _, err := f.p.Sync(context.Background(), o); !errors.Is(err, ErrInput) {
		t.Fatalf("with --max-rejects 100: err = %v, want an input error", err)
	}
	if _, ok, _ := f.p.watermark(context.Background(), "acme"); ok {
		t.Fatal("with --max-rejects 100, the watermark moved past a window whose every row was rejected")
	}
	o.Parse.MaxRejects = "100%"
	if _, err := f.p.Sync(context.Background(), o); err != nil {
		t.Fatalf("with --max-rejects 100%%: %v", err)
	}
}

// A backfill that fails part way says where to go on from: the windows
// before the failed one are stored, and going on from there submits no
// export job for them again.
func TestFailedBackfillSaysWhereToGoOn(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	from := f.now.Add(-5 * 24 * time.Hour)
	good := sparkEvents(0, 20, from.Add(time.Hour), time.Hour) // days 1 and 2
	bad := sparkEvents(20, 5, from.Add(2*24*time.Hour+time.Hour), time.Hour)
	for i := range bad {
		bad[i].Type = "" // every row of day 3 rejected
	}
	later := sparkEvents(25, 5, from.Add(3*24*time.Hour+time.Hour), time.Hour)
	f.spark.AddEvents(append(append(good, bad...), later...)...)
	o := f.options()
	o.Parallel = 1
	ctx := context.Background()

	_, err := f.p.Backfill(ctx, o, from, f.now)
	resume := from.Add(2 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "the 2 windows before "+resume+" are stored") ||
		!strings.Contains(err.Error(), "run the backfill again with --from "+resume) {
		t.Fatalf("err = %v, want an input error saying to go on with --from %s", err, resume)
	}
	f.wantStored(t, good)

	jobs := f.spark.Stats().Jobs
	o.Parse.MaxRejects = "100%" // the operator accepts the bad day
	if _, err := f.p.Backfill(ctx, o, from.Add(2*24*time.Hour), f.now); err != nil {
		t.Fatalf("backfill going on from %s: %v", resume, err)
	}
	if n := f.spark.Stats().Jobs - jobs; n != 3 {
		t.Fatalf("going on submitted %d jobs, want 3 (days 3 to 5)", n)
	}
	f.wantStored(t, append(good, later...))

	// A backfill that fails at its first window has nothing to go on from.
	o.Parse.MaxRejects = ""
	_, err = f.p.Backfill(ctx, o, from.Add(2*24*time.Hour), f.now)
	if err == nil || strings.Contains(err.Error(), "to go on") {
		t.Fatalf("err = %v, want a failure without a place to go on from", err)
	}
}

// afterWindows is a Progress that calls do once n windows are done.
type afterWindows struct {
	nopProgress
	n  int
	do func()
}

func (a *afterWindows) Add(n int64) {
	if a.n -= int(n); a.n == 0 {
		a.do()
	}
}

// Only a backfill that wrote its first windows gets a place to go on from:
// a sync goes on from its watermark, and a dry run stored nothing. An
// interrupted backfill gets one too.
func TestResumeHintOnlyWhereWindowsAreStored(t *testing.T) {
	tests := []struct {
		name      string
		kind      string
		dryRun    bool
		interrupt bool // else the third window's export job fails
		hint      bool
	}{
		{"sync", "sync", false, false, false},
		{"dry-run backfill", "backfill", true, false, false},
		{"backfill", "backfill", false, false, true},
		{"interrupted backfill", "backfill", false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSyncFixture(t, sparktest.Options{})
			from := f.now.Add(-5 * 24 * time.Hour)
			f.spark.AddEvents(sparkEvents(0, 40, from.Add(time.Hour), 3*time.Hour)...)
			o := f.options()
			o.Parallel = 1 // the third job is submitted once the second window is done
			o.DryRun = tt.dryRun
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			then := func() { f.spark.SetFaults(sparktest.Faults{FailJobs: "Export quota exceeded"}) }
			if tt.interrupt {
				then = cancel
			}
			f.p.progress = &afterWindows{n: 2, do: then}
			var err error
			if tt.kind == "sync" {
				o.Since = from
				_, err = f.p.Sync(ctx, o)
			} else {
				_, err = f.p.Backfill(ctx, o, from, f.now)
			}
			switch {
			case tt.interrupt && !errors.Is(err, context.Canceled):
				t.Fatalf("err = %v, want context.Canceled", err)
			case !tt.interrupt && !errors.Is(err, ErrSpark):
				t.Fatalf("err = %v, want the failed job's", err)
			}
			resume := "the 2 windows before " + from.Add(2*24*time.Hour).UTC().Format(time.RFC3339) + " are stored"
			if got := strings.Contains(err.Error(), resume); got != tt.hint {
				t.Fatalf("err = %v; says %q: %v, want %v", err, resume, got, tt.hint)
			}
		})
	}
}

// A backfill parses the next window's workbook while the current window's
// last chunk merges, and loads the same events as one that does not.
func TestBackfillParsesTheNextWindowAhead(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	var logs bytes.Buffer
	f.p.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	from := f.now.Add(-6 * 24 * time.Hour)
	evs := sparkEvents(0, 600, from.Add(time.Minute), 14*time.Minute)
	f.spark.AddEvents(evs...)
	o := f.options()
	o.Parallel = 3
	if _, err := f.p.Backfill(context.Background(), o, from, f.now); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if n := strings.Count(logs.String(), "parsing the next window ahead"); n == 0 {
		t.Fatalf("no window was parsed ahead; log:\n%s", logs.String())
	}
}

// A sheet that every export carries beside its events, without an event
// header, is kept as rejects but neither fails a quiet window (its rows are
// all there is) nor counts against --max-rejects.
func TestSyncKeepsAParametersSheetWithoutFailing(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{ParametersSheet: true})
	since := f.now.Add(-3 * 24 * time.Hour)
	evs := sparkEvents(0, 5, since.Add(time.Hour), time.Hour) // the first day only
	f.spark.AddEvents(evs...)
	o := f.options()
	o.Since = since
	o.Parse.MaxRejects = "0"
	sum, err := f.p.Sync(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if wm, _, _ := f.p.watermark(context.Background(), "acme"); !wm.Equal(f.now.Add(-o.Settle)) {
		t.Errorf("watermark %s, want it past the quiet days, at %s", wm, f.now.Add(-o.Settle))
	}
	// Three rows of the Filters sheet per window, each kept with its reason.
	want := int64(3 * sum.Windows)
	if sum.Counts.Rejected != want {
		t.Errorf("rejected %d, want %d", sum.Counts.Rejected, want)
	}
	if n := count(t, f.p, "SELECT count(*) FROM etl_rejects WHERE reason LIKE '%no header row%'"); n != want {
		t.Errorf("%d rejects stored, want %d", n, want)
	}
}
