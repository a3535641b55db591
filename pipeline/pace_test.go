package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// A tenant that runs one export job at a time refuses the second with a
// 409 (or a 400): the sync waits its turn instead of failing the window,
// and says once that it does.
func TestSyncUnderAJobLimit(t *testing.T) {
	for _, code := range []int{409, 400} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newSyncFixture(t, sparktest.Options{JobLimit: 1, JobLimitStatus: code, PendingPolls: 2})
			evs := sparkEvents(0, 240, f.now.Add(-10*24*time.Hour), time.Hour)
			f.spark.AddEvents(evs...)
			var logs bytes.Buffer
			o := f.options()
			o.Since = f.now.Add(-10 * 24 * time.Hour)
			o.Parallel = 4
			o.Spark.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			sum, err := f.p.Sync(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			f.wantStored(t, evs)
			st := f.spark.Stats()
			if sum.Windows != 10 || st.MaxUnfinished != 1 || st.JobsRefused == 0 {
				t.Errorf("%d windows, stats %+v: want 10 windows, some jobs refused, never two unfinished", sum.Windows, st)
			}
			if n := strings.Count(logs.String(), "allows one export job at a time"); n != 1 {
				t.Errorf("the job limit was logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// Spark rate-limits every 3rd request and fails every 4th: the parallel
// jobs of a sync slow down together and store every event, the 429s
// spending no retries and the 500s, shared by four jobs, failing none.
func TestSyncUnderPeriodicRateLimitsAndServerErrors(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{PendingPolls: 2, Format: "zip", RetryAfter: 5 * time.Millisecond})
	evs := sparkEvents(0, 480, f.now.Add(-20*24*time.Hour), time.Hour)
	f.spark.AddEvents(evs...)
	f.spark.SetFaults(sparktest.Faults{RateLimitEvery: 3, ServerErrorEvery: 4})
	o := f.options()
	o.Since = f.now.Add(-20 * 24 * time.Hour)
	o.Parallel = 4
	o.Spark.Retries = 2
	sum, err := f.p.Sync(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
	if sum.Windows != 20 {
		t.Errorf("%d windows, want 20", sum.Windows)
	}
	t.Logf("%d requests", sum.Requests)
}
