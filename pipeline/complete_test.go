package pipeline

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
	"sparkevents/load"
)

func TestExportCapJudge(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		k    exportCap
		rows int
		want verdict
	}{
		{"empty", exportCap{pageSize: 100}, 0, complete},
		{"first export", exportCap{pageSize: 100}, 17, suspect},
		{"first export, a few rows", exportCap{pageSize: 100}, 9, complete},
		{"below one seen before", exportCap{pageSize: 100, seen: 18}, 17, complete},
		{"as large as one seen before", exportCap{pageSize: 100, seen: 17}, 17, suspect},
		{"the page size", exportCap{pageSize: 100, seen: 500}, 100, cut},
		{"the page size, honoured", exportCap{pageSize: 100, honours: &yes}, 100, cut},
		{"the page size, not honoured", exportCap{pageSize: 100, honours: &no, seen: 500}, 100, complete},
		{"at a learned cap", exportCap{pageSize: 100, cap: 50}, 50, cut},
		{"below a learned cap", exportCap{pageSize: 100, cap: 50}, 49, complete},
		{"a full sheet", exportCap{pageSize: 2_000_000, seen: 2_000_000, honours: &no}, SheetRows, cut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.k
			if got, why := k.judge(tt.rows); got != tt.want {
				t.Fatalf("judge(%d) = %v (%s), want %v", tt.rows, got, why, tt.want)
			}
			if k.seen < tt.rows {
				t.Fatalf("seen = %d after an export of %d rows", k.seen, tt.rows)
			}
		})
	}
	k := exportCap{pageSize: 100}
	if k.judge(150); k.honours == nil || *k.honours {
		t.Fatalf("an export of 150 rows at page size 100: honours = %v, want false", k.honours)
	}
}

// Spark caps exports below the page size asked for, without saying so: the
// sync must still store every event, learn the cap, and use it next time.
func TestSyncStoresEverythingUnderAHiddenCap(t *testing.T) {
	ctx := context.Background()
	f := newSyncFixture(t, sparktest.Options{PageSize: 50}) // the hidden cap
	// Day 1 holds 30 events, day 2 holds 120: more than twice the cap.
	evs := append(sparkEvents(0, 30, f.now.Add(-47*time.Hour), 30*time.Minute),
		sparkEvents(30, 120, f.now.Add(-23*time.Hour), 10*time.Minute)...)
	f.spark.AddEvents(evs...)
	o := f.options()
	o.Since = f.now.Add(-48 * time.Hour)
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if !sum.Watermark.Equal(f.now.Add(-o.Settle)) {
		t.Fatalf("watermark %s, want %s", sum.Watermark, f.now.Add(-o.Settle))
	}
	prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if prof.CapRows != 50 {
		t.Fatalf("learned cap %d, want 50 (profile %+v)", prof.CapRows, prof)
	}

	// The next sync knows the cap: an export that reaches it is split at
	// once, with nothing to verify.
	more := sparkEvents(150, 60, f.now.Add(10*time.Minute), 30*time.Second)
	f.spark.AddEvents(more...)
	jobs := f.spark.Stats().Jobs
	f.now = f.now.Add(time.Hour)
	o.Lookback = 0
	sum, err = f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, append(evs, more...))
	if got := f.spark.Stats().Jobs - jobs; got != 3 || sum.Splits != 1 {
		t.Fatalf("second sync ran %d jobs with %d splits, want 3 and 1: the learned cap was not used", got, sum.Splits)
	}
}

// A new tenant's first sync probes once how many rows an export holds;
// exports smaller than the probe are trusted, and the next sync, which
// knows the tenant, probes no more.
func TestSyncProbesANewTenantOnce(t *testing.T) {
	ctx := context.Background()
	f := newSyncFixture(t, sparktest.Options{})
	evs := dailyEvents(f, []int{10, 20, 5, 15, 30})
	o := f.options()
	o.Since = f.now.Add(-5 * 24 * time.Hour)
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if sum.Splits != 0 || sum.Jobs != 5+1 {
		t.Fatalf("%d jobs and %d splits, want 6 and 0", sum.Jobs, sum.Splits)
	}
	if subs := f.spark.Submissions(); !subs[0].Start.Before(f.now.Add(-365 * 24 * time.Hour)) {
		t.Fatalf("the first export asked from %s: not a probe of the past year", subs[0].Start)
	}
	jobs := f.spark.Stats().Jobs
	f.now = f.now.Add(time.Hour)
	if sum, err = f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got := f.spark.Stats().Jobs - jobs; got != sum.Windows || sum.Jobs != sum.Windows {
		t.Fatalf("second sync: %d jobs for %d windows: probed again", got, sum.Windows)
	}
}

// Without a probe to go by, an export larger than every one before it may
// be cut at a cap not yet known: it costs two more jobs, its halves, and a
// smaller one costs nothing.
func TestSyncVerifiesOnlyNewLargestExports(t *testing.T) {
	ctx := context.Background()
	f := newSyncFixture(t, sparktest.Options{})
	if err := load.SaveProfile(ctx, f.p.db, load.Profile{Tenant: f.spark.Tenant, MaxRows: 1, Proven: true, ProvenAt: f.now}); err != nil {
		t.Fatal(err)
	}
	evs := dailyEvents(f, []int{10, 20, 5, 15, 30}) // the largest yet: days 0, 1 and 4
	o := f.options()
	o.Since = f.now.Add(-5 * 24 * time.Hour)
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if sum.Splits != 3 || sum.Jobs != 5+2*3 {
		t.Fatalf("%d jobs and %d splits, want 11 and 3", sum.Jobs, sum.Splits)
	}
	prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	if prof.CapRows != 0 || prof.MaxRows != 30 {
		t.Fatalf("profile %+v, want no cap and 30 rows seen", prof)
	}
}

// dailyEvents adds, for each count, that many events spread over one of
// the days before f.now, the last count on the last day.
func dailyEvents(f *syncFixture, counts []int) []sparktest.Event {
	var evs []sparktest.Event
	day := f.now.Add(-time.Duration(len(counts)) * 24 * time.Hour)
	for d, n := range counts {
		if n == 0 {
			continue
		}
		start := day.Add(time.Duration(d)*24*time.Hour + time.Minute)
		step := (23 * time.Hour / time.Duration(n)).Truncate(time.Millisecond) // Spark keeps milliseconds
		evs = append(evs, sparkEvents(len(evs), n, start, step)...)
	}
	f.spark.AddEvents(evs...)
	return evs
}

// The probe only saves work: a probe that Spark refuses (here, as too
// large an export) leaves the windows to be checked by their halves.
func TestSyncGoesOnWhenTheProbeFails(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{})
	evs := dailyEvents(f, []int{12, 14})
	o := f.options()
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	var posts atomic.Int32
	o.Spark.HTTPClient = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && posts.Add(1) == 1 {
			return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{}, Request: r,
				Body: io.NopCloser(strings.NewReader(`{"message":"export too large"}`))}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	sum, err := f.p.Sync(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if sum.Splits != 2 {
		t.Fatalf("%d splits, want both windows checked by their halves", sum.Splits)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A cap that Spark lowers after a sync has proven a larger export would
// let exports cut at the new cap pass as complete. A week after the probe,
// the next sync forgets what it proved and probes again: the lowered cap
// is found, and every event stored.
func TestSyncProbesAgainAfterAWeek(t *testing.T) {
	ctx := context.Background()
	f := newSyncFixture(t, sparktest.Options{})
	evs := dailyEvents(f, []int{40, 60}) // the probe proves exports of 100 rows
	o := f.options()
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	if _, err := f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)

	// Spark now cuts exports at 25 rows; the next days hold 40 events each.
	f.spark.SetPageSize(25)
	start := f.now
	f.now = f.now.Add(8 * 24 * time.Hour)
	var more []sparktest.Event
	for d := range 8 {
		more = append(more, sparkEvents(100+40*d, 40, start.Add(time.Duration(d)*24*time.Hour+time.Minute), 30*time.Minute)...)
	}
	f.spark.AddEvents(more...)
	jobs := f.spark.Stats().Jobs
	sum, err := f.p.Sync(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, append(evs, more...))
	if sum.Splits == 0 {
		t.Fatalf("no window was split in %d jobs: the lowered cap went unnoticed", f.spark.Stats().Jobs-jobs)
	}
	prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
	if err != nil || prof.CapRows != 25 || !prof.ProvenAt.Equal(f.now) {
		t.Fatalf("profile %+v, %v: want the lowered cap of 25 learned, proven now", prof, err)
	}
}
