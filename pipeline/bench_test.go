package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// BenchmarkSync30Days syncs a 30-day, 100k-event history from the emulator
// into an empty database, one run per iteration, at several --parallel
// settings. Each export job answers "in progress" to its first two polls,
// polled every 200ms, standing in for Spark's job latency.
//
//	go test ./pipeline -run '^$' -bench Sync30Days -benchtime 1x
func BenchmarkSync30Days(b *testing.B) {
	const events = 100000
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	since := now.Add(-30 * 24 * time.Hour)
	evs := sparkEvents(0, events, since, 29*24*time.Hour/events) // all before now - settle
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: 2})
			defer spark.Close()
			spark.AddEvents(evs...)
			var requests int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p, _ := newTestPipeline(b)
				var o SyncOptions
				o.Tenant, o.Since, o.Window, o.Parallel = "acme", since, 24*time.Hour, parallel
				o.Settle, o.Lookback = time.Minute, time.Hour
				o.Now = func() time.Time { return now }
				o.Spark.BaseURL, o.Spark.Token = spark.URL, "tok"
				o.Spark.PollInterval, o.Spark.MaxPollInterval = 200*time.Millisecond, 200*time.Millisecond
				b.StartTimer()
				sum, err := p.Sync(context.Background(), o)
				if err != nil {
					b.Fatal(err)
				}
				if sum.Counts.Inserted != events {
					b.Fatalf("inserted %d, want %d", sum.Counts.Inserted, events)
				}
				requests += sum.Requests
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
