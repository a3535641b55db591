package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// The same events written three ways must load as the same rows: ISO text
// times under plain headers; Excel date numbers in the 1904 date system; and
// messy headers in another order below a title and blank rows.
func TestWorkbookTwinsLoadTheSameRows(t *testing.T) {
	p, _ := newTestPipeline(t)
	ctx := context.Background()
	type ev struct {
		id, typ, user, service string
		at                     time.Time
	}
	base := time.Date(2026, 2, 27, 23, 59, 58, 0, time.UTC)
	evs := []ev{
		{"e1", "SparkLogin", "Ana@Example.com", "", base.Add(1234 * time.Millisecond)},
		{"e2", "PublishEngine", "bo@example.com", "Pricing", base.Add(36*time.Hour + 999*time.Millisecond)},
		{"e3", "NewTypeNobodyKnows", "chen", "Quotes", base.Add(-400 * 24 * time.Hour)},
	}
	epoch1904 := time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

	write := func(name string, date1904 bool, lead [][]any, header []any, row func(ev) []any) string {
		path := tempPath(t, name)
		f := excelize.NewFile()
		defer f.Close()
		if date1904 {
			yes := true
			if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); err != nil {
				t.Fatal(err)
			}
		}
		rows := append(lead, header)
		for _, e := range evs {
			rows = append(rows, row(e))
		}
		for i, r := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := f.SetSheetRow("Sheet1", cell, &r); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	plain := write("plain.xlsx", false, nil,
		[]any{"Event ID", "Timestamp", "Event Type", "User Name", "Service"},
		func(e ev) []any { return []any{e.id, e.at.Format(time.RFC3339Nano), e.typ, e.user, e.service} })
	numeric := write("1904.xlsx", true, nil,
		[]any{"Event ID", "Timestamp", "Event Type", "User Name", "Service"},
		func(e ev) []any {
			return []any{e.id, float64(e.at.Sub(epoch1904)) / float64(24*time.Hour), e.typ, e.user, e.service}
		})
	messy := write("messy.xlsx", false, [][]any{{"Coherent Spark events export"}, {}, {}},
		[]any{"  SERVICE name", "user", "event_type ", "created at", "ID"},
		func(e ev) []any {
			return []any{" " + e.service + " ", e.user, e.typ, e.at.Format("2006-01-02 15:04:05.000"), e.id}
		})

	for tenant, path := range map[string]string{"plain": plain, "numeric": numeric, "messy": messy} {
		if err := p.Import(ctx, ImportOptions{Tenant: tenant}, []string{path}, nil); err != nil {
			t.Fatalf("%s: %v", tenant, err)
		}
	}
	// Each twin's rows, compared field by field with the plain one.
	differing := count(t, p, `
		SELECT count(*) FROM spark_events a
		FULL JOIN (SELECT * FROM spark_events WHERE tenant = 'plain') b USING (event_id)
		WHERE a.tenant IN ('numeric', 'messy') AND
		      (a.event_time, a.event_type, a.user_name, a.service_name)
		      IS DISTINCT FROM (b.event_time, b.event_type, b.user_name, b.service_name)`)
	if differing != 0 {
		t.Fatalf("%d twin rows differ from the plain workbook's", differing)
	}
	if n := count(t, p, "SELECT count(*) FROM spark_events"); n != 9 {
		t.Fatalf("stored %d events, want 3 per twin", n)
	}
	// The plain rows hold what was written, to the millisecond, e-mails lower-cased.
	for _, e := range evs {
		var at time.Time
		var user *string
		if err := p.db.QueryRow(ctx, "SELECT event_time, user_name FROM spark_events WHERE tenant = 'plain' AND event_id = $1", e.id).Scan(&at, &user); err != nil {
			t.Fatal(err)
		}
		if !at.Equal(e.at) {
			t.Errorf("%s: event_time %s, want %s", e.id, at.UTC().Format(time.RFC3339Nano), e.at.Format(time.RFC3339Nano))
		}
		if e.id == "e1" && (user == nil || *user != "ana@example.com") {
			t.Errorf("e1: user_name %v, want the e-mail lower-cased", user)
		}
	}
}
