package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/transform"
)

// storedOrder lists the stored event IDs in the order of their rows in
// the table's heap.
func storedOrder(t *testing.T, q Querier) []string {
	t.Helper()
	rows, err := q.Query(context.Background(), "SELECT event_id FROM spark_events ORDER BY ctid")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// descendingIDs gives n events IDs that sort opposite to their order, so
// that rows stored in the order they came differ from rows stored in key
// order, as the merge's DISTINCT ON would store them.
func descendingIDs(evs []transform.Event, prefix string) []transform.Event {
	for i := range evs {
		evs[i].EventID = fmt.Sprintf("%s-%06d", prefix, len(evs)-i)
	}
	return evs
}

func ids(evs []transform.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out
}

// Events of a period with nothing stored are inserted as they came, in an
// empty table and in a backfill of an earlier period alike.
func TestUpsertNewPeriodStoredInOrder(t *testing.T) {
	pool := migrated(t)
	later := descendingIDs(makeEvents(500), "later")
	if _, c := loadRun(t, pool, later); c != (Counts{Read: 500, Inserted: 500}) {
		t.Fatalf("first load counts %+v, want 500 inserted", c)
	}
	if got := storedOrder(t, pool); !slices.Equal(got, ids(later)) {
		t.Fatalf("stored in the order %v..., want the order they came, %v...", got[:3], ids(later)[:3])
	}

	earlier := descendingIDs(makeEvents(300), "earlier")
	for i := range earlier {
		earlier[i].EventTime = earlier[i].EventTime.Add(-24 * time.Hour)
	}
	if _, c := loadRun(t, pool, earlier); c != (Counts{Read: 300, Inserted: 300}) {
		t.Fatalf("backfill counts %+v, want 300 inserted", c)
	}
	if got := storedOrder(t, pool); !slices.Equal(got, append(ids(later), ids(earlier)...)) {
		t.Errorf("backfill stored in the order %v..., want the order they came", got[500:503])
	}
}

// An event whose ID is stored with another time is skipped by the insert
// of its period's chunk: the chunk is merged too, and the event updated.
func TestUpsertStoredIDWithNewTime(t *testing.T) {
	pool := migrated(t)
	old := makeEvents(1)
	old[0].EventID = "moved"
	loadRun(t, pool, old)

	evs := makeEvents(200)
	for i := range evs {
		evs[i].EventTime = evs[i].EventTime.Add(48 * time.Hour)
	}
	evs[100].EventID = "moved"
	_, c := loadRun(t, pool, evs)
	if want := (Counts{Read: 200, Inserted: 199, Updated: 1}); c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
	got := stored(t, pool)
	if len(got) != 200 {
		t.Errorf("%d events stored, want 200", len(got))
	}
	if m := got["moved"]; !m.EventTime.Equal(evs[100].EventTime) || m.FirstRun == m.LastRun {
		t.Errorf("moved event stored at %s by runs %d..%d, want %s and updated by the second run", m.EventTime, m.FirstRun, m.LastRun, evs[100].EventTime)
	}
}

// Two loads of the same new events into an empty table, each under the
// tenant's lock as the pipeline takes it: the second waits for the first
// to commit, finds every key stored and merges; every event is stored once.
func TestUpsertSameNewEventsConcurrently(t *testing.T) {
	c2, err2 := loadTwiceAtOnce(t, true)
	if err2 != nil {
		t.Fatalf("second load: %v", err2)
	}
	if want := (Counts{Read: 1000, Unchanged: 1000}); c2 != want {
		t.Errorf("second load counts %+v, want %+v", c2, want)
	}
}

// A chunk of new keys from the workbook (not content hashes) whose keys
// the lookups prove unstored is copied straight into spark_events, like a
// chunk of new hashed events: shown by a second load of the same events
// that breaks the contract and does not take the tenant's lock. It waits
// for the first load's uncommitted keys and then fails with the direct
// COPY's unique violation, where ON CONFLICT would have skipped them.
func TestUpsertCopiesNewWorkbookIDsStraightIn(t *testing.T) {
	_, err2 := loadTwiceAtOnce(t, false)
	var pgErr *pgconn.PgError
	if !errors.As(err2, &pgErr) || pgErr.Code != uniqueViolation {
		t.Fatalf("second load without the lock = %v, want a unique violation from the direct COPY", err2)
	}
}

// loadTwiceAtOnce loads the same 1000 events with workbook IDs into an
// empty table in two transactions, the second started while the first is
// uncommitted, both taking LockEvents when lock is set. It returns the
// second load's counts and error, and checks that 1000 events are stored.
func loadTwiceAtOnce(t *testing.T, lock bool) (Counts, error) {
	t.Helper()
	ctx := context.Background()
	pool := migrated(t)
	evs := makeEvents(1000)

	tx1, id1 := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "a.xlsx"})
	if lock {
		if err := LockEvents(ctx, tx1, testSchema, "acme", nil); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := Upsert(ctx, tx1, id1, seq(evs)); err != nil || c != (Counts{Read: 1000, Inserted: 1000}) {
		t.Fatalf("first load: %+v, %v", c, err)
	}
	var (
		c2   Counts
		err2 error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tx2, err := pool.Begin(ctx)
		if err != nil {
			err2 = err
			return
		}
		defer tx2.Rollback(ctx)
		if lock {
			if err2 = LockEvents(ctx, tx2, testSchema, "acme", nil); err2 != nil {
				return
			}
		}
		id2, err := BeginRun(ctx, tx2, Run{Kind: "import", Tenant: "acme", Source: "b.xlsx"})
		if err != nil {
			err2 = err
			return
		}
		if c2, err2 = Upsert(ctx, tx2, id2, seq(evs)); err2 == nil {
			err2 = tx2.Commit(ctx)
		}
	}()
	// The second load blocks on the first's lock or uncommitted keys.
	deadline := time.Now().Add(30 * time.Second)
	for count(t, pool, "SELECT count(*) FROM pg_locks WHERE NOT granted") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second load never waited for the first")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if n := count(t, pool, "SELECT count(*) FROM spark_events"); n != 1000 {
		t.Errorf("%d events stored, want 1000", n)
	}
	return c2, err2
}

// Loads of two tenants into the same empty table, started together, both
// insert all their events.
func TestConcurrentLoadsIntoEmptyTable(t *testing.T) {
	pool := migrated(t)
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
