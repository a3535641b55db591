package pipeline

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sparkevents/internal/ziptest"
	"sparkevents/transform"
)

func TestImportTwiceChangesNothing(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, eventRows(0, 500, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))

	var results []FileResult
	collect := func(r FileResult) { results = append(results, r) }
	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, collect); err != nil {
		t.Fatal(err)
	}
	if got := results[0].Counts; got.Read != 500 || got.Inserted != 500 || got.Updated != 0 || got.Unchanged != 0 || got.Rejected != 0 {
		t.Fatalf("first import counts = %+v, want 500 read and inserted", got)
	}
	before := rowVersions(t, p)
	updBefore := count(t, p, "SELECT pg_stat_get_xact_tuples_updated('spark_events'::regclass) + pg_stat_get_tuples_updated('spark_events'::regclass)")

	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, collect); err != nil {
		t.Fatal(err)
	}
	if got := results[1].Counts; got.Read != 500 || got.Inserted != 0 || got.Updated != 0 || got.Unchanged != 500 {
		t.Fatalf("second import counts = %+v, want 0 inserted, 0 updated, 500 unchanged", got)
	}
	if after := rowVersions(t, p); !sameVersions(before, after) {
		t.Fatal("second import rewrote rows: xmin changed")
	}
	if upd := count(t, p, "SELECT pg_stat_get_xact_tuples_updated('spark_events'::regclass) + pg_stat_get_tuples_updated('spark_events'::regclass)"); upd != updBefore {
		t.Fatalf("n_tup_upd went from %d to %d", updBefore, upd)
	}
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'succeeded' AND kind = 'import'"); n != 2 {
		t.Fatalf("succeeded import runs = %d, want 2", n)
	}
	// Unmapped columns are kept as attributes.
	if n := count(t, p, `SELECT count(*) FROM spark_events WHERE attributes->>'Region' = 'eu'`); n != 500 {
		t.Fatalf("rows with attributes.Region = %d, want 500", n)
	}
}

func TestImportKeepsBadRowsAsRejects(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "bad.xlsx")
	rows := eventRows(0, 10, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	rows[3][1] = "not a time"
	rows[7][2] = ""
	writeWorkbook(t, path, rows)

	var res FileResult
	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, func(r FileResult) { res = r }); err != nil {
		t.Fatal(err)
	}
	if res.Counts.Inserted != 8 || res.Counts.Rejected != 2 {
		t.Fatalf("counts = %+v, want 8 inserted, 2 rejected", res.Counts)
	}
	r, err := p.db.Query(ctx, "SELECT row_number, reason, raw->>'Event ID' FROM etl_rejects WHERE run_id = $1 ORDER BY row_number", res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	type rej struct {
		row    int
		reason string
		id     string
	}
	var got []rej
	for r.Next() {
		var x rej
		if err := r.Scan(&x.row, &x.reason, &x.id); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if len(got) != 2 {
		t.Fatalf("rejects = %+v, want 2", got)
	}
	// Data starts on sheet row 4, under the title, a blank row and the header.
	want := []struct {
		row          int
		id, mentions string
	}{{7, "ev-0000003", "not a time"}, {11, "ev-0000007", "event_type"}}
	for i, w := range want {
		if got[i].row != w.row || got[i].id != w.id || !strings.Contains(got[i].reason, w.mentions) {
			t.Errorf("reject %d = %+v, want row %d id %s reason mentioning %q", i, got[i], w.row, w.id, w.mentions)
		}
	}
	if !strings.Contains(got[0].reason, "event_time") {
		t.Errorf("reason %q does not name the column", got[0].reason)
	}
}

func TestImportMaxRejectsFailsTheFileWhole(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "bad.xlsx")
	rows := eventRows(0, 20, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	for i := 0; i < 5; i++ {
		rows[i][1] = "garbage"
	}
	writeWorkbook(t, path, rows)
	for _, limit := range []string{"4", "10%"} {
		err := p.Import(ctx, ImportOptions{Tenant: "acme", Parse: ParseOptions{MaxRejects: limit}}, []string{path}, nil)
		if !errors.Is(err, ErrInput) {
			t.Fatalf("--max-rejects %s: err = %v, want ErrInput", limit, err)
		}
		if n := count(t, p, "SELECT count(*) FROM spark_events"); n != 0 {
			t.Fatalf("--max-rejects %s: %d events stored from a failed file, want 0", limit, n)
		}
	}
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'failed' AND error <> ''"); n != 2 {
		t.Fatalf("failed runs recorded = %d, want 2", n)
	}
	if n := count(t, p, "SELECT count(*) FROM etl_rejects"); n != 0 {
		t.Fatalf("rejects of failed files kept = %d, want 0 (they roll back with the file)", n)
	}
	// Within the limit the file loads.
	if err := p.Import(ctx, ImportOptions{Tenant: "acme", Parse: ParseOptions{MaxRejects: "25%"}}, []string{path}, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, p, "SELECT count(*) FROM spark_events"); n != 15 {
		t.Fatalf("events = %d, want 15", n)
	}
}

func TestImportUnreadableFileFailsAloneWithInputError(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	good := tempPath(t, "good.xlsx")
	writeWorkbook(t, good, eventRows(0, 5, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	bad := tempPath(t, "bad.xlsx")
	if err := writeFile(bad, "this is not a workbook"); err != nil {
		t.Fatal(err)
	}
	var results []FileResult
	err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{bad, good}, func(r FileResult) { results = append(results, r) })
	if !errors.Is(err, ErrInput) {
		t.Fatalf("err = %v, want ErrInput", err)
	}
	if results[0].Err == nil || results[1].Err != nil || results[1].Counts.Inserted != 5 {
		t.Fatalf("results = %+v, want the bad file failed and the good one loaded", results)
	}
	// The file that could not even be unpacked is a failed run like any.
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'failed' AND kind = 'import' AND source LIKE '%bad.xlsx' AND error LIKE '%neither an XLSX%'"); n != 1 || results[0].RunID == 0 {
		t.Errorf("failed runs of bad.xlsx = %d (run %d), want 1", n, results[0].RunID)
	}
}

func TestImportMalformedSheetStoresNothing(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "broken.xlsx")
	writeWorkbook(t, path, eventRows(0, 3000, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	// An unescaped control character in row 2000 breaks the sheet's XML
	// from there on, as a faulty writer would.
	breakSheet(t, path, `<row r="2000"`, `<row r="2000"><c r="A2000" t="inlineStr"><is><t>ev`+"\x01"+`</t></is></c></row><row r="2001"`)
	err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, nil)
	if !errors.Is(err, ErrInput) || !errors.Is(err, transform.ErrMalformed) {
		t.Fatalf("err = %v, want ErrInput wrapping transform.ErrMalformed", err)
	}
	if n := count(t, p, "SELECT count(*) FROM spark_events"); n != 0 {
		t.Errorf("%d events stored from a broken file, want 0", n)
	}
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'failed' AND error LIKE '%malformed%'"); n != 1 {
		t.Errorf("failed runs naming the malformed XML = %d, want 1", n)
	}
}

// breakSheet rewrites the workbook at path, replacing the first old in its
// first worksheet with new.
func breakSheet(t *testing.T, path, old, new string) {
	t.Helper()
	replaced := false
	ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
		if name == "xl/worksheets/sheet1.xml" && bytes.Contains(b, []byte(old)) {
			b, replaced = bytes.Replace(b, []byte(old), []byte(new), 1), true
		}
		return b
	})
	if !replaced {
		t.Fatalf("%s not found in the sheet", old)
	}
}

func TestImportDryRunWritesNothing(t *testing.T) {
	p, _ := newTestPipeline(t)
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, eventRows(0, 50, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	var res FileResult
	if err := p.Import(context.Background(), ImportOptions{Tenant: "acme", DryRun: true}, []string{path}, func(r FileResult) { res = r }); err != nil {
		t.Fatal(err)
	}
	if res.Counts.Read != 50 {
		t.Fatalf("dry run read %d, want 50", res.Counts.Read)
	}
	if n := count(t, p, "SELECT (SELECT count(*) FROM spark_events) + (SELECT count(*) FROM etl_runs)"); n != 0 {
		t.Fatalf("dry run wrote %d rows", n)
	}
}

// A database failure in the middle of a file is reported as the database's,
// with its message, not as the parser's cancel.
func TestImportDatabaseErrorKeepsItsCause(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	if _, err := p.db.Exec(ctx, `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'disk quota exceeded (simulated)'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON spark_events FOR EACH ROW EXECUTE FUNCTION refuse();`); err != nil {
		t.Fatal(err)
	}
	path := tempPath(t, "events.xlsx")
	writeWorkbook(t, path, eventRows(0, 40000, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, nil)
	if !errors.Is(err, ErrDatabase) || errors.Is(err, ErrInput) || errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v: want a database error only", err)
	}
	if !strings.Contains(err.Error(), "disk quota exceeded (simulated)") {
		t.Fatalf("err = %v: the database's message is lost", err)
	}
	if n := count(t, p, "SELECT count(*) FROM etl_runs WHERE status = 'failed' AND error LIKE '%disk quota exceeded (simulated)%'"); n != 1 {
		t.Fatalf("failed runs carrying the cause = %d, want 1", n)
	}
}

func TestImportDayFirst(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "eu.xlsx")
	writeWorkbook(t, path, [][]any{{"e1", "03/04/2026 10:00", "SparkLogin", "ana@example.com", "", "", ""}})
	for _, tt := range []struct {
		tenant   string
		dayFirst bool
		want     time.Time
	}{
		{"us", false, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)},
		{"eu", true, time.Date(2026, 4, 3, 10, 0, 0, 0, time.UTC)},
	} {
		if err := p.Import(ctx, ImportOptions{Tenant: tt.tenant, Parse: ParseOptions{DayFirst: tt.dayFirst}}, []string{path}, nil); err != nil {
			t.Fatal(err)
		}
		var got time.Time
		if err := p.db.QueryRow(ctx, "SELECT event_time FROM spark_events WHERE tenant = $1", tt.tenant).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tt.want) {
			t.Errorf("day first %v: event_time %s, want %s", tt.dayFirst, got.UTC(), tt.want)
		}
	}
}

// Two imports of one tenant's new events, started together with the rows in
// opposite orders, both succeed: the second waits for the first to commit
// and finds every event stored. Without a lock per tenant, events with IDs
// would be inserted toward each other until PostgreSQL aborted one as a
// deadlock, and hashed events, copied straight into the table, would fail
// on a duplicate key.
func TestConcurrentImportsOfOneTenantTakeTurns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hashed bool
	}{{"workbook IDs", false}, {"hashed IDs", true}} {
		t.Run(tc.name, func(t *testing.T) {
			p1, url := newTestPipeline(t)
			ctx := context.Background()
			p2, err := Open(ctx, Config{DatabaseURL: url, Schema: "sparkevents", Logger: testLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer p2.Close()
			const n = 12000
			rows := eventRows(0, n, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
			if tc.hashed {
				for _, r := range rows {
					r[0] = ""
				}
			}
			forward, backward := tempPath(t, "forward.xlsx"), tempPath(t, "backward.xlsx")
			writeWorkbook(t, forward, rows)
			slices.Reverse(rows)
			writeWorkbook(t, backward, rows)

			var (
				wg      sync.WaitGroup
				errs    [2]error
				results [2]FileResult
			)
			for i, run := range []struct {
				p    *Pipeline
				path string
			}{{p1, forward}, {p2, backward}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = run.p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{run.path}, func(r FileResult) { results[i] = r })
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("import %d: %v", i+1, err)
				}
			}
			a, b := results[0].Counts, results[1].Counts
			if a.Inserted < b.Inserted {
				a, b = b, a
			}
			if a.Inserted != n || a.Unchanged != 0 || b.Inserted != 0 || b.Unchanged != n {
				t.Errorf("counts %+v and %+v: want one import to insert all %d events and the other to find them all unchanged", results[0].Counts, results[1].Counts, n)
			}
			if got := count(t, p1, "SELECT count(*) FROM spark_events"); got != n {
				t.Errorf("%d events stored, want %d", got, n)
			}
			if tc.hashed {
				if got := count(t, p1, "SELECT count(*) FROM spark_events WHERE event_id LIKE 'h:%'"); got != n {
					t.Errorf("%d events stored with hashed IDs, want %d", got, n)
				}
			}
		})
	}
}
