package load

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type indexInfo struct {
	OID     uint32
	Def     string
	Comment string
}

// eventIndexes reads every index of spark_events by name.
func eventIndexes(t testing.TB, q Querier) map[string]indexInfo {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT c.relname, c.oid, pg_get_indexdef(c.oid),
			coalesce(obj_description(c.oid, 'pg_class'), '')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'spark_events'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]indexInfo{}
	for rows.Next() {
		var name string
		var ix indexInfo
		if err := rows.Scan(&name, &ix.OID, &ix.Def, &ix.Comment); err != nil {
			t.Fatal(err)
		}
		out[name] = ix
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameIndexes fails unless after has the indexes of before, with the same
// definitions and comments, and reports which were rebuilt (have a new OID).
func sameIndexes(t *testing.T, before, after map[string]indexInfo) (rebuilt []string) {
	t.Helper()
	if len(after) != len(before) {
		t.Errorf("indexes after the load: %v, before: %v", maps.Keys(after), maps.Keys(before))
	}
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("index %s is gone", name)
		case a.Def != b.Def:
			t.Errorf("index %s is now %q, was %q", name, a.Def, b.Def)
		case a.Comment != b.Comment:
			t.Errorf("index %s has comment %q, had %q", name, a.Comment, b.Comment)
		case a.OID != b.OID:
			rebuilt = append(rebuilt, name)
		}
	}
	return rebuilt
}

// bulkRebuilt are the indexes of spark_events a bulk load rebuilds: not
// the primary key, nor those that lead with event_time.
var bulkRebuilt = []string{"spark_events_service_time_idx", "spark_events_type_time_idx", "spark_events_user_time_idx"}

func TestUpsertIntoEmptyTableRebuildsIndexesAsTheyWere(t *testing.T) {
	pool := migrated(t)
	// A comment on a rebuilt index, with characters that need quoting.
	if _, err := pool.Exec(context.Background(), `COMMENT ON INDEX spark_events_user_time_idx IS 'it''s a "test" \ of quoting'`); err != nil {
		t.Fatal(err)
	}
	before := eventIndexes(t, pool)
	if before["spark_events_user_time_idx"].Comment != `it's a "test" \ of quoting` {
		t.Fatalf("comment is %q", before["spark_events_user_time_idx"].Comment)
	}
	loadFresh(t, pool, 500)
	rebuilt := sameIndexes(t, before, eventIndexes(t, pool))
	slices.Sort(rebuilt)
	if !slices.Equal(rebuilt, bulkRebuilt) {
		t.Errorf("rebuilt %v, want %v", rebuilt, bulkRebuilt)
	}
	if n := count(t, pool, "SELECT count(*) FROM spark_events WHERE (event_time AT TIME ZONE 'UTC')::date = '2026-03-02'"); n != 500 {
		t.Errorf("%d events on 2026-03-02, want 500", n)
	}
	if n := countByUserIndex(t, pool, "user3@example.com"); n != 71 {
		t.Errorf("the rebuilt index finds %d events of user3, want 71", n)
	}
}

// countByUserIndex counts the events of user through the user index.
func countByUserIndex(t *testing.T, pool *pgxpool.Pool, user string) int64 {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	const q = "SELECT count(*) FROM spark_events WHERE user_name = $1"
	rows, err := tx.Query(ctx, "EXPLAIN "+q, user)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "spark_events_user_time_idx") {
		t.Errorf("the count does not use spark_events_user_time_idx:\n%s", strings.Join(plan, "\n"))
	}
	return count(t, tx, q, user)
}

func TestUpsertIntoNonEmptyTableKeepsIndexes(t *testing.T) {
	pool := migrated(t)
	evs := makeEvents(300)
	loadRun(t, pool, evs[:100])
	before := eventIndexes(t, pool)
	if _, c := loadRun(t, pool, evs); c.Inserted != 200 || c.Unchanged != 100 {
		t.Fatalf("counts %+v, want 200 inserted, 100 unchanged", c)
	}
	if rebuilt := sameIndexes(t, before, eventIndexes(t, pool)); len(rebuilt) > 0 {
		t.Errorf("a load into a table with rows rebuilt %v", rebuilt)
	}
}

func TestBulkLoadRolledBackKeepsIndexes(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	before := eventIndexes(t, pool)
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "test.xlsx"})
	if _, err := Upsert(ctx, tx, id, seq(makeEvents(100))); err != nil {
		t.Fatal(err)
	}
	if rebuilt := sameIndexes(t, before, eventIndexes(t, tx)); len(rebuilt) != len(bulkRebuilt) {
		t.Fatalf("in the transaction, indexes %v are new; want %v: it was no bulk load", rebuilt, bulkRebuilt)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt := sameIndexes(t, before, eventIndexes(t, pool)); len(rebuilt) > 0 {
		t.Errorf("after a rollback, indexes %v are new", rebuilt)
	}
	if n := count(t, pool, "SELECT count(*) FROM spark_events"); n != 0 {
		t.Errorf("%d events after a rollback", n)
	}
}

// A reader of the empty table holds a lock the bulk load needs: the load
// waits bulkLockTimeout, then loads the ordinary way, keeping the indexes.
func TestBulkLoadFallsBackWhenTableInUse(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	if n := count(t, reader, "SELECT count(*) FROM spark_events"); n != 0 {
		t.Fatalf("%d events in a fresh table", n)
	}
	before := eventIndexes(t, pool)

	start := time.Now()
	loadFresh(t, pool, 100)
	if rebuilt := sameIndexes(t, before, eventIndexes(t, pool)); len(rebuilt) > 0 {
		t.Errorf("with the table in use, the load rebuilt %v", rebuilt)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the load took %v; it cannot have waited for the lock", d)
	}
}

// loadFresh loads n new events as one committed run and checks that all
// were inserted and that Upsert left the transaction's lock_timeout as it
// found it.
func loadFresh(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	ctx := context.Background()
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "test.xlsx"})
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '7s'"); err != nil {
		t.Fatal(err)
	}
	c, err := Upsert(ctx, tx, id, seq(makeEvents(n)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Inserted != int64(n) {
		t.Fatalf("counts %+v, want %d inserted", c, n)
	}
	var timeout string
	if err := tx.QueryRow(ctx, "SHOW lock_timeout").Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "7s" {
		t.Errorf("lock_timeout after Upsert is %s, want 7s as the transaction had it", timeout)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two loads of different tenants into the same empty table, started
// together, both succeed and leave the indexes whole, whichever of them
// gets the bulk load (or neither, when they deadlock on the lock and both
// fall back).
func TestConcurrentLoadsIntoEmptyTable(t *testing.T) {
	pool := migrated(t)
	before := eventIndexes(t, pool)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tenant := range []string{"acme", "globex"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = loadTenant(pool, tenant, 2000)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, pool, "SELECT count(*) FROM spark_events"); n != 4000 {
		t.Errorf("%d events, want 4000", n)
	}
	sameIndexes(t, before, eventIndexes(t, pool))
	if n := countByUserIndex(t, pool, "user3@example.com"); n != 2*286 {
		t.Errorf("user3 has %d events through the indexes, want %d", n, 2*286)
	}
}

func loadTenant(pool *pgxpool.Pool, tenant string, n int) error {
	ctx := context.Background()
	evs := makeEvents(n)
	for i := range evs {
		evs[i].Tenant = tenant
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	id, err := BeginRun(ctx, tx, Run{Kind: "import", Tenant: tenant, Source: "test.xlsx"})
	if err != nil {
		return err
	}
	c, err := Upsert(ctx, tx, id, seq(evs))
	if err != nil {
		return fmt.Errorf("tenant %s: %w", tenant, err)
	}
	if c.Inserted != int64(n) {
		return fmt.Errorf("tenant %s: counts %+v, want %d inserted", tenant, c, n)
	}
	return tx.Commit(ctx)
}

// A role that may write events but does not own the table cannot drop its
// indexes: it loads the ordinary way, without waiting for a lock.
func TestBulkLoadNeedsTableOwner(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	var db string
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := pgx.Identifier{db + "_writer"}.Sanitize()
	schema := pgx.Identifier{testSchema}.Sanitize()
	for _, q := range []string{
		"CREATE ROLE " + role,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		pool.Exec(ctx, "DROP OWNED BY "+role)
		pool.Exec(ctx, "DROP ROLE "+role)
	})
	before := eventIndexes(t, pool)

	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "test.xlsx"})
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+role); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := Upsert(ctx, tx, id, seq(makeEvents(100)))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the load took %v: it waited for a lock it cannot use", d)
	}
	if c.Inserted != 100 {
		t.Fatalf("counts %+v, want 100 inserted", c)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt := sameIndexes(t, before, eventIndexes(t, pool)); len(rebuilt) > 0 {
		t.Errorf("a role that does not own the table rebuilt %v", rebuilt)
	}
}
