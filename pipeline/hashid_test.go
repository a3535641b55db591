package pipeline

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"sparkevents/load"
)

// TestHashIDMigration checks that migration 00003, which rewrites hash IDs
// of the earlier layout in SQL, builds exactly the IDs transform now gives
// the same rows: otherwise the next download of those events after an
// upgrade would store each of them a second time.
func TestHashIDMigration(t *testing.T) {
	const timeOrdered = 3 // migrations/00003_time_ordered_hash_ids.sql
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	rows := eventRows(0, 40, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	for i := range rows {
		if i%2 == 1 {
			rows[i][0] = "" // no Spark ID: the row is keyed by its hash
		}
	}
	// Times the SQL must render as Go does: nanoseconds cut, another zone,
	// an Excel serial number with milliseconds, a time before 2000.
	rows[1][1] = "2026-03-01T05:00:01.123456789+02:00"
	rows[3][1] = 46082.5 + 1.25/86400 // 2026-03-01T12:00:01.250Z
	rows[5][1] = "1999-12-31T23:59:59.999999Z"
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, rows)
	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, func(FileResult) {}); err != nil {
		t.Fatal(err)
	}
	want := storedIDs(t, p, "acme")
	newID := regexp.MustCompile(`^h:\d{8}T\d{6}\.\d{6}Z:[0-9a-f]{32}$`)
	hashed := 0
	for id := range want {
		if newID.MatchString(id) {
			hashed++
		}
	}
	if len(want) != 40 || hashed != 20 {
		t.Fatalf("stored %d events, %d with a time-ordered hash ID; want 40 and 20: %v", len(want), hashed, want)
	}
	for _, id := range []string{"h:20260301T030001.123456Z:", "h:20260301T120001.250000Z:", "h:19991231T235959.999999Z:"} {
		if !hasPrefix(want, id) {
			t.Errorf("no stored ID starts with %s: %v", id, want)
		}
	}

	// Roll back to the layout before it, as a database of an earlier
	// release holds it.
	for {
		v, err := p.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v < timeOrdered {
			break
		}
		if err := p.MigrateDown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	oldID := regexp.MustCompile(`^h:[0-9a-f]{32}$`)
	old := storedIDs(t, p, "acme")
	for id, at := range want {
		if newID.MatchString(id) {
			id = "h:" + id[len(id)-32:]
			if !oldID.MatchString(id) {
				t.Fatalf("bad test: %s", id)
			}
		}
		if got, ok := old[id]; !ok || !got.Equal(at) {
			t.Errorf("after migrating down, %s at %s is missing (%v)", id, at, got)
		}
	}

	if err := p.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got := storedIDs(t, p, "acme")
	for id := range want {
		if _, ok := got[id]; !ok {
			t.Errorf("after migrating up, %s is missing", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("after migrating up, %d events, want %d", len(got), len(want))
	}

	// A writer of an earlier release is refused, not let store the same
	// events again under their old IDs.
	_, err := p.db.Exec(ctx, `INSERT INTO spark_events (tenant, event_id, event_time, event_type, first_run_id, last_run_id)
		VALUES ('acme', 'h:0123456789abcdef0123456789abcdef', now(), 'SparkLogin', 1, 1)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != "spark_events_hash_id_has_time" {
		t.Errorf("insert of an old-layout hash ID after the migration: %v, want a check violation", err)
	}

	var res []FileResult
	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, func(r FileResult) { res = append(res, r) }); err != nil {
		t.Fatal(err)
	}
	if c := res[0].Counts; c.Inserted != 0 || c.Updated != 0 || c.Unchanged != 40 {
		t.Errorf("import after the migration: %+v, want all 40 unchanged", c)
	}
}

func hasPrefix(ids map[string]time.Time, prefix string) bool {
	for id := range ids {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// Identical rows without an Event ID are distinct events, stored once
// each; importing the file again finds every one of them unchanged.
func TestImportKeepsIdenticalRows(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	rows := eventRows(0, 5, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	// Two more downloads, same user, same second, in time order as Spark
	// exports them.
	rows = slices.Insert(rows, 3, rows[2], rows[2])
	for i := range rows {
		rows[i] = append([]any{""}, rows[i][1:]...) // no Spark ID
	}
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, rows)
	for i, want := range []load.Counts{{Read: 7, Inserted: 7}, {Read: 7, Unchanged: 7}} {
		var got load.Counts
		if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, func(r FileResult) { got = r.Counts }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("import %d: %+v, want %+v", i+1, got, want)
		}
	}
	if n := len(storedIDs(t, p, "acme")); n != 7 {
		t.Errorf("%d events stored, want 7", n)
	}
}
