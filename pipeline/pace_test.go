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
