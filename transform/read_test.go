package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"sparkevents/internal/ziptest"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// attrs decodes an event's Attributes.
func attrs(t *testing.T, e Event) map[string]string {
	t.Helper()
	if e.Attributes == nil {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(e.Attributes, &m); err != nil {
		t.Fatalf("attributes %s: %v", e.Attributes, err)
	}
	return m
}

func TestReadHeaderDetection(t *testing.T) {
	// Each data row carries its own row number in an extra "Row" column,
	// which must come back in Attributes.
	header := []any{"Timestamp", "Event Type", "Row"}
	tests := []struct {
		name     string
		rows     [][]any
		wantRows []string
	}{
		{
			name:     "header on row 1",
			rows:     [][]any{header, {"2026-01-02 03:04:05", "SparkLogin", "2"}},
			wantRows: []string{"2"},
		},
		{
			name: "title and blank rows above",
			rows: [][]any{
				{"Spark events export"},
				nil,
				{"Generated 2026-03-03", "by admin"},
				{"  ", "", ""},
				header,
				{"2026-01-02 03:04:05", "SparkLogin", "6"},
				nil, // blank between data rows: skipped, not counted
				{"2026-01-02 03:04:06", "PublishEngine", "8"},
			},
			wantRows: []string{"6", "8"},
		},
		{
			name: "a title row with only a time-like header is not the header",
			rows: [][]any{
				{"Date", "of export: 2026-03-03"},
				header,
				{"2026-01-02 03:04:05", "SparkLogin", "3"},
			},
			wantRows: []string{"3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRead(t, writeBook(t, false, testSheet{"Events", tt.rows}), Options{Tenant: "acme"})
			var rows []string
			for _, e := range res.events {
				rows = append(rows, attrs(t, e)["Row"])
			}
			if !reflect.DeepEqual(rows, tt.wantRows) {
				t.Errorf("event rows %v, want %v", rows, tt.wantRows)
			}
			if res.stats.Rows != len(tt.wantRows) || res.stats.Sheets != 1 {
				t.Errorf("stats %+v, want %d rows in 1 sheet", res.stats, len(tt.wantRows))
			}
		})
	}
}

func TestReadHeaderTooFarDown(t *testing.T) {
	var rows [][]any
	for range headerScanRows {
		rows = append(rows, []any{"note"})
	}
	rows = append(rows, []any{"Timestamp", "Event Type"}, []any{"2026-01-02", "SparkLogin"})
	res := readBook(t, writeBook(t, false, testSheet{"Events", rows}), Options{})
	if !errors.Is(res.err, ErrNoHeader) {
		t.Fatalf("Read error %v, want ErrNoHeader", res.err)
	}
}

func TestReadMessyHeadersMatchPlainTwin(t *testing.T) {
	data := [][]any{
		{"E1", "2026-01-02T03:04:05Z", "SparkLogin", "Ann@Example.com", "F1", "Folder", "Svc", "1.0", "hello", "10.0.0.1", "x"},
		{"", "2026-01-02T03:04:06Z", "PublishEngine", "bob", "F1", "Folder", "Svc", "1.1", "bye", "10.0.0.2", "y"},
	}
	plain := []any{"Event ID", "Timestamp", "Event Type", "User Name", "Folder ID", "Folder Name",
		"Service Name", "Service Version", "Description", "IP Address", "Extra"}
	messy := []any{" event_id ", "created_at", "  EVENT   type ", "USERNAME", "folder-id", "FOLDER",
		"service", "VERSION", "details", "ip", "Extra"}
	read := func(header []any) []Event {
		return mustRead(t, writeBook(t, false, testSheet{"Events", append([][]any{header}, data...)}), Options{Tenant: "acme"}).events
	}
	p, m := read(plain), read(messy)
	if len(p) != 2 {
		t.Fatalf("plain twin gave %d events, want 2", len(p))
	}
	if !reflect.DeepEqual(p, m) {
		t.Errorf("messy headers gave\n%+v\nplain headers gave\n%+v", m, p)
	}
	if p[0].FolderName != "Folder" || p[0].ServiceVersion != "1.0" || p[0].IPAddress != "10.0.0.1" || p[0].Description != "hello" {
		t.Errorf("fields not mapped: %+v", p[0])
	}
}

func TestReadDate1904MatchesDate1900(t *testing.T) {
	// The same instants as serials of both systems: 1904 serials are 1462
	// days smaller. 44927 is 2023-01-01 in the 1900 system.
	frac := (12*3600 + 34*60 + 56.789) / 86400
	want := []time.Time{
		utc("2023-01-01T00:00:00Z"),
		utc("2023-01-01T12:34:56.789Z"),
		utc("2024-02-29T23:59:59.999Z"),
	}
	s1900 := []float64{44927, 44927 + frac, 45351 + (86399.999 / 86400)}
	book := func(date1904 bool, serials []float64) string {
		rows := [][]any{{"Timestamp", "Event Type"}}
		for _, s := range serials {
			rows = append(rows, []any{s, "SparkLogin"})
		}
		return writeBook(t, date1904, testSheet{"Events", rows})
	}
	var s1904 []float64
	for _, s := range s1900 {
		s1904 = append(s1904, s-1462)
	}
	for _, tc := range []struct {
		name     string
		date1904 bool
		serials  []float64
	}{{"1900", false, s1900}, {"1904", true, s1904}} {
		t.Run(tc.name, func(t *testing.T) {
			path := book(tc.date1904, tc.serials)
			w, err := OpenFile(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if w.Date1904() != tc.date1904 {
				t.Errorf("Date1904() = %v, want %v", w.Date1904(), tc.date1904)
			}
			w.Close()
			res := mustRead(t, path, Options{})
			var got []time.Time
			for _, e := range res.events {
				got = append(got, e.EventTime)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("times %v, want %v", got, want)
			}
		})
	}
}

func TestReadTextAndNumericTimes(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	tests := []struct {
		name string
		cell any
		loc  *time.Location
		want time.Time
	}{
		{"iso zulu millis", "2026-03-02T15:08:00.123Z", nil, utc("2026-03-02T15:08:00.123Z")},
		{"iso offset", "2026-03-02T15:08:00+02:00", nil, utc("2026-03-02T13:08:00Z")},
		{"iso no zone", "2026-03-02T15:08:00", nil, utc("2026-03-02T15:08:00Z")},
		{"iso space micros", "2026-03-02 15:08:00.123456", nil, utc("2026-03-02T15:08:00.123456Z")},
		{"no zone in New York", "2026-03-02 15:08:00", ny, utc("2026-03-02T20:08:00Z")},
		{"zone wins over Location", "2026-03-02T15:08:00Z", ny, utc("2026-03-02T15:08:00Z")},
		{"UTC suffix wins over Location", "2026-03-02 15:08:00 UTC", ny, utc("2026-03-02T15:08:00Z")},
		{"US slash", "03/04/2026 15:08:09", nil, utc("2026-03-04T15:08:09Z")},
		{"US slash short", "3/4/2026", nil, utc("2026-03-04T00:00:00Z")},
		{"day month name", "2 Jan 2026 15:04", nil, utc("2026-01-02T15:04:00Z")},
		{"month name 12h", "Jan 2, 2026 3:04 PM", nil, utc("2026-01-02T15:04:00Z")},
		{"excel serial", 46083.630555555555, nil, utc("2026-03-02T15:08:00Z")},
		{"excel serial millis", 46083.6305555555555 + 0.123/86400, nil, utc("2026-03-02T15:08:00.123Z")},
		{"excel serial in New York (summer)", 46204.5, ny, utc("2026-07-01T16:00:00Z")},
		{"serial as text", "46083.5", nil, utc("2026-03-02T12:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeBook(t, false, testSheet{"Events", [][]any{{"Timestamp", "Type"}, {tt.cell, "SparkLogin"}}})
			res := mustRead(t, path, Options{Location: tt.loc})
			if len(res.events) != 1 {
				t.Fatalf("got %d events, rejects %+v", len(res.events), res.rejects)
			}
			got := res.events[0].EventTime
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("time %v, want %v in UTC", got, tt.want)
			}
		})
	}
}

// A time column headed "... (UTC)" says its times are UTC: times without a
// zone in it are read as UTC whatever --source-timezone says, and a zone
// written on a time still wins.
func TestReadUTCHeader(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	tests := []struct {
		header string
		cell   any
		want   time.Time
	}{
		{"Timestamp (UTC)", "2026-07-01 12:00:00", utc("2026-07-01T12:00:00Z")},
		{"Created On (UTC)", 46204.5, utc("2026-07-01T12:00:00Z")},
		{"created_on(utc)", "2026-07-01T12:00", utc("2026-07-01T12:00:00Z")},
		{"Date Time ( utc )", "07/01/2026 12:00", utc("2026-07-01T12:00:00Z")},
		{"Timestamp (UTC)", "2026-07-01T12:00:00+02:00", utc("2026-07-01T10:00:00Z")},
		// Without the suffix, or with another zone named, Location holds.
		{"Created On", "2026-07-01 12:00:00", utc("2026-07-01T16:00:00Z")},
		{"Timestamp", 46204.5, utc("2026-07-01T16:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			path := writeBook(t, false, testSheet{"Events", [][]any{{tt.header, "Event Name"}, {tt.cell, "SparkLogin"}}})
			res := mustRead(t, path, Options{Location: ny})
			if len(res.events) != 1 {
				t.Fatalf("events %+v, rejects %+v", res.events, res.rejects)
			}
			if got := res.events[0].EventTime; !got.Equal(tt.want) {
				t.Errorf("time %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("a --column header matches with (UTC) after it", func(t *testing.T) {
		path := writeBook(t, false, testSheet{"Events", [][]any{{"When (UTC)", "When", "Event Name"}, {"2026-07-01 12:00:00", "x", "SparkLogin"}}})
		for _, col := range []string{"When (UTC)", "when(utc)"} {
			res := mustRead(t, path, Options{Location: ny, Columns: map[string]string{"event_time": col}})
			if len(res.events) != 1 || !res.events[0].EventTime.Equal(utc("2026-07-01T12:00:00Z")) {
				t.Errorf("--column event_time=%q: events %+v, rejects %+v; want one at 12:00 UTC", col, res.events, res.rejects)
			}
		}
		// Named without the suffix, the header still matches, and says UTC.
		path = writeBook(t, false, testSheet{"Events", [][]any{{"When (UTC)", "Event Name"}, {"2026-07-01 12:00:00", "SparkLogin"}}})
		res := mustRead(t, path, Options{Location: ny, Columns: map[string]string{"event_time": "When"}})
		if len(res.events) != 1 || !res.events[0].EventTime.Equal(utc("2026-07-01T12:00:00Z")) {
			t.Errorf("--column event_time=When: events %+v, rejects %+v; want one at 12:00 UTC", res.events, res.rejects)
		}
	})
	t.Run("another zone named is no time column", func(t *testing.T) {
		path := writeBook(t, false, testSheet{"Events", [][]any{{"Timestamp (Local)", "Event Name"}, {"2026-07-01 12:00:00", "SparkLogin"}}})
		if res := readBook(t, path, Options{Location: ny}); !errors.Is(res.err, ErrNoHeader) || !strings.Contains(res.err.Error(), `followed by "(UTC)"`) {
			t.Errorf("Read error %v, want ErrNoHeader saying (UTC) is allowed", res.err)
		}
	})
}

func TestReadDayFirst(t *testing.T) {
	path := writeBook(t, false, testSheet{"Events", [][]any{{"Timestamp", "Type"}, {"03/04/2026", "A"}, {"13/04/2026", "B"}}})
	us := mustRead(t, path, Options{})
	if len(us.events) != 1 || !us.events[0].EventTime.Equal(utc("2026-03-04T00:00:00Z")) {
		t.Errorf("month first: events %+v", us.events)
	}
	if len(us.rejects) != 1 || us.rejects[0].Row != 3 {
		t.Errorf("month first: 13/04/2026 should be rejected, got %+v", us.rejects)
	}
	eu := mustRead(t, path, Options{DayFirst: true})
	if len(eu.events) != 2 || !eu.events[0].EventTime.Equal(utc("2026-04-03T00:00:00Z")) || !eu.events[1].EventTime.Equal(utc("2026-04-13T00:00:00Z")) {
		t.Errorf("day first: events %+v, rejects %+v", eu.events, eu.rejects)
	}
}

func TestReadColumnOverride(t *testing.T) {
	tests := []struct {
		name     string
		rows     [][]any
		columns  map[string]string
		wantTime time.Time
		wantUser string
		wantAttr map[string]string
	}{
		{
			name:     "headers no alias knows",
			rows:     [][]any{{"When", "Kind", "Who"}, {"2026-01-01", "SparkLogin", "ann"}},
			columns:  map[string]string{"event_time": "when", "event_type": "KIND", "user_name": "Who"},
			wantTime: utc("2026-01-01T00:00:00Z"),
			wantUser: "ann",
		},
		{
			name:     "override beats an alias, which becomes an attribute",
			rows:     [][]any{{"Date", "Type", "Logged"}, {"2026-01-01", "SparkLogin", "2026-03-03"}},
			columns:  map[string]string{"Event Time": "logged"},
			wantTime: utc("2026-03-03T00:00:00Z"),
			wantAttr: map[string]string{"Date": "2026-01-01"},
		},
		{
			name:     "best alias wins, the other is kept",
			rows:     [][]any{{"Date", "Type", "Timestamp"}, {"2026-01-01", "SparkLogin", "2026-03-03"}},
			wantTime: utc("2026-03-03T00:00:00Z"),
			wantAttr: map[string]string{"Date": "2026-01-01"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRead(t, writeBook(t, false, testSheet{"Events", tt.rows}), Options{Columns: tt.columns})
			if len(res.events) != 1 {
				t.Fatalf("events %+v rejects %+v", res.events, res.rejects)
			}
			e := res.events[0]
			if !e.EventTime.Equal(tt.wantTime) || e.EventType != "SparkLogin" || e.UserName != tt.wantUser {
				t.Errorf("event %+v, want time %v user %q", e, tt.wantTime, tt.wantUser)
			}
			if got := attrs(t, e); !reflect.DeepEqual(got, tt.wantAttr) {
				t.Errorf("attributes %v, want %v", got, tt.wantAttr)
			}
		})
	}
}

func TestReadColumnOverrideRejectsUnknownField(t *testing.T) {
	path := writeBook(t, false, testSheet{"Events", [][]any{{"Timestamp", "Type"}}})
	if _, err := OpenFile(path, Options{Columns: map[string]string{"when": "Timestamp"}}); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("OpenFile with an unknown field: err %v, want unknown field", err)
	}
}

func TestReadAttributesAndText(t *testing.T) {
	long := strings.Repeat("é€😀x", 1250) // 5,000 characters
	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Timestamp", "Event Type", "User", "Description", "Région", "Note \"quoted\"", "", "Empty"},
		{"2026-01-02", "  SparkLogin  ", " Ann.Lee@Example.COM ", long, "Zürich 東京", "a\"b\\c\n\td", "no header", ""},
		{"2026-01-02", "SparkLogin", "Ann Lee", "plain"},
	}})
	res := mustRead(t, path, Options{})
	if len(res.events) != 2 {
		t.Fatalf("events %+v rejects %+v", res.events, res.rejects)
	}
	e := res.events[0]
	if e.EventType != "SparkLogin" {
		t.Errorf("type %q, want it trimmed", e.EventType)
	}
	if e.UserName != "ann.lee@example.com" {
		t.Errorf("user %q, want the e-mail lower-cased and trimmed", e.UserName)
	}
	if e.Description != long {
		t.Errorf("5,000-character description came back with %d characters", len([]rune(e.Description)))
	}
	want := map[string]string{"Région": "Zürich 東京", "Note \"quoted\"": "a\"b\\c\n\td", "column G": "no header"}
	if got := attrs(t, e); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes %v, want %v", got, want)
	}
	if !json.Valid(e.Attributes) {
		t.Errorf("attributes not valid JSON: %s", e.Attributes)
	}
	if e2 := res.events[1]; e2.Attributes != nil || e2.UserName != "Ann Lee" {
		t.Errorf("second row: attributes %s (want nil: all extra cells empty), user %q (not an e-mail, kept)", e2.Attributes, e2.UserName)
	}
}

func TestReadStripsNUL(t *testing.T) {
	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Timestamp", "Event Type", "Description", "Extra"},
		{"2026-01-02", "Spark@NUL@Login", "a@NUL@b", "c@NUL@d"},
	}})
	// Excel writes control characters as _xHHHH_ escapes; excelize will not
	// write a NUL itself, so put the escape into the XML by hand.
	ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
		return bytes.ReplaceAll(b, []byte("@NUL@"), []byte("_x0000_"))
	})
	res := mustRead(t, path, Options{})
	if len(res.events) != 1 {
		t.Fatalf("events %+v rejects %+v", res.events, res.rejects)
	}
	e := res.events[0]
	if e.EventType != "SparkLogin" || e.Description != "ab" || string(e.Attributes) != `{"Extra":"cd"}` {
		t.Errorf("NUL not stripped: %+v attributes %s", e, e.Attributes)
	}
}

func TestReadRejects(t *testing.T) {
	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Timestamp", "Event Type", "User"},
		{"31/31/2020", "SparkLogin", "a"},
		{"2026-01-02", "", "b"},
		{"", "SparkLogin", "c"},
		{0.5, "SparkLogin", "d"},
		{60.25, "SparkLogin", "e"},
		{"2026-01-02", "SomethingNew", "f"},
		{"yesterday", "", "g"},
	}})
	res := mustRead(t, path, Options{})
	want := []Reject{
		{Sheet: "Events", Row: 2, Reason: `event_time: cannot parse "31/31/2020" as a time`, Raw: []byte(`{"Timestamp":"31/31/2020","Event Type":"SparkLogin","User":"a"}`)},
		{Sheet: "Events", Row: 3, Reason: `event_type: empty`, Raw: []byte(`{"Timestamp":"2026-01-02","Event Type":"","User":"b"}`)},
		{Sheet: "Events", Row: 4, Reason: `event_time: empty`, Raw: []byte(`{"Timestamp":"","Event Type":"SparkLogin","User":"c"}`)},
		{Sheet: "Events", Row: 5, Reason: `event_time: Excel date 0.5 is a time of day without a date`, Raw: []byte(`{"Timestamp":"0.5","Event Type":"SparkLogin","User":"d"}`)},
		{Sheet: "Events", Row: 6, Reason: `event_time: Excel date 60.25 is 1900-02-29, a day that exists only in Excel's 1900 date system`, Raw: []byte(`{"Timestamp":"60.25","Event Type":"SparkLogin","User":"e"}`)},
		{Sheet: "Events", Row: 8, Reason: `event_time: cannot parse "yesterday" as a time; event_type: empty`, Raw: []byte(`{"Timestamp":"yesterday","Event Type":"","User":"g"}`)},
	}
	if !reflect.DeepEqual(res.rejects, want) {
		for _, r := range res.rejects {
			t.Logf("got %d %q %s", r.Row, r.Reason, r.Raw)
		}
		t.Errorf("rejects differ")
	}
	if len(res.events) != 1 || res.events[0].EventType != "SomethingNew" {
		t.Errorf("an unknown event type must be kept: events %+v", res.events)
	}
	if res.stats.Rows != 7 || res.stats.Rejects != 6 || res.stats.Events != 1 {
		t.Errorf("stats %+v", res.stats)
	}
}

func TestReadEventID(t *testing.T) {
	header := []any{"Timestamp", "Event Type", "User", "Region", "Client"}
	row := []any{"2026-01-02T03:04:05.678Z", "SparkLogin", "ann@example.com", "eu", "ui"}
	hashOf := func(t *testing.T, order []int, tenant string, edit func([]any)) string {
		h, r := make([]any, len(order)), make([]any, len(order))
		for i, j := range order {
			h[i], r[i] = header[j], row[j]
		}
		if edit != nil {
			edit(r)
		}
		res := mustRead(t, writeBook(t, false, testSheet{"Events", [][]any{h, r}}), Options{Tenant: tenant})
		if len(res.events) != 1 {
			t.Fatalf("events %+v rejects %+v", res.events, res.rejects)
		}
		return res.events[0].EventID
	}
	base := hashOf(t, []int{0, 1, 2, 3, 4}, "acme", nil)
	if !regexp.MustCompile(`^h:20260102T030405\.678000Z:[0-9a-f]{32}$`).MatchString(base) {
		t.Fatalf("hash ID %q, want h:, the UTC time to the microsecond and 32 hex digits", base)
	}
	// The time leads, so IDs sort as their events do; nanoseconds are cut.
	finer := hashOf(t, []int{0, 1, 2, 3, 4}, "acme", func(r []any) { r[0] = "2026-01-02T05:04:05.678000999+02:00" })
	if !strings.HasPrefix(finer, "h:20260102T030405.678000Z:") || finer == base {
		t.Errorf("a time 999 ns later, written in another zone: hash ID %q, want the same UTC time to the microsecond and another hash than %q", finer, base)
	}
	if got := hashOf(t, []int{4, 2, 0, 3, 1}, "acme", nil); got != base {
		t.Errorf("column order changed the hash: %s vs %s", got, base)
	}
	if got := hashOf(t, []int{0, 1, 2, 3}, "acme", nil); got == base {
		t.Errorf("dropping the Client attribute kept the hash %s", got)
	}
	if got := hashOf(t, []int{0, 1, 2, 3, 4}, "other", nil); got == base {
		t.Errorf("another tenant gave the same hash %s", got)
	}
	if got := hashOf(t, []int{0, 1, 2, 3, 4}, "acme", func(r []any) { r[3] = "us" }); got == base {
		t.Errorf("another attribute value gave the same hash %s", got)
	}
	serial := 46024 + (3*3600+4*60+5.678)/86400 // 2026-01-02T03:04:05.678Z
	if got := hashOf(t, []int{0, 1, 2, 3, 4}, "acme", func(r []any) { r[0] = serial }); got != base {
		t.Errorf("the same time as an Excel number changed the hash: %s vs %s", got, base)
	}
	if got := hashOf(t, []int{0, 1, 2, 3, 4}, "acme", func(r []any) { r[4] = "" }); got != hashOf(t, []int{0, 1, 2, 3}, "acme", nil) {
		t.Errorf("an empty attribute and an absent one hash differently")
	}

	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Id", "Timestamp", "Event Type"},
		{" abc-1 ", "2026-01-02", "SparkLogin"},
		{"", "2026-01-02", "SparkLogin"},
	}})
	res := mustRead(t, path, Options{})
	if len(res.events) != 2 || res.events[0].EventID != "abc-1" || !strings.HasPrefix(res.events[1].EventID, "h:") {
		t.Errorf("IDs %q, want the workbook's ID, then a hash for the empty one", []string{res.events[0].EventID, res.events[1].EventID})
	}
}

func TestReadSheets(t *testing.T) {
	events := testSheet{"Events", [][]any{{"Timestamp", "Event Type"}, {"2026-01-02", "SparkLogin"}}}
	more := testSheet{"More", [][]any{{"Date", "Type"}, {"2026-01-03", "SparkLogin"}, {"2026-01-04", "SparkLogin"}}}
	notes := testSheet{"Notes", [][]any{{"Spark events"}, nil, {"exported by ann"}}}
	empty := testSheet{"Empty", nil}
	blank := testSheet{"Blank", [][]any{{"  ", ""}, {"", "\u00a0"}}}
	t.Run("sheets without a row that could be an event are skipped", func(t *testing.T) {
		res := mustRead(t, writeBook(t, false, notes, events, empty, more, blank), Options{})
		if res.stats.Sheets != 2 || res.stats.Rows != 3 || len(res.rejects) != 0 ||
			!reflect.DeepEqual(res.stats.SkippedSheets, []string{"Notes", "Empty", "Blank"}) {
			t.Errorf("stats %+v, rejects %+v", res.stats, res.rejects)
		}
	})
	t.Run("no sheet with a header is an error", func(t *testing.T) {
		cover := testSheet{"Cover", [][]any{{"Spark events"}, {"Tenant", "acme"}}}
		other := testSheet{"Data", [][]any{{"When", "What", "Who"}, {"2026-01-02", "SparkLogin", "ann"}}}
		res := readBook(t, writeBook(t, false, cover, other), Options{})
		if !errors.Is(res.err, ErrNoHeader) {
			t.Fatalf("error %v, want ErrNoHeader", res.err)
		}
		for _, s := range []string{`"When", "What", "Who"`, `"Timestamp"`, `"Event Type"`, "--column"} {
			if !strings.Contains(res.err.Error(), s) {
				t.Errorf("error %q does not mention %s", res.err, s)
			}
		}
		if len(res.rejects) != 0 || res.stats.Rows != 0 {
			t.Errorf("rejects %+v, stats %+v: want none when no sheet is read", res.rejects, res.stats)
		}
	})
}

// An export of a quiet window may be a workbook without a single cell: it
// holds no events, and a sync must go on past it. A sheet with anything in
// it but no header is a layout Read does not know, and fails as before.
func TestReadBlankWorkbook(t *testing.T) {
	empty := testSheet{"Sheet1", nil}
	spaces := testSheet{"Spaces", [][]any{nil, {"  ", ""}, {"", "\u00a0", "\t "}}}
	title := testSheet{"Title", [][]any{{"Coherent Spark - User events"}}}
	tests := []struct {
		name    string
		sheets  []testSheet
		wantErr error
	}{
		{"one empty sheet", []testSheet{empty}, nil},
		{"empty and whitespace-only sheets", []testSheet{empty, spaces}, nil},
		{"a title and no header", []testSheet{title}, ErrNoHeader},
		{"an empty sheet beside a title", []testSheet{empty, title}, ErrNoHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readBook(t, writeBook(t, false, tt.sheets...), Options{})
			if !errors.Is(res.err, tt.wantErr) || (tt.wantErr == nil) != (res.err == nil) {
				t.Fatalf("Read error %v, want %v", res.err, tt.wantErr)
			}
			var names []string
			for _, s := range tt.sheets {
				names = append(names, s.name)
			}
			if len(res.events) != 0 || len(res.rejects) != 0 || res.stats.Sheets != 0 || res.stats.Rows != 0 ||
				!reflect.DeepEqual(res.stats.SkippedSheets, names) {
				t.Errorf("events %v, rejects %v, stats %+v; want none, with every sheet skipped", res.events, res.rejects, res.stats)
			}
		})
	}
}

func TestReadSheetWithoutHeaderIsRejected(t *testing.T) {
	events := testSheet{"Events", [][]any{{"Timestamp", "Event Type"}, {"2026-01-02", "SparkLogin"}}}
	var notesThenData [][]any
	for range headerScanRows + 5 {
		notesThenData = append(notesThenData, []any{"note"})
	}
	notesThenData = append(notesThenData, []any{"2026-01-05", "SparkLogin"})
	tests := []struct {
		name   string
		sheets []testSheet
		// Rows of the headerless sheet rejected; the event sheet's one
		// row is an event.
		wantRows []int
		wantRaw  string // of the first reject
	}{
		{
			name: "a second sheet under unknown headers",
			sheets: []testSheet{events, {"Events (2)", [][]any{
				{"When", "What"}, {"2026-01-03", "SparkLogin"}, nil, {"2026-01-04", "PublishEngine"},
			}}},
			wantRows: []int{1, 2, 4},
			wantRaw:  `{"column A":"When","column B":"What"}`,
		},
		{
			name: "before the event sheet, without any header",
			sheets: []testSheet{{"Events (0)", [][]any{
				nil, {"2026-01-01", "SparkLogin", "", "x"},
			}}, events},
			wantRows: []int{2},
			wantRaw:  `{"column A":"2026-01-01","column B":"SparkLogin","column D":"x"}`,
		},
		{
			name:     "a two-cell row below the rows searched for a header",
			sheets:   []testSheet{events, {"Notes", notesThenData}},
			wantRows: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26},
			wantRaw:  `{"column A":"note"}`,
		},
		{
			name:     "a cover sheet with a label and a value",
			sheets:   []testSheet{{"Cover", [][]any{{"Spark events"}, {"Tenant", "acme"}}}, events},
			wantRows: []int{1, 2},
			wantRaw:  `{"column A":"Spark events"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeBook(t, false, tt.sheets...)
			res := mustRead(t, path, Options{})
			var rows []int
			for _, r := range res.rejects {
				rows = append(rows, r.Row)
				if r.Sheet == events.name {
					t.Errorf("reject from the event sheet: %+v", r)
				}
				for _, s := range []string{"no header row", "event_time", "event_type", "--column event_time=HEADER"} {
					if !strings.Contains(r.Reason, s) {
						t.Errorf("reason %q does not say %q", r.Reason, s)
					}
				}
			}
			if !reflect.DeepEqual(rows, tt.wantRows) {
				t.Errorf("rejected rows %v, want %v", rows, tt.wantRows)
			}
			if len(res.rejects) > 0 && string(res.rejects[0].Raw) != tt.wantRaw {
				t.Errorf("raw %s, want %s", res.rejects[0].Raw, tt.wantRaw)
			}
			// They count apart from the event sheet's rows, so that a sheet
			// every export has neither trips --max-rejects nor makes a quiet
			// window look like one of bad rows.
			if len(res.events) != 1 || res.stats.Sheets != 1 || res.stats.Rows != 1 ||
				res.stats.Rejects != 0 || res.stats.HeaderlessRows != len(tt.wantRows) {
				t.Errorf("events %+v, stats %+v", res.events, res.stats)
			}
			for _, r := range res.rejects {
				if !r.NoHeader {
					t.Errorf("reject %+v without NoHeader", r)
				}
			}

			// Callbacks come in workbook order, and a reject callback's
			// error stops Read there, naming the sheet and row.
			w, err := OpenFile(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var order []string
			_, err = w.Read(context.Background(),
				func(e *Event) error { order = append(order, "event"); return nil },
				func(r *Reject) error { order = append(order, r.Sheet); return nil })
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range tt.sheets {
				if s.name == events.name {
					want = append(want, "event")
					continue
				}
				for range tt.wantRows {
					want = append(want, s.name)
				}
			}
			if !reflect.DeepEqual(order, want) {
				t.Errorf("callbacks in order %v, want %v", order, want)
			}
			stop := errors.New("stop")
			st, err := w.Read(context.Background(), nil, func(*Reject) error { return stop })
			wantAt := fmt.Sprintf("row %d", tt.wantRows[0])
			if !errors.Is(err, stop) || !strings.Contains(err.Error(), wantAt) || st.HeaderlessRows != 1 {
				t.Errorf("reject callback error: %v, stats %+v; want stop at %s", err, st, wantAt)
			}
		})
	}
}

func TestReadCallbackErrorAndCancel(t *testing.T) {
	rows := [][]any{{"Timestamp", "Event Type"}}
	for range 3000 {
		rows = append(rows, []any{"2026-01-02", "SparkLogin"})
	}
	path := writeBook(t, false, testSheet{"Events", rows})
	w, err := OpenFile(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	stop := errors.New("stop")
	n := 0
	_, err = w.Read(context.Background(), func(*Event) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	}, nil)
	if !errors.Is(err, stop) || n != 2 || !strings.Contains(err.Error(), "row 3") {
		t.Errorf("callback error: got %v after %d events, want stop at row 3", err, n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	st, err := w.Read(ctx, func(*Event) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) || st.Rows >= 3000 {
		t.Errorf("cancel: got %v after %d rows, want context.Canceled before the end", err, st.Rows)
	}
}

func TestReadParseErrorBelowHeader(t *testing.T) {
	// A row number past Excel's last row is an error excelize reports while
	// iterating; raised below the header, it must stop Read with the rows
	// before it delivered, and name the sheet and row.
	rows := [][]any{{"Timestamp", "Event Type"}}
	for range 1000 {
		rows = append(rows, []any{"2026-01-02", "SparkLogin"})
	}
	path := writeBook(t, false, testSheet{"Events", rows})
	ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
		if strings.HasSuffix(name, "sheet1.xml") {
			return bytes.Replace(b, []byte(`<row r="700"`), []byte(`<row r="2000000"`), 1)
		}
		return b
	})
	res := readBook(t, path, Options{})
	if !errors.Is(res.err, excelize.ErrMaxRows) || !strings.Contains(res.err.Error(), `sheet "Events"`) {
		t.Errorf("error %v, want excelize.ErrMaxRows naming the sheet", res.err)
	}
	// excelize meets the bad row number while it reads row 699.
	if !strings.Contains(res.err.Error(), "row 699") {
		t.Errorf("error %v, want it at row 699", res.err)
	}
	if len(res.events) != 697 || res.stats.Events != 697 || res.events[696].EventType != "SparkLogin" {
		t.Errorf("%d events delivered, stats %+v; want the 697 rows above row 699", len(res.events), res.stats)
	}
}

func TestReadMalformedSheetXML(t *testing.T) {
	// An unescaped control character makes the sheet's XML invalid from
	// there on. excelize's iterator stops at it as if the sheet had ended;
	// Read must fail instead of returning the rows above it as the whole.
	rows := [][]any{{"Timestamp", "Event Type"}}
	for range 1000 {
		rows = append(rows, []any{"2026-01-02", "SparkLogin"})
	}
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"in memory", Options{}},
		{"from a temp file", Options{MaxXMLSize: 16 << 10}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeBook(t, false, testSheet{"Events", rows})
			ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
				if strings.HasSuffix(name, "sheet1.xml") {
					bad := []byte(`<row r="700"><c r="A700" t="str"><v>2026-01-02</v></c><c r="B700" t="str"><v>bad` + "\x01" + `</v></c></row>`)
					return bytes.Replace(b, []byte(`<row r="700"`), append(bad, `<row r="701"`...), 1)
				}
				return b
			})
			res := readBook(t, path, tt.opts)
			if !errors.Is(res.err, ErrMalformed) || !strings.Contains(res.err.Error(), `sheet "Events"`) {
				t.Fatalf("error %v, want ErrMalformed naming the sheet", res.err)
			}
			if !strings.Contains(res.err.Error(), "near row 700") {
				t.Errorf("error %v, want it near row 700", res.err)
			}
			// Row 700 comes back from excelize cut short: it must not
			// become a reject (or an event) of its own.
			if len(res.rejects) != 0 || len(res.events) > 698 {
				t.Errorf("%d rejects and %d events from the broken sheet, want none beyond the 698 rows above row 700", len(res.rejects), len(res.events))
			}
		})
	}
	// The same sheet without the bad character reads whole.
	if res := mustRead(t, writeBook(t, false, testSheet{"Events", rows}), Options{MaxXMLSize: 16 << 10}); len(res.events) != 1000 {
		t.Errorf("%d events from the intact sheet, want 1000", len(res.events))
	}
}

func TestReadLargeSheetStreamsFromTempFile(t *testing.T) {
	// A MaxXMLSize far below the sheet's size makes excelize unzip the sheet
	// and the shared strings to temporary files; the results must not change.
	path := writeBigBook(t, 2000)
	mem := mustRead(t, path, Options{Tenant: "acme"})
	disk := mustRead(t, path, Options{Tenant: "acme", MaxXMLSize: 16 << 10})
	if len(mem.events) != 2000 || !reflect.DeepEqual(mem.events, disk.events) {
		t.Errorf("in memory %d events, from temp files %d; equal: %v", len(mem.events), len(disk.events), reflect.DeepEqual(mem.events, disk.events))
	}
	e := mem.events[1]
	if e.EventID[:2] != "h:" || e.UserName != "user1@example.com" || string(e.Attributes) != `{"Region":"eu-west","Client":"Spark UI"}` {
		t.Errorf("event %+v, attributes %s", e, e.Attributes)
	}
}

func TestOpenZipBomb(t *testing.T) {
	// 512 KiB of one letter compresses to almost nothing.
	path := writeBook(t, false, testSheet{"Events", [][]any{
		{"Timestamp", "Event Type", "Description"},
		{"2026-01-02", "SparkLogin", strings.Repeat("a", 32000)},
	}})
	ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
		if name == "xl/sharedStrings.xml" {
			return bytes.Replace(b, []byte(strings.Repeat("a", 32000)), []byte(strings.Repeat("a", 512<<10)), 1)
		}
		return b
	})
	if fi, _ := os.Stat(path); fi.Size() > 64<<10 {
		t.Fatalf("test workbook is %d bytes, not a bomb", fi.Size())
	}
	opts := Options{MaxUnzipSize: 256 << 10}
	if _, err := OpenFile(path, opts); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "zip bomb") {
		t.Errorf("OpenFile: %v, want ErrTooLarge mentioning a zip bomb", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := OpenReader(f, opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("OpenReader: %v, want ErrTooLarge", err)
	}
	// Under the default limit the same file opens.
	w, err := OpenFile(path, Options{})
	if err != nil {
		t.Fatalf("default limit: %v", err)
	}
	w.Close()
}

func TestOpenNotXLSX(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"text", write("a.xlsx", []byte("Timestamp,Event Type\n2026-01-02,SparkLogin\n")), "not a valid zip"},
		{"empty", write("b.xlsx", nil), "not an XLSX"},
		{"legacy xls", write("c.xls", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 600)...)), "legacy .xls"},
		{"zip of something else", zipOf(t, dir, "readme.txt", "hello"), "[Content_Types].xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenFile(tt.path, Options{})
			if !errors.Is(err, ErrNotXLSX) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenFile: %v, want ErrNotXLSX mentioning %q", err, tt.want)
			}
			f, _ := os.Open(tt.path)
			defer f.Close()
			if _, err := OpenReader(f, Options{}); !errors.Is(err, ErrNotXLSX) {
				t.Errorf("OpenReader: %v, want ErrNotXLSX", err)
			}
		})
	}
}

func TestOpenReader(t *testing.T) {
	f, err := os.Open(writeBigBook(t, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := OpenReader(f, Options{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st, err := w.Read(context.Background(), nil, nil)
	if err != nil || st.Events != 10 {
		t.Errorf("Read: %+v %v, want 10 events", st, err)
	}
}

func TestReadDateAndTimeColumns(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	const jan2 = 46024.0 // 2026-01-02 in the 1900 date system
	ofDay := func(h, m int, s float64) float64 { return (float64(h*3600+m*60) + s) / 86400 }
	dateTime := []any{"Date", "Time", "Event Type"}
	tests := []struct {
		name     string
		header   []any
		date     any
		clock    any
		opts     Options
		date1904 bool
		want     time.Time
	}{
		{name: "text date and time", header: dateTime, date: "2026-01-02", clock: "13:45:10", want: utc("2026-01-02T13:45:10Z")},
		{name: "milliseconds", header: dateTime, date: "2026-01-02", clock: "13:45:10.123", want: utc("2026-01-02T13:45:10.123Z")},
		{name: "hours and minutes", header: dateTime, date: "2026-01-02", clock: "9:05", want: utc("2026-01-02T09:05:00Z")},
		{name: "12-hour clock", header: dateTime, date: "2026-01-02", clock: "1:45:10 PM", want: utc("2026-01-02T13:45:10Z")},
		{name: "Excel numbers", header: dateTime, date: jan2, clock: ofDay(13, 45, 10.5), want: utc("2026-01-02T13:45:10.5Z")},
		{name: "number date, text time", header: dateTime, date: jan2, clock: "13:45:10", want: utc("2026-01-02T13:45:10Z")},
		{name: "text date, number time", header: dateTime, date: "2026-01-02", clock: ofDay(13, 45, 10), want: utc("2026-01-02T13:45:10Z")},
		{
			name: "both cells hold the whole date and time", header: dateTime,
			date: jan2 + ofDay(13, 45, 10), clock: jan2 + ofDay(13, 45, 10), want: utc("2026-01-02T13:45:10Z"),
		},
		{name: "a time rounding up to midnight", header: dateTime, date: jan2, clock: 86399.9996 / 86400, want: utc("2026-01-03T00:00:00Z")},
		{name: "1904 date system", header: dateTime, date: jan2 - 1462, clock: ofDay(13, 45, 10), date1904: true, want: utc("2026-01-02T13:45:10Z")},
		{name: "Event Date", header: []any{"Event Type", "Time", "Event Date"}, date: "2026-01-02", clock: "13:45", want: utc("2026-01-02T13:45:00Z")},
		{name: "text in New York", header: dateTime, date: "2026-07-01", clock: "12:00", opts: Options{Location: ny}, want: utc("2026-07-01T16:00:00Z")},
		{name: "numbers in New York", header: dateTime, date: jan2, clock: 0.5, opts: Options{Location: ny}, want: utc("2026-01-02T17:00:00Z")},
		{name: "New York springing forward", header: dateTime, date: "2026-03-08", clock: "03:30", opts: Options{Location: ny}, want: utc("2026-03-08T07:30:00Z")},
		{name: "a zone on the time wins", header: dateTime, date: "2026-01-02", clock: "13:45:10Z", opts: Options{Location: ny}, want: utc("2026-01-02T13:45:10Z")},
		{name: "UTC on the time wins", header: dateTime, date: "2026-01-02", clock: "13:45:10 UTC", opts: Options{Location: ny}, want: utc("2026-01-02T13:45:10Z")},
		{name: "a zone on the date", header: dateTime, date: "2026-01-02T00:00:00+02:00", clock: "13:45", want: utc("2026-01-02T11:45:00Z")},
		{name: "month first", header: dateTime, date: "03/04/2026", clock: "13:45", want: utc("2026-03-04T13:45:00Z")},
		{name: "day first", header: dateTime, date: "03/04/2026", clock: "13:45", opts: Options{DayFirst: true}, want: utc("2026-04-03T13:45:00Z")},
		// A date cell that holds a time of day is read alone.
		{name: "a text date with its time", header: dateTime, date: "2026-01-02 13:45:10", clock: "00:00:01.234", want: utc("2026-01-02T13:45:10Z")},
		{name: "a text date with its time, no time cell", header: dateTime, date: "2026-01-02 13:45:10", clock: "", want: utc("2026-01-02T13:45:10Z")},
		{name: "a number date with its time", header: dateTime, date: jan2 + ofDay(13, 45, 10), clock: 250, want: utc("2026-01-02T13:45:10Z")},
		// "(UTC)" on either column makes both UTC, whatever Location says.
		{name: "(UTC) on both", header: []any{"Date (UTC)", "Time (UTC)", "Event Type"}, date: "2026-07-01", clock: "12:00", opts: Options{Location: ny}, want: utc("2026-07-01T12:00:00Z")},
		{name: "(UTC) on the date", header: []any{"Event Date (UTC)", "Time", "Event Type"}, date: jan2, clock: 0.5, opts: Options{Location: ny}, want: utc("2026-01-02T12:00:00Z")},
		{name: "(UTC) on the time", header: []any{"Date", "Time (UTC)", "Event Type"}, date: "2026-07-01", clock: "12:00", opts: Options{Location: ny}, want: utc("2026-07-01T12:00:00Z")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := make([]any, len(tt.header))
			for i, h := range tt.header {
				switch h {
				case "Time", "Time (UTC)":
					row[i] = tt.clock
				case "Event Type":
					row[i] = "SparkLogin"
				default:
					row[i] = tt.date
				}
			}
			path := writeBook(t, tt.date1904, testSheet{"Events", [][]any{append(tt.header, "Region"), append(row, "eu")}})
			res := mustRead(t, path, tt.opts)
			if len(res.events) != 1 {
				t.Fatalf("events %+v, rejects %+v", res.events, res.rejects)
			}
			e := res.events[0]
			if !e.EventTime.Equal(tt.want) || e.EventTime.Location() != time.UTC {
				t.Errorf("time %v, want %v in UTC", e.EventTime, tt.want)
			}
			if got := attrs(t, e); !reflect.DeepEqual(got, map[string]string{"Region": "eu"}) {
				t.Errorf("attributes %v, want only Region: the time is part of event_time", got)
			}
		})
	}
}

func TestReadDateAndTimeColumnRejects(t *testing.T) {
	tests := []struct {
		date, clock any
		want        string
	}{
		{"2026-01-02", "", `event_time: Time is empty`},
		{"2026-01-02", "soon", `event_time: cannot parse Time "soon" as a time of day`},
		{"2026-01-02", "25:00", `event_time: cannot parse Time "25:00" as a time of day`},
		{"2026-01-02", 250, `event_time: Time "250" is not a time of day`},
		{46024, 46025.5, `event_time: Time "46025.5" is not a time of day`},
		{46024, -0.5, `event_time: Time "-0.5" is not a time of day`},
		{"31/31/2020", "13:45", `event_time: cannot parse "31/31/2020" as a time`},
		{0.5, "13:45", `event_time: Excel date 0.5 is a time of day without a date`},
		{"", "13:45", `event_time: empty`},
	}
	rows := [][]any{{"Date", "Time", "Event Type"}}
	for _, tt := range tests {
		rows = append(rows, []any{tt.date, tt.clock, "SparkLogin"})
	}
	res := mustRead(t, writeBook(t, false, testSheet{"Events", rows}), Options{})
	if len(res.events) != 0 || len(res.rejects) != len(tests) {
		t.Fatalf("events %+v, rejects %+v: want every row rejected", res.events, res.rejects)
	}
	for i, tt := range tests {
		if r := res.rejects[i]; r.Reason != tt.want || r.Row != i+2 {
			t.Errorf("row %d: reason %q, want %q", r.Row, r.Reason, tt.want)
		}
	}
}

func TestReadDateAndTimeColumnsNotCombined(t *testing.T) {
	tests := []struct {
		name     string
		header   []any
		row      []any
		columns  map[string]string
		wantTime time.Time
		wantAttr map[string]string
		wantDesc string
	}{
		{
			name:     "event_time mapped with --column",
			header:   []any{"Date", "Time", "Event Type"},
			row:      []any{"2026-01-02", "13:45:10", "SparkLogin"},
			columns:  map[string]string{"event_time": "Date"},
			wantTime: utc("2026-01-02T00:00:00Z"),
			wantAttr: map[string]string{"Time": "13:45:10"},
		},
		{
			name:     "Time mapped to another field",
			header:   []any{"Date", "Time", "Event Type"},
			row:      []any{"2026-01-02", "13:45:10", "SparkLogin"},
			columns:  map[string]string{"description": "Time"},
			wantTime: utc("2026-01-02T00:00:00Z"),
			wantDesc: "13:45:10",
		},
		{
			name:     "a Timestamp beside them",
			header:   []any{"Date", "Time", "Event Type", "Timestamp"},
			row:      []any{"2026-01-02", "13:45:10", "SparkLogin", "2026-01-02T13:45:11Z"},
			wantTime: utc("2026-01-02T13:45:11Z"),
			wantAttr: map[string]string{"Date": "2026-01-02", "Time": "13:45:10"},
		},
		{
			name:     "a Date alone",
			header:   []any{"Date", "Event Type"},
			row:      []any{"2026-01-02", "SparkLogin"},
			wantTime: utc("2026-01-02T00:00:00Z"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRead(t, writeBook(t, false, testSheet{"Events", [][]any{tt.header, tt.row}}), Options{Columns: tt.columns})
			if len(res.events) != 1 {
				t.Fatalf("events %+v, rejects %+v", res.events, res.rejects)
			}
			e := res.events[0]
			if !e.EventTime.Equal(tt.wantTime) || e.Description != tt.wantDesc {
				t.Errorf("time %v, description %q; want %v, %q", e.EventTime, e.Description, tt.wantTime, tt.wantDesc)
			}
			if got := attrs(t, e); !reflect.DeepEqual(got, tt.wantAttr) {
				t.Errorf("attributes %v, want %v", got, tt.wantAttr)
			}
		})
	}
}

func TestReadHashIDsStable(t *testing.T) {
	// IDs of events already stored: if one changed, the next download of
	// the event would be stored a second time. The first two were computed
	// before separate Date and Time columns were combined.
	tests := []struct {
		name   string
		header []any
		row    []any
		want   string
	}{
		{
			name:   "a Time column beside a Timestamp stays an attribute",
			header: []any{"Timestamp", "Time", "Event Type", "User"},
			row:    []any{"2026-01-02 03:04:05", "13:45:10", "SparkLogin", "ann"},
			want:   "h:20260102T030405.000000Z:8412260d41205f5698165b75d61eaf4a",
		},
		{
			name:   "a Date alone",
			header: []any{"Date", "Event Type", "User"},
			row:    []any{"2026-01-02", "SparkLogin", "ann"},
			want:   "h:20260102T000000.000000Z:1c3ddf1a37d8ef3eb5d54b15754f8634",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRead(t, writeBook(t, false, testSheet{"Events", [][]any{tt.header, tt.row}}), Options{Tenant: "acme"})
			if len(res.events) != 1 || res.events[0].EventID != tt.want {
				t.Errorf("events %+v, want ID %s", res.events, tt.want)
			}
		})
	}

	// The same event written with a Timestamp or with a Date and a Time
	// has the same ID: the time of day is part of the time, no attribute.
	id := func(header, row []any) string {
		res := mustRead(t, writeBook(t, false, testSheet{"Events", [][]any{header, row}}), Options{Tenant: "acme"})
		if len(res.events) != 1 {
			t.Fatalf("events %+v, rejects %+v", res.events, res.rejects)
		}
		return res.events[0].EventID
	}
	one := id([]any{"Timestamp", "Event Type", "User"}, []any{"2026-01-02 13:45:10", "SparkLogin", "ann"})
	two := id([]any{"Date", "Time", "Event Type", "User"}, []any{"2026-01-02", "13:45:10", "SparkLogin", "ann"})
	if one != two {
		t.Errorf("one column gave ID %s, two columns %s", one, two)
	}
}

// Identical rows without an Event ID are distinct events: each gets an ID
// of its own, the first the ID it would have alone, and reading the rows
// again gives the same IDs, so a second load stores nothing new.
func TestReadIdenticalRowsKeepTheirOwnIDs(t *testing.T) {
	header := []any{"Timestamp", "Event Type", "User"}
	a := []any{"2026-01-02 03:04:05", "DownloadEngine", "ann"}
	b := []any{"2026-01-02 03:04:05", "DownloadEngine", "bob"}
	later := []any{"2026-01-02 03:04:06", "DownloadEngine", "ann"}
	ids := func(t *testing.T, rows ...[]any) []string {
		res := mustRead(t, writeBook(t, false, testSheet{"Events", append([][]any{header}, rows...)}), Options{Tenant: "acme"})
		var out []string
		for _, e := range res.events {
			out = append(out, e.EventID)
		}
		return out
	}
	alone, bAlone, laterAlone := ids(t, a)[0], ids(t, b)[0], ids(t, later)[0]

	got := ids(t, a, b, a, a, later, later)
	if want := []string{alone, bAlone}; !slices.Equal(got[:2], want) {
		t.Errorf("first occurrences %v, want their IDs alone %v", got[:2], want)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(got[:4])))) != 4 {
		t.Errorf("IDs %v: the three identical rows share an ID", got[:4])
	}
	if got[4] != laterAlone || got[5] == laterAlone || !strings.HasPrefix(got[5], "h:20260102T030406.000000Z:") {
		t.Errorf("IDs %v of the later pair: want the count to start again with the new time", got[4:])
	}
	if again := ids(t, a, b, a, a, later, later); !slices.Equal(again, got) {
		t.Errorf("read again: %v, want %v", again, got)
	}

	// A day of date-only rows: many alike, past the short list's 32.
	day := []any{"2026-01-02", "SparkLogin", "ann"}
	var rows [][]any
	for range 40 {
		rows = append(rows, day)
	}
	many := ids(t, rows...)
	if len(slices.Compact(slices.Sorted(slices.Values(many)))) != 40 {
		t.Errorf("40 identical date-only rows got %d distinct IDs, want 40", len(slices.Compact(slices.Sorted(slices.Values(many)))))
	}
	if again := ids(t, rows...); !slices.Equal(again, many) {
		t.Error("the 40 rows read again got other IDs")
	}
}
