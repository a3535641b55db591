package load

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"sparkevents/transform"
)

// loadChunked loads events in chunks of chunkRows as one committed run on conn.
func loadChunked(t *testing.T, conn *pgx.Conn, events []transform.Event, chunkRows int) Counts {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	id, err := BeginRun(ctx, tx, Run{Kind: "import", Tenant: "acme", Source: "chunks.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := upsert(ctx, tx, id, seq(events), chunkRows)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// A key repeated in a later chunk is counted once, as in one chunk, and its
// last occurrence is what is stored.
func TestUpsertChunksCountEachKeyOnce(t *testing.T) {
	for _, chunk := range []int{1, 2, 3, 4, 7, ChunkRows} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			conn := acquire(t, migrated(t))
			evs := makeEvents(7)
			evs[5] = evs[1] // a repeated row: same key, same data
			evs[6] = evs[0] // same key, corrected data
			evs[0].Description = "first"
			evs[6].Description = "last"

			c := loadChunked(t, conn, evs, chunk)
			if want := (Counts{Read: 7, Inserted: 5}); c != want {
				t.Errorf("counts = %+v, want %+v", c, want)
			}
			got := stored(t, conn)
			if len(got) != 5 {
				t.Errorf("%d events stored, want 5", len(got))
			}
			if d := got[evs[0].EventID].Description; d != "last" {
				t.Errorf("description = %q, want the last occurrence's", d)
			}
		})
	}
}

// Re-loading the same events in chunks writes no tuple. A key repeated in
// another chunk is counted unchanged in each chunk it is in: only a key
// this load wrote is recognized when met again.
func TestUpsertChunksReloadWritesNothing(t *testing.T) {
	for _, tt := range []struct {
		chunk         int
		wantUnchanged int64
	}{
		{1, 10}, {3, 10}, {9, 10}, {10, 9}, {ChunkRows, 9},
	} {
		t.Run(fmt.Sprint(tt.chunk), func(t *testing.T) {
			conn := acquire(t, migrated(t))
			evs := makeEvents(10)
			evs[9] = evs[1]

			if c, want := loadChunked(t, conn, evs, tt.chunk), (Counts{Read: 10, Inserted: 9}); c != want {
				t.Fatalf("first load counts = %+v, want %+v", c, want)
			}
			ins, upd := tableStats(t, conn)
			before := stored(t, conn)
			if c, want := loadChunked(t, conn, evs, tt.chunk), (Counts{Read: 10, Unchanged: tt.wantUnchanged}); c != want {
				t.Errorf("reload counts = %+v, want %+v", c, want)
			}
			if ins2, upd2 := tableStats(t, conn); ins2 != ins || upd2 != upd {
				t.Errorf("reload changed n_tup_ins, n_tup_upd from %d, %d to %d, %d", ins, upd, ins2, upd2)
			}
			for id, a := range stored(t, conn) {
				if b := before[id]; a.Xmin != b.Xmin || !a.LoadedAt.Equal(b.LoadedAt) {
					t.Errorf("reload rewrote %s", id)
				}
			}
		})
	}
}

// An iterator that fails in a later chunk fails the whole Upsert.
func TestUpsertChunksIteratorError(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	errBroken := errors.New("broken workbook")
	evs := makeEvents(5)
	events := func(yield func(*transform.Event, error) bool) {
		for i := range evs {
			if !yield(&evs[i], nil) {
				return
			}
		}
		yield(nil, errBroken)
	}
	if _, err := upsert(ctx, tx, 1, events, 2); !errors.Is(err, errBroken) {
		t.Errorf("upsert error = %v, want it to wrap %v", err, errBroken)
	}
}
