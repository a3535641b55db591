package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"sparkevents/transform"
)

// hashedEvents are makeEvents with IDs as transform hashes them: the time
// first, so the IDs of events with different times differ.
func hashedEvents(n int) []transform.Event {
	evs := makeEvents(n)
	for i := range evs {
		evs[i].EventID = fmt.Sprintf("h:%s:%032x", evs[i].EventTime.UTC().Format("20060102T150405.000000Z"), i)
		evs[i].HashedID = true
	}
	return evs
}

func TestChunkDistinct(t *testing.T) {
	hashed := hashedEvents(4)
	tests := []struct {
		name   string
		events []transform.Event
		want   bool
	}{
		{"hashed, distinct", hashed, true},
		{"one ID from the workbook", append(slices.Clone(hashed[:3]), makeEvents(4)[3]), true},
		{"a hashed key twice", append(slices.Clone(hashed[:3]), hashed[1]), false},
		{"a workbook ID twice", append(makeEvents(3), makeEvents(3)[1]), false},
		{"the same ID for two tenants", func() []transform.Event {
			evs := slices.Clone(hashed[:2])
			evs[1].EventID, evs[1].Tenant = evs[0].EventID, "globex"
			return evs
		}(), true},
	}
	c := newChunk(10, 0, time.Time{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, stop := iter.Pull2(seq(tt.events))
			defer stop()
			n, err := c.fill(next)
			if err != nil || n != len(tt.events) {
				t.Fatalf("fill = %d, %v; want %d events", n, err, len(tt.events))
			}
			if got := c.distinct(); got != tt.want {
				t.Errorf("distinct = %v, want %v", got, tt.want)
			}
		})
	}
}

// Hashed events of periods with nothing stored are stored as they are, in
// many chunks and with keys repeated; loading them again changes nothing.
func TestUpsertHashedEvents(t *testing.T) {
	conn := acquire(t, migrated(t))
	evs := hashedEvents(300)
	// One event twice in the same chunk of 16, another across chunks.
	withDups := append(slices.Clone(evs[:40]), evs[37])
	withDups = append(withDups, evs[40:]...)
	withDups = append(withDups, evs[5])

	if c := loadChunked(t, conn, withDups, 16); c != (Counts{Read: 302, Inserted: 300}) {
		t.Errorf("first load counts %+v, want 302 read and 300 inserted", c)
	}
	first := stored(t, conn)
	if len(first) != len(evs) {
		t.Fatalf("%d events stored, want %d", len(first), len(evs))
	}
	var run int64
	for _, e := range evs {
		s, ok := first[e.EventID]
		if !ok {
			t.Fatalf("event %s not stored", e.EventID)
		}
		var gotAttrs, wantAttrs any
		json.Unmarshal(s.Attributes, &gotAttrs)
		if len(e.Attributes) > 0 {
			json.Unmarshal(e.Attributes, &wantAttrs)
		} else {
			wantAttrs = map[string]any{}
		}
		if !eventEqual(s.Event, e) || !jsonEqual(gotAttrs, wantAttrs) {
			t.Errorf("stored %+v, want %+v", s.Event, e)
		}
		if run == 0 {
			run = s.FirstRun
		}
		if s.FirstRun != run || s.LastRun != run || !s.LoadedAt.Equal(first[evs[0].EventID].LoadedAt) {
			t.Errorf("%s: runs %d..%d loaded at %s, want one run and one stamp for all", e.EventID, s.FirstRun, s.LastRun, s.LoadedAt)
		}
	}

	if c := loadChunked(t, conn, evs, 16); c != (Counts{Read: 300, Unchanged: 300}) {
		t.Errorf("second load counts %+v, want 300 unchanged", c)
	}
	for id, s := range stored(t, conn) {
		if s.Xmin != first[id].Xmin {
			t.Fatalf("second load rewrote %s", id)
		}
	}
}

// A chunk of hashed events whose period holds nothing stored goes straight
// into spark_events with COPY, without the staging table's ON CONFLICT:
// shown here by breaking what a hashed ID promises, a stored key with
// another time, which the merge would have taken as an update.
func TestUpsertCopiesHashedNewPeriodStraightIn(t *testing.T) {
	pool := migrated(t)
	evs := hashedEvents(1)
	loadRun(t, pool, evs)
	moved := evs[0]
	moved.EventTime = moved.EventTime.Add(time.Hour)

	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "moved.xlsx"})
	_, err := Upsert(context.Background(), tx, id, seq([]transform.Event{moved}))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
		t.Fatalf("load of a hashed key stored with another time = %v, want a unique violation from the direct COPY", err)
	}
}

// A chunk of new keys whose period holds stored events, another tenant's or
// the tenant's own others, has its keys looked up and, none being stored,
// is stored in the order it came, copied straight in or inserted (the merge
// would store it in key order); a chunk with one stored key is merged.
func TestUpsertLooksUpKeysOfStoredPeriod(t *testing.T) {
	evs := hashedEvents(60)
	reversed := func(evs []transform.Event) []transform.Event {
		evs = slices.Clone(evs)
		slices.Reverse(evs)
		return evs
	}
	every := func(evs []transform.Event, from int) []transform.Event {
		var out []transform.Event
		for i := from; i < len(evs); i += 2 {
			out = append(out, evs[i])
		}
		return out
	}
	globex := slices.Clone(evs)
	for i := range globex {
		globex[i].Tenant = "globex"
	}
	workbookIDs := descendingIDs(slices.Clone(globex), "wb")
	for i := range workbookIDs {
		workbookIDs[i].HashedID = false
	}
	tests := []struct {
		name         string
		before, load []transform.Event
		want         Counts
		inOrder      bool
	}{
		{"another tenant's events in the period", evs, reversed(globex), Counts{Read: 60, Inserted: 60}, true},
		{"the tenant's other events in the period", every(evs, 0), reversed(every(evs, 1)), Counts{Read: 30, Inserted: 30}, true},
		{"IDs from the workbook, another tenant's events in the period", evs, workbookIDs, Counts{Read: 60, Inserted: 60}, true},
		{"one of the keys stored", evs[40:41], reversed(evs[30:50]), Counts{Read: 20, Inserted: 19, Unchanged: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := migrated(t)
			loadRun(t, pool, tt.before)
			if _, c := loadRun(t, pool, tt.load); c != tt.want {
				t.Fatalf("counts %+v, want %+v", c, tt.want)
			}
			if !tt.inOrder {
				return
			}
			// The table is fresh and only appended to, so the load's rows
			// are the last in the heap.
			got := storedOrder(t, pool)
			got = got[len(got)-len(tt.load):]
			if want := ids(tt.load); !slices.Equal(got, want) {
				t.Errorf("stored in the order %v..., want the order they came, %v...", got[:3], want[:3])
			}
		})
	}
}
