package transform

import (
	"reflect"
	"testing"
	"time"
)

// Stats.Layouts tells doctor and the logs which header became which field,
// and which headers were kept as attributes.
func TestReadReportsLayouts(t *testing.T) {
	path := writeBook(t, false, testSheet{name: "Events", rows: [][]any{
		{"Spark events"},
		nil,
		{"Created On (UTC)", "Action", "User Email", "Region"},
		{"2026-03-02 15:08:00", "SparkLogin", "a@example.com", "eu"},
	}})
	res := mustRead(t, path, Options{Tenant: "t", Location: time.FixedZone("+08", 8*3600)})
	want := []Layout{{
		Sheet:     "Events",
		HeaderRow: 3,
		Fields:    map[string]string{"event_time": "Created On (UTC)", "event_type": "Action", "user_name": "User Email"},
		Extra:     []string{"Region"},
		UTC:       true,
	}}
	if !reflect.DeepEqual(res.stats.Layouts, want) {
		t.Fatalf("layouts = %+v\nwant %+v", res.stats.Layouts, want)
	}
}
