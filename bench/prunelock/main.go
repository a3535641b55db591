// Command prunelock measures what a prune costs a sync of the same tenant
// beside it: while load.PruneTenant deletes a tenant's oldest events, a
// goroutine loads a few new events of that tenant over and over, as a sync
// does (its own transaction, the tenant's events lock, a run row, Upsert),
// and times how long each load waited for the lock and took in all. Then
// it checks that the rollups the triggers kept equal those a rebuild
// computes from the events left (in a transaction it rolls back). It is
// how bench/README.md's "Prune beside a sync" was measured, on the table
// bench/fill makes:
//
//	DATABASE_URL=postgres://... go run ./bench/fill -n 10000000 -tenant big -years 2
//	DATABASE_URL=postgres://... go run ./bench/prunelock -tenant big -before 2024-02-01
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/load"
	"sparkevents/transform"
)

func main() {
	tenant := flag.String("tenant", "big", "the tenant to prune and load")
	before := flag.String("before", "2024-02-01", "prune the tenant's events before this day")
	rollupsBefore := flag.String("rollups-before", "", "prune the rollups before this day (default: with the events)")
	batch := flag.Int("batch", load.PruneBatchRows, "events per prune transaction")
	rows := flag.Int("rows", 10, "events per load beside the prune")
	pause := flag.Duration("pause", 20*time.Millisecond, "pause between two loads")
	check := flag.Bool("check", true, "compare the rollups with a rebuild afterwards")
	flag.Parse()
	ctx := context.Background()
	schema := os.Getenv("SPARKEVENTS_SCHEMA")
	if schema == "" {
		schema = "sparkevents"
	}
	pool, err := load.Connect(ctx, os.Getenv("DATABASE_URL"), schema)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	day := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			log.Fatal(err)
		}
		return t
	}
	p := load.Prune{Tenant: *tenant, Events: day(*before), Rollups: day(*rollupsBefore), BatchRows: *batch, Command: "bench/prunelock"}

	t0 := time.Now()
	dry, err := load.PruneTenant(ctx, pool, schema, p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("dry run: %d events, %d rollup rows, in %s\n", dry.Events, dry.RollupRows, time.Since(t0).Round(time.Millisecond))

	var (
		wg           sync.WaitGroup
		stop         = make(chan struct{})
		waits, takes []time.Duration
		loadErr      error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().Unix()%86400) * time.Hour)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wait, took, err := loadBeside(ctx, pool, schema, *tenant, base, i, *rows)
			if err != nil {
				loadErr = err
				return
			}
			waits, takes = append(waits, wait), append(takes, took)
			time.Sleep(*pause)
		}
	}()
	time.Sleep(time.Second) // loads alone first
	t0 = time.Now()
	r, err := load.PruneTenant(ctx, pool, schema, func() load.Prune { q := p; q.Apply = true; return q }())
	elapsed := time.Since(t0)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if err != nil {
		log.Fatal(err)
	}
	if loadErr != nil {
		log.Fatal(loadErr)
	}
	fmt.Printf("prune: %d events, %d rollup rows in %d transactions, %s in all; the longest held the lock %s\n",
		r.Events, r.RollupRows, r.Batches, elapsed.Round(time.Millisecond), r.LongestBatch.Round(time.Millisecond))
	fmt.Printf("loads beside it: %d of %d events each; lock wait %s; whole load %s\n", len(waits), *rows, stats(waits), stats(takes))

	if !*check {
		return
	}
	t0 = time.Now()
	diff, err := compareWithRebuild(ctx, pool, *tenant)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rollups against a rebuild (%s): %s\n", time.Since(t0).Round(time.Second), diff)
}

// loadBeside loads rows new events of tenant as a sync's window does.
func loadBeside(ctx context.Context, pool *pgxpool.Pool, schema, tenant string, base time.Time, i, rows int) (wait, took time.Duration, err error) {
	t0 := time.Now()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := load.LockEvents(ctx, tx, schema, tenant, nil); err != nil {
			return err
		}
		wait = time.Since(t0)
		id, err := load.BeginRun(ctx, tx, load.Run{Kind: "sync", Tenant: tenant, Source: "bench/prunelock"})
		if err != nil {
			return err
		}
		evs := make([]transform.Event, rows)
		for j := range evs {
			evs[j] = transform.Event{Tenant: tenant, EventID: fmt.Sprintf("prunelock-%d-%d-%d", base.Unix(), i, j),
				EventTime: base.Add(time.Duration(i*rows+j) * time.Second), EventType: "SparkLogin",
				UserName: fmt.Sprintf("user%d@example.com", j)}
		}
		c, err := load.Upsert(ctx, tx, id, func(yield func(*transform.Event, error) bool) {
			for k := range evs {
				if !yield(&evs[k], nil) {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return load.FinishRun(ctx, tx, id, c)
	})
	return wait, time.Since(t0), err
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[int(f*float64(len(s)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("median %s, p99 %s, max %s", q(0.5), q(0.99), s[len(s)-1].Round(time.Millisecond))
}

// compareWithRebuild counts the rows of tenant in each rollup that differ
// from what a rebuild makes of the events, in a transaction rolled back.
func compareWithRebuild(ctx context.Context, pool *pgxpool.Pool, tenant string) (string, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(ctx)
	for i, table := range load.RollupTables {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE kept_%d ON COMMIT DROP AS SELECT * FROM %s WHERE tenant = $1`, i, pgx.Identifier{table}.Sanitize()), tenant); err != nil {
			return "", err
		}
	}
	if err := load.RebuildRollups(ctx, tx, tenant); err != nil {
		return "", err
	}
	out, same := "", true
	for i, table := range load.RollupTables {
		var kept, differ int64
		q := fmt.Sprintf(`SELECT (SELECT count(*) FROM kept_%[1]d),
			(SELECT count(*) FROM (SELECT * FROM kept_%[1]d EXCEPT ALL SELECT * FROM %[2]s WHERE tenant = $1) a) +
			(SELECT count(*) FROM (SELECT * FROM %[2]s WHERE tenant = $1 EXCEPT ALL SELECT * FROM kept_%[1]d) b)`, i, pgx.Identifier{table}.Sanitize())
		if err := tx.QueryRow(ctx, q, tenant).Scan(&kept, &differ); err != nil {
			return "", err
		}
		out += fmt.Sprintf("%s %d rows, %d differ; ", table, kept, differ)
		same = same && differ == 0
	}
	if same {
		return "equal (" + out + ")", nil
	}
	return "DIFFERENT (" + out + ")", nil
}
