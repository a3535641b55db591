// Command fill fills a sparkevents database with N synthetic events of one
// tenant, fast: one COPY straight into spark_events, not the import path,
// then the rollups rebuilt from them. It is how bench/README.md's
// measurements at 10M events were set up:
//
//	DATABASE_URL=postgres://... go run ./bench/fill -n 10000000 -tenant big -years 2
//	DATABASE_URL=postgres://... bench/queries.sh
//
// It migrates the schema (SPARKEVENTS_SCHEMA, default sparkevents) up
// first. The events are spread evenly over the years before -end (default
// 2026-01-01, where bench/gen's workbooks start, so an import of one
// appends to the history as a sync would), in time order with time-ordered
// IDs as the loader writes them; 13 event types (logins and downloads
// common, deletions and permission changes rare, see weights), 2,000 users,
// 300 services in 40 folders.
//
// Into a table without events of the tenant's period, it drops the
// secondary indexes and the rollup triggers for the COPY and builds them
// again after it (as pg_restore does: a sorted build is several times faster
// than 10M insertions into each index), then rebuilds the rollups, all in
// one transaction, then runs VACUUM ANALYZE so the visibility map and the
// statistics are what a long-lived table has.
package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"sparkevents/load"
)

// weights are the event types and how many of every 1,000 events are of
// each.
var weights = []struct {
	typ string
	n   int
}{
	{"SparkLogin", 300}, {"CALogin", 60}, {"DownloadEngine", 250}, {"EditProduct", 150},
	{"PublishEngine", 80}, {"UpdateEngine", 80}, {"ServiceActivated", 25}, {"ServiceDeactivated", 25},
	{"DeleteEngineVersion", 10}, {"DeleteEngine", 5}, {"AddPermission", 10}, {"RemovePermission", 3},
	{"ModifyPermission", 2},
}

const (
	users    = 2000
	services = 300
	folders  = 40
)

func main() {
	n := flag.Int("n", 1_000_000, "events to add")
	tenant := flag.String("tenant", "big", "tenant of the events")
	years := flag.Float64("years", 2, "years of history the events span")
	endFlag := flag.String("end", "2026-01-01", "the history ends before this UTC date")
	flag.Parse()
	end, err := time.Parse("2006-01-02", *endFlag)
	if err != nil {
		log.Fatalf("-end: %v", err)
	}
	schema := os.Getenv("SPARKEVENTS_SCHEMA")
	if schema == "" {
		schema = "sparkevents"
	}
	ctx := context.Background()
	t0 := time.Now()
	pool, err := load.Connect(ctx, os.Getenv("DATABASE_URL"), schema)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := load.MigrateUp(ctx, pool, schema); err != nil {
		log.Fatal(err)
	}
	start := end.Add(-time.Duration(*years * 365.25 * 24 * float64(time.Hour)))

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	exec := func(sql string, args ...any) {
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			log.Fatalf("%s: %v", sql, err)
		}
	}
	exec("SET LOCAL maintenance_work_mem = '512MB'")
	var runID int64
	if err := tx.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, finished_at, rows_read, rows_inserted)
		VALUES ('import', $1, 'bench/fill', 'succeeded', now(), $2, $2) RETURNING run_id`, *tenant, *n).Scan(&runID); err != nil {
		log.Fatal(err)
	}
	var stored bool
	if err := tx.QueryRow(ctx, "SELECT count(*) > 0 FROM (SELECT 1 FROM spark_events WHERE event_time >= $1 AND event_time < $2 LIMIT 1) s", start, end).Scan(&stored); err != nil {
		log.Fatal(err)
	}
	type index struct{ name, def string }
	var indexes []index
	if !stored {
		rows, _ := tx.Query(ctx, `SELECT c.relname, pg_get_indexdef(i.indexrelid) || ';' || coalesce(format(' COMMENT ON INDEX %I IS %L;', c.relname, obj_description(c.oid, 'pg_class')), '')
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE i.indrelid = 'spark_events'::regclass AND NOT i.indisprimary ORDER BY 1`)
		indexes, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (x index, err error) {
			err = r.Scan(&x.name, &x.def)
			return x, err
		})
		if err != nil {
			log.Fatal(err)
		}
		for _, x := range indexes {
			exec("DROP INDEX " + pgx.Identifier{x.name}.Sanitize())
		}
		exec("ALTER TABLE spark_events DISABLE TRIGGER spark_events_rollup_insert")
	}
	src := newSource(*n, *tenant, runID, start, end)
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"spark_events"}, []string{
		"tenant", "event_id", "event_time", "event_type", "user_name", "folder_id", "folder_name",
		"service_name", "service_version", "description", "ip_address", "attributes", "first_run_id", "last_run_id",
	}, src)
	if err != nil {
		log.Fatalf("copy: %v", err)
	}
	log.Printf("copied %d events in %s", copied, time.Since(t0).Round(time.Second))
	if !stored {
		for _, x := range indexes {
			t := time.Now()
			exec(x.def)
			log.Printf("built %s in %s", x.name, time.Since(t).Round(time.Second))
		}
		exec("ALTER TABLE spark_events ENABLE TRIGGER spark_events_rollup_insert")
		t := time.Now()
		if err := load.RebuildRollups(ctx, tx, *tenant); err != nil {
			log.Fatal(err)
		}
		log.Printf("rebuilt the rollups of %s in %s", *tenant, time.Since(t).Round(time.Second))
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	t := time.Now()
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		log.Fatal(err)
	}
	log.Printf("VACUUM ANALYZE in %s; %d events in %s", time.Since(t).Round(time.Second), copied, time.Since(t0).Round(time.Second))
}

// source generates the events as a pgx.CopyFromSource.
type source struct {
	i, n   int
	tenant string
	run    int64
	start  time.Time
	step   time.Duration
	rng    *rand.Rand
	types  []string // weights expanded to 1,000 entries
	values []any
}

func newSource(n int, tenant string, run int64, start, end time.Time) *source {
	s := &source{n: n, tenant: tenant, run: run, start: start, step: end.Sub(start) / time.Duration(n),
		rng: rand.New(rand.NewPCG(uint64(n), 21)), values: make([]any, 14)}
	for _, w := range weights {
		for range w.n {
			s.types = append(s.types, w.typ)
		}
	}
	return s
}

func (s *source) Next() bool { s.i++; return s.i <= s.n }
func (s *source) Err() error { return nil }

func (s *source) Values() ([]any, error) {
	// Evenly spread, jittered within the step, in time order.
	at := s.start.Add(time.Duration(s.i-1)*s.step + time.Duration(s.rng.Int64N(int64(max(s.step, 1))))).Truncate(time.Microsecond).UTC()
	typ := s.types[s.rng.IntN(len(s.types))]
	user := s.rng.IntN(users)
	svc := s.rng.IntN(services)
	folder := svc % folders
	sum := md5.Sum([]byte(s.tenant + strconv.Itoa(s.i)))
	id := "h:" + at.Format("20060102T150405.000000Z") + ":" + hex.EncodeToString(sum[:])
	text := func(v string) pgtype.Text { return pgtype.Text{String: v, Valid: true} }
	none := pgtype.Text{}
	v := s.values
	v[0], v[1], v[2], v[3] = s.tenant, id, at, typ
	v[4] = text(fmt.Sprintf("user%04d@example.com", user))
	v[5], v[6], v[7], v[8] = none, none, none, none
	switch typ {
	case "SparkLogin", "CALogin":
	case "AddPermission", "RemovePermission", "ModifyPermission":
		v[5], v[6] = text(fmt.Sprintf("f%02d", folder)), text(fmt.Sprintf("Folder %02d", folder))
	default:
		v[5], v[6] = text(fmt.Sprintf("f%02d", folder)), text(fmt.Sprintf("Folder %02d", folder))
		v[7], v[8] = text(fmt.Sprintf("Service%03d", svc)), text(strconv.Itoa(1+s.rng.IntN(3))+"."+strconv.Itoa(s.rng.IntN(20))+".0")
	}
	v[9] = text(typ + " by user" + strconv.Itoa(user))
	v[10] = text("10.0." + strconv.Itoa(user/256) + "." + strconv.Itoa(user%256))
	v[11] = []byte(`{}`)
	v[12], v[13] = s.run, s.run
	return v, nil
}
