package transform

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExcelSerialTime(t *testing.T) {
	tests := []struct {
		serial   float64
		date1904 bool
		want     string // RFC 3339, or "" for an error
		wantErr  error
	}{
		{1, false, "1900-01-01T00:00:00Z", nil},
		{59, false, "1900-02-28T00:00:00Z", nil},
		{59.999, false, "1900-02-28T23:58:33.6Z", nil},
		{60, false, "", errFictitiousDay},
		{61, false, "1900-03-01T00:00:00Z", nil},
		{44927, false, "2023-01-01T00:00:00Z", nil},
		{44927.5, false, "2023-01-01T12:00:00Z", nil},
		{44927 + 0.001/86400, false, "2023-01-01T00:00:00.001Z", nil},
		{44927 + 86399.999/86400, false, "2023-01-01T23:59:59.999Z", nil},
		{44927 + 86399.9996/86400, false, "2023-01-02T00:00:00Z", nil}, // rounds up over midnight
		{maxSerial, false, "9999-12-31T00:00:00Z", nil},
		{maxSerial + 1, false, "", errSerialRange},
		{0.25, false, "", errNoDate},
		{-1, false, "", errSerialRange},
		{1, true, "1904-01-02T00:00:00Z", nil},
		{43465, true, "2023-01-01T00:00:00Z", nil},
		{43465.524270706, true, "2023-01-01T12:34:56.989Z", nil},
	}
	for _, tt := range tests {
		got, err := excelSerialTime(tt.serial, tt.date1904, time.UTC)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("excelSerialTime(%v, %v) error %v, want %v", tt.serial, tt.date1904, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(utc(tt.want)) {
			t.Errorf("excelSerialTime(%v, %v) = %v, %v; want %s", tt.serial, tt.date1904, got, err, tt.want)
		}
	}
}

func TestExcelSerialTimeAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// 2026-03-08 is the day New York springs forward at 02:00: 03:30 on the
	// wall is 07:30 UTC, not 08:30 as adding 3.5 h to midnight would give.
	got, err := excelSerialTime(46089+3.5/24, false, ny)
	if err != nil || !got.Equal(utc("2026-03-08T07:30:00Z")) {
		t.Errorf("got %v, %v; want 2026-03-08T07:30:00Z", got.UTC(), err)
	}
}

func TestTimeParserLayouts(t *testing.T) {
	p := &timeParser{layouts: timeLayouts(false), loc: time.UTC}
	tests := []struct{ in, want string }{
		{"2026-03-02T15:08:00.000Z", "2026-03-02T15:08:00Z"},
		{"2026-03-02T15:08:00,5+01:00", "2026-03-02T14:08:00.5Z"},
		{"2026-03-02T15:08:00+0100", "2026-03-02T14:08:00Z"},
		{"2026-03-02 15:08:00 +01:00", "2026-03-02T14:08:00Z"},
		{"2026-03-02T15:08", "2026-03-02T15:08:00Z"},
		{"2026-03-02", "2026-03-02T00:00:00Z"},
		{"20260302T150800", "2026-03-02T15:08:00Z"},
		{"2026/3/2 15:08:00", "2026-03-02T15:08:00Z"},
		{"Mon, 02 Mar 2026 15:08:00 +0000", "2026-03-02T15:08:00Z"},
		{"2 Mar 2026 15:08", "2026-03-02T15:08:00Z"},
		{"02-Mar-2026 15:08:00", "2026-03-02T15:08:00Z"},
		{"2 March 2026", "2026-03-02T00:00:00Z"},
		{"Mar 2, 2026 3:08 PM", "2026-03-02T15:08:00Z"},
		{"March 2, 2026 3:08:01 PM", "2026-03-02T15:08:01Z"},
		{"3/2/2026 3:08 PM", "2026-03-02T15:08:00Z"},
		{"03/02/2026 15:08:00.250", "2026-03-02T15:08:00.25Z"},
		{"2026-03-02 15:08:00 GMT", "2026-03-02T15:08:00Z"},
		{"0001-01-01T00:30:00Z", "0001-01-01T00:30:00Z"},
	}
	for _, tt := range tests {
		got, err := p.parse(tt.in)
		if err != nil || !got.Equal(utc(tt.want)) {
			t.Errorf("parse(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "31/31/2020", "NaN", "Inf", "0x1p4", "2026-03-02 15:08:00 CET", "1e9", "0000-06-01", "0001-01-01T00:30:00+01:00"} {
		if got, err := p.parse(bad); err == nil {
			t.Errorf("parse(%q) = %v, want an error", bad, got)
		}
	}
}

func TestLooksNumeric(t *testing.T) {
	for s, want := range map[string]bool{
		"45000": true, "45000.5": true, "4.5E4": true, "-1": true, "1e-3": true,
		"": false, "2026-01-02": false, "NaN": false, "Inf": false, "0x10": false, "1/2/2026": false, ".": false, "+": false,
	} {
		if got := looksNumeric(s); got != want {
			t.Errorf("looksNumeric(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{
		"", "plain", `quote " backslash \ slash /`, "new\nline\ttab\rcr",
		"ctl \x01\x1f\x7f", "é€😀 東京", "line\u2028sep\u2029", "<script>&amp;",
		strings.Repeat("x\"", 3000),
	}
	for _, s := range tests {
		b := appendJSONString([]byte("prefix"), s)
		if !strings.HasPrefix(string(b), "prefix") {
			t.Fatalf("prefix lost")
		}
		var back string
		if err := json.Unmarshal(b[len("prefix"):], &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q) = %s, which decodes to %q, %v", s, b[len("prefix"):], back, err)
		}
		if strings.ContainsAny(string(b), "\n\r\t\x01\u2028") {
			t.Errorf("appendJSONString(%q) left a control character raw: %s", s, b)
		}
	}
	if got := string(appendJSONString(nil, "a\xffb")); got != "\"a\ufffdb\"" {
		t.Errorf("invalid UTF-8: got %s", got)
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"  padded \t", "padded"},
		{"a\x00b", "ab"},
		{"\x00 x \x00", "x"},
		{"bad \xff\xfe utf8", "bad  utf8"},
		{"\u00a0nbsp\u00a0", "nbsp"},
		{"é", "é"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cleanText(tt.in); got != tt.want {
			t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeUser(t *testing.T) {
	for in, want := range map[string]string{
		"Ann.Lee@Example.COM": "ann.lee@example.com",
		"ann@example.com":     "ann@example.com",
		"Ann Lee":             "Ann Lee",
		"DOMAIN\\Ann":         "DOMAIN\\Ann",
		"Ann@localhost":       "Ann@localhost",
		"@Example.com":        "@Example.com",
		"A@B@Example.com":     "A@B@Example.com",
		"Ann Lee@Example.com": "Ann Lee@Example.com",
		"ÉLISE@Example.fr":    "élise@example.fr",
	} {
		if got := normalizeUser(in); got != want {
			t.Errorf("normalizeUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRejectLimit(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
		str     string
		// Exceeded(rejects, rows) for a few cases
		checks [][3]int // rejects, rows, want (0/1)
	}{
		{in: "", str: "unlimited", checks: [][3]int{{1000, 1000, 0}}},
		{in: "unlimited", str: "unlimited", checks: [][3]int{{5, 5, 0}}},
		{in: "0", str: "0", checks: [][3]int{{0, 100, 0}, {1, 100, 1}}},
		{in: "100", str: "100", checks: [][3]int{{100, 100, 0}, {101, 1000, 1}}},
		{in: " 7 ", str: "7", checks: [][3]int{{7, 10, 0}, {8, 10, 1}}},
		{in: "2.5%", str: "2.5%", checks: [][3]int{{25, 1000, 0}, {26, 1000, 1}, {0, 0, 0}}},
		{in: "0%", str: "0%", checks: [][3]int{{0, 10, 0}, {1, 10, 1}}},
		{in: "100 %", str: "100%", checks: [][3]int{{10, 10, 0}}},
		{in: "-1", wantErr: true},
		{in: "101%", wantErr: true},
		{in: "-1%", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "NaN%", wantErr: true},
		{in: "%", wantErr: true},
	}
	for _, tt := range tests {
		l, err := ParseRejectLimit(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseRejectLimit(%q) = %v, want an error", tt.in, l)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRejectLimit(%q): %v", tt.in, err)
			continue
		}
		if l.String() != tt.str {
			t.Errorf("ParseRejectLimit(%q).String() = %q, want %q", tt.in, l.String(), tt.str)
		}
		if back, err := ParseRejectLimit(l.String()); err != nil || back != l {
			t.Errorf("String %q does not parse back: %v, %v", l.String(), back, err)
		}
		if want := tt.str == "100%"; l.AcceptsAll() != want {
			t.Errorf("ParseRejectLimit(%q).AcceptsAll() = %v, want %v", tt.in, !want, want)
		}
		for _, c := range tt.checks {
			if got := l.Exceeded(c[0], c[1]); got != (c[2] == 1) {
				t.Errorf("%q.Exceeded(%d, %d) = %v", tt.in, c[0], c[1], got)
			}
		}
	}
	if (RejectLimit{}).Exceeded(1<<30, 1) {
		t.Errorf("zero RejectLimit is not unlimited")
	}
}

func TestParseColumnFlag(t *testing.T) {
	tests := []struct {
		in, field, header string
		wantErr           bool
	}{
		{in: "event_time=When", field: "event_time", header: "When"},
		{in: " Event Type = Kind of event ", field: "event_type", header: "Kind of event"},
		{in: "ip_address=a=b", field: "ip_address", header: "a=b"},
		{in: "when=Timestamp", wantErr: true},
		{in: "event_time", wantErr: true},
		{in: "event_time=  ", wantErr: true},
		{in: "=When", wantErr: true},
	}
	for _, tt := range tests {
		f, h, err := ParseColumnFlag(tt.in)
		if (err != nil) != tt.wantErr || f != tt.field || h != tt.header {
			t.Errorf("ParseColumnFlag(%q) = %q, %q, %v", tt.in, f, h, err)
		}
	}
}

func TestFields(t *testing.T) {
	want := []string{"event_id", "event_time", "event_type", "user_name", "folder_id", "folder_name",
		"service_name", "service_version", "description", "ip_address"}
	got := Fields()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() = %v", got)
	}
	got[0] = "changed"
	if Fields()[0] != "event_id" {
		t.Errorf("Fields returns shared storage")
	}
}

func TestHeaderMatcherAliases(t *testing.T) {
	m, err := newHeaderMatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	for f := range numFields {
		for _, a := range append([]string{fieldNames[f]}, fieldAliases[f]...) {
			for _, variant := range []string{a, strings.ToUpper(a), " " + strings.ReplaceAll(a, " ", "_") + " ", strings.ReplaceAll(a, " ", " - ")} {
				if hm, ok := m.byHeader[normalizeHeader(variant)]; !ok || hm.field != f {
					t.Errorf("header %q maps to %v, %v; want %s", variant, hm, ok, fieldNames[f])
				}
				if f != fieldEventTime {
					continue
				}
				for _, suffix := range []string{" (UTC)", "(utc)", " ( UTC ) "} {
					if hm, _, ok := m.match(variant + suffix); !ok || hm.field != f {
						t.Errorf("header %q maps to %v, %v; want %s", variant+suffix, hm, ok, fieldNames[f])
					}
				}
			}
		}
	}
	for _, cols := range []map[string]string{
		{"event_time": "When", "event_type": "when"},
		{"event_time": "When", "Event Time": "Then"},
		{"nope": "When"},
		{"event_type": " - "},
	} {
		if _, err := newHeaderMatcher(cols); err == nil {
			t.Errorf("newHeaderMatcher(%v): want an error", cols)
		}
	}
}

// The rules that decide between columns that could each be a field: each
// header maps to one field at most, the earlier alias wins, an exact header
// beats one with "(UTC)" dropped, and "(UTC)" is dropped for event_time only.
func TestHeaderMatcherAmbiguity(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		want   map[string]string // field name to the header mapped to it
		clock  string            // the Time column joined to a date, if any
	}{
		{
			name:   "Action is the type only without a better one",
			header: []string{"Timestamp", "Action", "Description"},
			want:   map[string]string{"event_time": "Timestamp", "event_type": "Action", "description": "Description"},
		},
		{
			name:   "Event Type beats Action, which stays an attribute",
			header: []string{"Timestamp", "Action", "Event Type", "Details"},
			want:   map[string]string{"event_time": "Timestamp", "event_type": "Event Type", "description": "Details"},
		},
		{
			name:   "Event Name is the type, not a name field",
			header: []string{"Date Time", "Event Name", "User Name", "Service Name", "Folder Name"},
			want: map[string]string{"event_time": "Date Time", "event_type": "Event Name", "user_name": "User Name",
				"service_name": "Service Name", "folder_name": "Folder Name"},
		},
		{
			name:   "Event beats Event Name and Event Types",
			header: []string{"Event Types", "Event Name", "Event", "Created On"},
			want:   map[string]string{"event_time": "Created On", "event_type": "Event"},
		},
		{
			name:   "Email beats User Email",
			header: []string{"Timestamp", "Type", "User Email", "Email"},
			want:   map[string]string{"event_time": "Timestamp", "event_type": "Type", "user_name": "Email"},
		},
		{
			name:   "User Email is the user without a better one",
			header: []string{"Created Date", "Type", "User Email"},
			want:   map[string]string{"event_time": "Created Date", "event_type": "Type", "user_name": "User Email"},
		},
		{
			name:   "a date and a time beat a date",
			header: []string{"Date", "Time", "DateTime", "Type"},
			want:   map[string]string{"event_time": "DateTime", "event_type": "Type"},
		},
		{
			name:   "Event Date Time beats Event Date",
			header: []string{"Event Date", "Event Date Time", "Type"},
			want:   map[string]string{"event_time": "Event Date Time", "event_type": "Type"},
		},
		{
			name:   "a Date and a Time still make one time",
			header: []string{"Date", "Time", "Created On", "Type"},
			want:   map[string]string{"event_time": "Date", "event_type": "Type"},
			clock:  "Time",
		},
		{
			name:   "Timestamp beats Timestamp (UTC)",
			header: []string{"Timestamp (UTC)", "Timestamp", "Type"},
			want:   map[string]string{"event_time": "Timestamp", "event_type": "Type"},
		},
		{
			name:   "an earlier alias with (UTC) beats a later one without",
			header: []string{"Created On", "Timestamp (UTC)", "Type"},
			want:   map[string]string{"event_time": "Timestamp (UTC)", "event_type": "Type"},
		},
		{
			name:   "Created At beats Created On (UTC)",
			header: []string{"Created On (UTC)", "Created At", "Type"},
			want:   map[string]string{"event_time": "Created At", "event_type": "Type"},
		},
		{
			name:   "(UTC) is dropped for event_time only",
			header: []string{"Created On (UTC)", "Event Type (UTC)", "User (UTC)", "Action"},
			want:   map[string]string{"event_time": "Created On (UTC)", "event_type": "Action"},
		},
		{
			name:   "Date (UTC) and Time (UTC)",
			header: []string{"Type", "Time (UTC)", "Date (UTC)"},
			want:   map[string]string{"event_time": "Date (UTC)", "event_type": "Type"},
			clock:  "Time (UTC)",
		},
	}
	m, err := newHeaderMatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols, ok := m.mapRow(tt.header)
			if !ok {
				t.Fatalf("%q is no header row", tt.header)
			}
			got := map[string]string{}
			for f, i := range cols {
				if i >= 0 {
					got[fieldNames[f]] = tt.header[i]
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mapped %v, want %v", got, tt.want)
			}
			clock := ""
			if i := m.clockColumn(tt.header, cols); i >= 0 {
				clock = tt.header[i]
			}
			if clock != tt.clock {
				t.Errorf("time of day from %q, want %q", clock, tt.clock)
			}
		})
	}
}

// No header may mean two fields: newHeaderMatcher would give it to the
// first silently.
func TestFieldAliasesDistinct(t *testing.T) {
	owner := map[string]string{}
	for f := range numFields {
		for _, a := range append([]string{fieldNames[f]}, fieldAliases[f]...) {
			h := normalizeHeader(a)
			if prev, ok := owner[h]; ok && prev != fieldNames[f] {
				t.Errorf("alias %q of %s normalizes as one of %s does", a, fieldNames[f], prev)
			}
			owner[h] = fieldNames[f]
		}
	}
	// Nor may an event_time alias with "(UTC)" dropped be taken for
	// another field's header as it is.
	for _, a := range fieldAliases[fieldEventTime] {
		if f := owner[normalizeHeader(a+"utc")]; f != "" {
			t.Errorf("%q (UTC) normalizes as a header of %s", a, f)
		}
	}
}
