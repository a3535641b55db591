package load

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/transform"
)

func TestUpsertSQL(t *testing.T) {
	q := upsertSQL(`"spark_events"`, `"pg_temp"."stage"`)
	set, where, ok := strings.Cut(q[strings.Index(q, "DO UPDATE SET"):], "WHERE")
	if !ok {
		t.Fatalf("no WHERE on the conflict action:\n%s", q)
	}
	for _, c := range dataColumns() {
		col := `"` + c + `"`
		if !strings.Contains(set, col+" = excluded."+col) {
			t.Errorf("SET does not assign %s:\n%s", c, set)
		}
		if !strings.Contains(where, "t."+col) || !strings.Contains(where, "excluded."+col) {
			t.Errorf("change test does not compare %s:\n%s", c, where)
		}
	}
	if strings.Contains(set, "first_run_id") {
		t.Errorf("SET overwrites first_run_id:\n%s", set)
	}
	for _, want := range []string{"DISTINCT ON", "ordinal DESC", "ON CONFLICT", "IS DISTINCT FROM", "$1", `"pg_temp"."stage"`} {
		if !strings.Contains(q, want) {
			t.Errorf("upsert SQL lacks %q:\n%s", want, q)
		}
	}
}

type storedEvent struct {
	transform.Event
	FirstRun, LastRun int64
	LoadedAt          time.Time
	Xmin              uint32
	NullUser          bool
}

func stored(t testing.TB, q Querier) map[string]storedEvent {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT tenant, event_id, event_time, event_type,
		coalesce(user_name, ''), coalesce(folder_id, ''), coalesce(folder_name, ''), coalesce(service_name, ''),
		coalesce(service_version, ''), coalesce(description, ''), coalesce(ip_address, ''), attributes,
		first_run_id, last_run_id, loaded_at, xmin::text::bigint, user_name IS NULL
		FROM spark_events`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storedEvent{}
	for rows.Next() {
		var s storedEvent
		var xmin int64
		if err := rows.Scan(&s.Tenant, &s.EventID, &s.EventTime, &s.EventType, &s.UserName, &s.FolderID,
			&s.FolderName, &s.ServiceName, &s.ServiceVersion, &s.Description, &s.IPAddress, &s.Attributes,
			&s.FirstRun, &s.LastRun, &s.LoadedAt, &xmin, &s.NullUser); err != nil {
			t.Fatal(err)
		}
		s.Xmin = uint32(xmin)
		out[s.EventID] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tableStats reads the cumulative insert and update counters of
// spark_events after making this session flush its own.
func tableStats(t testing.TB, conn *pgx.Conn) (ins, upd int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relid = 'spark_events'::regclass").
		Scan(&ins, &upd); err != nil {
		t.Fatal(err)
	}
	return ins, upd
}

func loadOn(t testing.TB, conn *pgx.Conn, events []transform.Event) (int64, Counts) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	id, err := BeginRun(ctx, tx, Run{Kind: "import", Tenant: "acme", Source: "test.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Upsert(ctx, tx, id, seq(events))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return id, c
}

func TestUpsertReloadWritesNothing(t *testing.T) {
	conn := acquire(t, migrated(t))

	// Enough rows to span several CopyFrom buffers.
	evs := makeEvents(2000)
	run1, c := loadOn(t, conn, evs)
	if want := (Counts{Read: 2000, Inserted: 2000}); c != want {
		t.Fatalf("first load counts = %+v, want %+v", c, want)
	}
	ins, upd := tableStats(t, conn)
	if ins != 2000 || upd != 0 {
		t.Fatalf("after first load n_tup_ins, n_tup_upd = %d, %d; want 2000, 0", ins, upd)
	}
	before := stored(t, conn)

	_, c = loadOn(t, conn, evs)
	if want := (Counts{Read: 2000, Unchanged: 2000}); c != want {
		t.Errorf("reload counts = %+v, want %+v", c, want)
	}
	if ins2, upd2 := tableStats(t, conn); ins2 != ins || upd2 != upd {
		t.Errorf("reload changed n_tup_ins, n_tup_upd from %d, %d to %d, %d", ins, upd, ins2, upd2)
	}
	after := stored(t, conn)
	for id, b := range before {
		a := after[id]
		if a.Xmin != b.Xmin || a.LastRun != run1 || !a.LoadedAt.Equal(b.LoadedAt) {
			t.Fatalf("reload rewrote %s: xmin %d -> %d, last_run_id %d -> %d", id, b.Xmin, a.Xmin, b.LastRun, a.LastRun)
		}
	}
}

func TestUpsertStoresEveryField(t *testing.T) {
	pool := migrated(t)
	ev := transform.Event{
		Tenant: "acme", EventID: "e1",
		EventTime: time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.FixedZone("x", 5*3600)),
		EventType: "PublishEngine", UserName: "a@b.c", FolderID: "f1", FolderName: "Folder",
		ServiceName: "Svc", ServiceVersion: "0.1", Description: "desc", IPAddress: "10.1.2.3",
		Attributes: json.RawMessage(`{"Extra Column": "v", "n": 1}`),
	}
	empty := transform.Event{Tenant: "acme", EventID: "e2", EventTime: baseTime, EventType: "SparkLogin"}
	run, _ := loadRun(t, pool, []transform.Event{ev, empty})

	got := stored(t, pool)
	g := got["e1"]
	if !g.EventTime.Equal(ev.EventTime) {
		t.Errorf("event_time = %s, want %s (microseconds must survive)", g.EventTime.Format(time.RFC3339Nano), ev.EventTime.Format(time.RFC3339Nano))
	}
	var gotAttrs, wantAttrs any
	json.Unmarshal(g.Attributes, &gotAttrs)
	json.Unmarshal(ev.Attributes, &wantAttrs)
	if !jsonEqual(gotAttrs, wantAttrs) {
		t.Errorf("attributes = %s, want %s", g.Attributes, ev.Attributes)
	}
	if !eventEqual(g.Event, ev) {
		t.Errorf("stored %+v, want %+v", g.Event, ev)
	}
	if g.FirstRun != run || g.LastRun != run {
		t.Errorf("first/last run = %d/%d, want %d", g.FirstRun, g.LastRun, run)
	}
	e := got["e2"]
	if !e.NullUser {
		t.Error("empty user_name stored as '', want NULL")
	}
	if string(e.Attributes) != "{}" {
		t.Errorf("nil attributes stored as %s, want {}", e.Attributes)
	}
}

func eventEqual(a, b transform.Event) bool {
	a.Attributes, b.Attributes = nil, nil
	return a.EventTime.Equal(b.EventTime) &&
		a.Tenant == b.Tenant && a.EventID == b.EventID && a.EventType == b.EventType && a.UserName == b.UserName &&
		a.FolderID == b.FolderID && a.FolderName == b.FolderName && a.ServiceName == b.ServiceName &&
		a.ServiceVersion == b.ServiceVersion && a.Description == b.Description && a.IPAddress == b.IPAddress
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestUpsertDetectsChanges(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*transform.Event)
		updated bool
	}{
		{"nothing", func(*transform.Event) {}, false},
		{"event time by a microsecond", func(e *transform.Event) { e.EventTime = e.EventTime.Add(time.Microsecond) }, true},
		{"event time by a nanosecond", func(e *transform.Event) { e.EventTime = e.EventTime.Add(time.Nanosecond) }, false},
		{"event time zone only", func(e *transform.Event) { e.EventTime = e.EventTime.In(time.FixedZone("y", -7200)) }, false},
		{"event type", func(e *transform.Event) { e.EventType = "DeleteEngine" }, true},
		{"user set", func(e *transform.Event) { e.UserName = "new@example.com" }, true},
		{"user cleared", func(e *transform.Event) { e.UserName = "" }, true},
		{"folder id", func(e *transform.Event) { e.FolderID = "other" }, true},
		{"folder name", func(e *transform.Event) { e.FolderName = "other" }, true},
		{"service name", func(e *transform.Event) { e.ServiceName = "other" }, true},
		{"service version", func(e *transform.Event) { e.ServiceVersion = "9" }, true},
		{"description", func(e *transform.Event) { e.Description = "edited" }, true},
		{"ip address", func(e *transform.Event) { e.IPAddress = "192.168.0.1" }, true},
		{"attribute value", func(e *transform.Event) { e.Attributes = json.RawMessage(`{"Region": "US", "Seq": 1}`) }, true},
		{"attributes key order and spacing", func(e *transform.Event) { e.Attributes = json.RawMessage(`{"Seq":1,"Region":"EU"}`) }, false},
		{"attributes dropped", func(e *transform.Event) { e.Attributes = nil }, true},
	}
	pool := migrated(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := makeEvents(3)
			for j := range evs {
				evs[j].EventID = evs[j].EventID + "-" + string(rune('a'+i))
			}
			evs[1].Attributes = json.RawMessage(`{"Region": "EU", "Seq": 1}`)
			evs[1].UserName = "someone@example.com"
			run1, _ := loadRun(t, pool, evs)
			first := stored(t, pool)[evs[1].EventID]

			tt.change(&evs[1])
			evs = append(evs, transform.Event{Tenant: "acme", EventID: "new-" + tt.name, EventTime: baseTime, EventType: "SparkLogin"})
			run2, c := loadRun(t, pool, evs)
			want := Counts{Read: 4, Inserted: 1, Unchanged: 2}
			if tt.updated {
				want.Updated = 1
			} else {
				want.Unchanged++
			}
			if c != want {
				t.Errorf("counts = %+v, want %+v", c, want)
			}
			got := stored(t, pool)[evs[1].EventID]
			if got.FirstRun != run1 {
				t.Errorf("first_run_id = %d, want %d", got.FirstRun, run1)
			}
			wantLast, wantXminSame := run1, true
			if tt.updated {
				wantLast, wantXminSame = run2, false
			}
			if got.LastRun != wantLast {
				t.Errorf("last_run_id = %d, want %d", got.LastRun, wantLast)
			}
			if (got.Xmin == first.Xmin) != wantXminSame {
				t.Errorf("xmin %d -> %d, want changed = %v", first.Xmin, got.Xmin, !wantXminSame)
			}
			if tt.updated && !got.LoadedAt.After(first.LoadedAt) {
				t.Errorf("loaded_at %s not after %s", got.LoadedAt, first.LoadedAt)
			}
		})
	}
}

func TestUpsertLastDuplicateWins(t *testing.T) {
	pool := migrated(t)
	evs := makeEvents(3)
	evs[2].EventID = evs[0].EventID
	evs[0].Description = "first"
	evs[2].Description = "last"
	_, c := loadRun(t, pool, evs)
	if want := (Counts{Read: 3, Inserted: 2}); c != want {
		t.Errorf("counts = %+v, want %+v", c, want)
	}
	if got := stored(t, pool)[evs[0].EventID].Description; got != "last" {
		t.Errorf("description = %q, want the last occurrence's", got)
	}
	// Reloading the same file: the duplicate is not a change either.
	_, c = loadRun(t, pool, evs)
	if want := (Counts{Read: 3, Unchanged: 2}); c != want {
		t.Errorf("reload counts = %+v, want %+v", c, want)
	}
}

func TestUpsertIteratorErrorStoresNothing(t *testing.T) {
	errBroken := errors.New("broken workbook")
	tests := []struct {
		name   string
		events iter.Seq2[*transform.Event, error]
		want   error
	}{
		{"error", func(yield func(*transform.Event, error) bool) {
			evs := makeEvents(2)
			_ = yield(&evs[0], nil) && yield(&evs[1], nil) && yield(nil, errBroken)
		}, errBroken},
		{"nil event", func(yield func(*transform.Event, error) bool) {
			evs := makeEvents(1)
			_ = yield(&evs[0], nil) && yield(nil, nil)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			pool := migrated(t)
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id, err := BeginRun(ctx, tx, Run{Kind: "import", Tenant: "acme", Source: "x.xlsx"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = Upsert(ctx, tx, id, tt.events)
			if err == nil {
				t.Fatal("Upsert succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Upsert error = %v, want it to wrap %v", err, tt.want)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if n := count(t, pool, "SELECT count(*) FROM spark_events"); n != 0 {
				t.Errorf("%d events stored", n)
			}
			if n := count(t, pool, "SELECT count(*) FROM etl_runs"); n != 0 {
				t.Errorf("%d runs stored", n)
			}
		})
	}
}

func TestUpsertTwiceInOneTransaction(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "x.xlsx"})
	evs := makeEvents(4)
	for i, want := range []Counts{{Read: 2, Inserted: 2}, {Read: 4, Inserted: 2, Unchanged: 2}, {}} {
		batch := evs[:2*(i+1)%6]
		c, err := Upsert(ctx, tx, id, seq(batch))
		if err != nil {
			t.Fatalf("Upsert %d: %v", i+1, err)
		}
		if c != want {
			t.Errorf("Upsert %d of %d events = %+v, want %+v", i+1, len(batch), c, want)
		}
	}
}
