package pipeline

import (
	"context"
	"os"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// TestDialectCost measures, for issue 18's report, what completeness costs
// per dialect: a 30-day sync of 100k events with --window 24h, without a
// cap and with one hidden below a day's events. It runs only with
// SPARKEVENTS_SOAK=1: it takes minutes.
func TestDialectCost(t *testing.T) {
	if os.Getenv("SPARKEVENTS_SOAK") == "" {
		t.Skip("set SPARKEVENTS_SOAK=1 to measure")
	}
	for _, hidden := range []int{0, 2000} {
		for _, d := range sparktest.Dialects() {
			f := newSyncFixture(t, sparktest.Options{Dialect: d, PageSize: hidden})
			evs := sparkEvents(0, 100_000, f.now.Add(-30*24*time.Hour+time.Second), 30*24*time.Hour/100_000)
			f.spark.AddEvents(evs...)
			o := f.options()
			o.Since = f.now.Add(-30 * 24 * time.Hour)
			o.Parallel = 4
			start := time.Now()
			sum, err := f.p.Sync(context.Background(), o)
			stored := len(storedIDs(t, f.p, o.Tenant))
			t.Logf("hidden cap %5d  %-26s err=%v stored=%d/%d windows=%d jobs=%d splits=%d extra_jobs=%d requests=%d elapsed=%s",
				hidden, d.Name, err, stored, len(evs), sum.Windows, sum.Jobs, sum.Splits, sum.Jobs-30, sum.Requests, time.Since(start).Round(100*time.Millisecond))
		}
	}
}
