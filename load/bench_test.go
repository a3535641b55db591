package load

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/transform"
)

// BenchmarkUpsert loads 100,000 events (SPARKEVENTS_BENCH_ROWS overrides)
// into an empty table, and again over themselves, where nothing changes,
// in chunks of ChunkRows and of a quarter and four times that, to show the
// cost of a chunk.
func BenchmarkUpsert(b *testing.B) {
	n := 100_000
	if s := os.Getenv("SPARKEVENTS_BENCH_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	pool := migrated(b)
	evs := makeEvents(n)
	ctx := context.Background()
	truncate := func() {
		if _, err := pool.Exec(ctx, "TRUNCATE spark_events"); err != nil {
			b.Fatal(err)
		}
	}

	for _, chunk := range []int{ChunkRows / 4, ChunkRows, ChunkRows * 4} {
		b.Run(fmt.Sprintf("chunk=%d/first", chunk), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				truncate()
				b.StartTimer()
				benchLoad(b, pool, evs, chunk, Counts{Read: int64(n), Inserted: int64(n)})
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("chunk=%d/unchanged", chunk), func(b *testing.B) {
			truncate()
			benchLoad(b, pool, evs, chunk, Counts{Read: int64(n), Inserted: int64(n)})
			if _, err := pool.Exec(ctx, "VACUUM ANALYZE spark_events"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				benchLoad(b, pool, evs, chunk, Counts{Read: int64(n), Unchanged: int64(n)})
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func benchLoad(b *testing.B, pool *pgxpool.Pool, evs []transform.Event, chunk int, want Counts) {
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	c, err := upsert(ctx, tx, 1, seq(evs), chunk)
	if err != nil {
		b.Fatal(err)
	}
	if c != want {
		b.Fatalf("counts = %+v, want %+v", c, want)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}
