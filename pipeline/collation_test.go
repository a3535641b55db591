package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"sparkevents/internal/pgtest"
)

// TestImportsOnICUDatabase runs the loads whose SQL compares keys (a first
// import, another tenant's import of the same period, which looks its keys
// up, a re-import, which merges, and one with changed rows) on a database
// whose collation is not C, where event_id is byte-ordered and every other
// text column takes the database's collation, and checks what each one
// counts and stores. The other tests run on the test server's collation,
// C in CI, where the two do not differ.
func TestImportsOnICUDatabase(t *testing.T) {
	p := newTestPipelineAt(t, pgtest.ICUURL(t, "en-US"))
	ctx := context.Background()
	rows := eventRows(0, 3000, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	for i := range rows {
		switch i % 3 {
		case 1:
			rows[i][0] = "" // keyed by its hash
		case 2:
			rows[i][0] = fmt.Sprintf("EV-%07d", i) // sorts apart from ev- in byte order only
		}
	}
	first := tempPath(t, "events.xlsx")
	writeWorkbook(t, first, rows)
	for i := 0; i < len(rows); i += 10 {
		// The region, an attribute, of 300 events: the 200 with an ID are
		// updated, the 100 keyed by their hash are new events.
		rows[i][6] = "us"
	}
	changed := tempPath(t, "changed.xlsx")
	writeWorkbook(t, changed, rows)

	tests := []struct {
		name, tenant, path                  string
		inserted, updated, unchanged, total int64
	}{
		{"first import", "acme", first, 3000, 0, 0, 3000},
		{"another tenant, same period", "beta", first, 3000, 0, 0, 6000},
		{"re-import", "acme", first, 0, 0, 3000, 6000},
		{"changed rows", "acme", changed, 100, 200, 2700, 6100},
	}
	for _, tt := range tests {
		var res []FileResult
		if err := p.Import(ctx, ImportOptions{Tenant: tt.tenant}, []string{tt.path}, func(r FileResult) { res = append(res, r) }); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		c := res[0].Counts
		if c.Inserted != tt.inserted || c.Updated != tt.updated || c.Unchanged != tt.unchanged {
			t.Errorf("%s: %+v, want %d inserted, %d updated, %d unchanged", tt.name, c, tt.inserted, tt.updated, tt.unchanged)
		}
		if n := count(t, p, "SELECT count(*) FROM spark_events"); n != tt.total {
			t.Errorf("%s: %d events stored, want %d", tt.name, n, tt.total)
		}
	}
}
