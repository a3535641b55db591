package analyst

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// runJSON runs a library query through RunQuery's json format and returns
// the given columns of every row as strings ("" for null).
func runJSON(t *testing.T, pool *pgxpool.Pool, name string, params map[string]string, cols ...string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var buf bytes.Buffer
	if err := RunQuery(ctx, pool, name, params, "json", &buf); err != nil {
		t.Fatalf("RunQuery(%s, %v): %v", name, params, err)
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%s: decode json: %v\n%s", name, err, buf.String())
	}
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		var row []string
		for _, c := range cols {
			v, ok := r[c]
			if !ok {
				t.Fatalf("%s: no column %q in %v", name, c, r)
			}
			if v == nil {
				v = ""
			}
			row = append(row, fmt.Sprint(v))
		}
		out = append(out, row)
	}
	return out
}

func TestQueriesAreDocumented(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"daily_active_users", "dormant_users", "event_volume_anomalies", "logins_by_hour_and_weekday",
		"permission_changes_by_folder", "service_version_history", "top_services_by_publishes", "who_deleted_what",
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("Queries() = %v, want %v", names, want)
	}
	for _, q := range qs {
		if !strings.HasSuffix(q.Question, "?") && !strings.Contains(q.Question, "? ") {
			t.Errorf("%s: question %q asks nothing", q.Name, q.Question)
		}
		if !strings.Contains(q.Example, "PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql \"$DATABASE_URL\"") ||
			!strings.HasSuffix(q.Example, "-f sql/"+q.Name+".sql") {
			t.Errorf("%s: example %q does not run this file the documented way", q.Name, q.Example)
		}
		if len(q.Params) == 0 {
			t.Errorf("%s: no parameters", q.Name)
		}
		for _, p := range q.Params {
			if p.Doc == "" {
				t.Errorf("%s: parameter %s has no description", q.Name, p.Name)
			}
		}
	}
}

func TestLibraryAnswers(t *testing.T) {
	pool := loaded(t)
	tests := []struct {
		query  string
		params map[string]string
		cols   []string
		want   [][]string
	}{
		{
			query:  "daily_active_users",
			params: map[string]string{"from": "2026-01-19", "to": "2026-01-30", "tenant": "acme"},
			cols:   []string{"day", "active_users", "events"},
			want: [][]string{
				{"2026-01-19", "2", "2"},
				{"2026-01-20", "2", "41"},
				{"2026-01-21", "1", "2"},
				{"2026-01-22", "1", "1"},
				{"2026-01-23", "1", "1"},
				// no 24th: nobody did anything
				{"2026-01-25", "2", "2"},
				{"2026-01-26", "2", "2"},
				{"2026-01-27", "2", "2"},
				{"2026-01-28", "2", "3"},
				{"2026-01-29", "1", "2"}, // the RecompileNeuron has no user
			},
		},
		{
			query:  "daily_active_users",
			params: map[string]string{"to": "2026-01-06"},
			cols:   []string{"day", "active_users", "events"},
			want: [][]string{
				{"2026-01-01", "1", "1"},
				{"2026-01-02", "2", "3"},
				{"2026-01-03", "1", "2"},
				{"2026-01-04", "1", "2"},
				{"2026-01-05", "3", "4"}, // alice, bob and beta's eve
			},
		},
		{
			query: "top_services_by_publishes",
			cols:  []string{"tenant", "folder_name", "service_name", "publishes", "updates", "publishers", "last_published"},
			want: [][]string{
				{"acme", "Pricing", "Quote", "2", "1", "1", "2026-01-21 10:00:00+00"},
				{"acme", "Claims", "Triage", "1", "0", "1", "2026-01-06 10:00:00+00"},
				{"acme", "Pricing", "Rates", "1", "0", "1", "2026-01-04 10:00:00+00"},
				{"beta", "Misc", "Other", "1", "0", "1", "2026-01-05 09:30:00+00"},
			},
		},
		{
			query:  "top_services_by_publishes",
			params: map[string]string{"limit": "1", "from": "2026-01-04"},
			cols:   []string{"service_name", "publishes", "updates"},
			want:   [][]string{{"Quote", "1", "1"}},
		},
		{
			query: "who_deleted_what",
			cols:  []string{"event_time", "tenant", "user_name", "deleted", "folder_name", "service_name", "service_version"},
			want: [][]string{
				{"2026-01-17 11:00:00+00", "acme", "bob", "service version", "Pricing", "Quote", "v1"},
				{"2026-01-25 12:00:00+00", "acme", "bob", "service", "Pricing", "Rates", "v1"},
				{"2026-01-27 13:00:00+00", "acme", "bob", "product document", "Claims", "", ""},
				{"2026-01-28 09:00:00+00", "acme", "dave", "transform", "Claims", "", ""},
			},
		},
		{
			query:  "who_deleted_what",
			params: map[string]string{"user_name": "dave"},
			cols:   []string{"user_name", "event_type"},
			want:   [][]string{{"dave", "DeleteTransform"}},
		},
		{
			query:  "logins_by_hour_and_weekday",
			params: map[string]string{"tenant": "acme"},
			cols:   []string{"weekday", "weekday_name", "hour", "logins", "users"},
			// Only the non-zero cells; the zero ones are checked below.
			want: [][]string{
				{"1", "Mon", "9", "4", "1"},
				{"1", "Mon", "14", "4", "1"},
				{"2", "Tue", "9", "4", "1"},
				{"3", "Wed", "9", "4", "1"},
				{"4", "Thu", "9", "5", "1"},
				{"5", "Fri", "8", "1", "1"},
				{"5", "Fri", "9", "5", "1"},
				{"6", "Sat", "9", "4", "1"}, // the 24th is a Saturday without a log-in
				{"7", "Sun", "9", "4", "1"},
			},
		},
		{
			query:  "dormant_users",
			params: map[string]string{"as_of": "2026-02-01", "days": "14"},
			cols:   []string{"tenant", "user_name", "last_seen", "events", "days_idle"},
			want: [][]string{
				{"acme", "carol", "2026-01-02 08:05:00+00", "2", "29"},
				{"beta", "eve", "2026-01-05 09:30:00+00", "2", "26"},
			},
		},
		{
			query:  "dormant_users",
			params: map[string]string{"as_of": "2026-01-10", "days": "5", "tenant": "acme"},
			cols:   []string{"user_name", "last_seen"},
			// bob's last event before the 10th is his log-in on the 5th at 14:30: not idle 5 days.
			want: [][]string{{"carol", "2026-01-02 08:05:00+00"}},
		},
		{
			query:  "service_version_history",
			params: map[string]string{"service": "Quote"},
			cols:   []string{"service_name", "step", "event_time", "action", "service_version", "user_name"},
			want: [][]string{
				{"Quote", "1", "2026-01-03 10:00:00+00", "publish", "v1", "alice"},
				{"Quote", "2", "2026-01-10 10:00:00+00", "update", "v2", "alice"},
				{"Quote", "3", "2026-01-15 11:00:00+00", "deactivate", "v2", "bob"},
				{"Quote", "4", "2026-01-16 11:00:00+00", "activate", "v2", "bob"},
				{"Quote", "5", "2026-01-17 11:00:00+00", "delete version", "v1", "bob"},
				{"Quote", "6", "2026-01-21 10:00:00+00", "publish", "v3", "alice"},
			},
		},
		{
			query:  "service_version_history",
			params: map[string]string{"folder": "Claims"},
			cols:   []string{"tenant", "service_name", "step", "action"},
			want:   [][]string{{"acme", "Triage", "1", "publish"}},
		},
		{
			query: "permission_changes_by_folder",
			cols:  []string{"tenant", "folder_id", "folder_name", "changes", "added", "removed", "modified", "changed_by", "last_change"},
			want: [][]string{
				{"acme", "f1", "Pricing", "3", "2", "1", "0", "1", "2026-01-09 10:00:00+00"},
				{"acme", "f2", "Claims", "2", "1", "0", "1", "2", "2026-01-12 15:00:00+00"},
			},
		},
		{
			query:  "permission_changes_by_folder",
			params: map[string]string{"from": "2026-01-08", "to": "2026-01-09"},
			cols:   []string{"folder_name", "changes", "added"},
			want:   [][]string{{"Pricing", "1", "1"}},
		},
		{
			// The trailing median before the 20th and the 24th is 2 events a day.
			// The period ends with the dataset: the days after it are judged
			// too, as days without events (TestEventVolumeAnomaliesJudgesDaysWithoutEvents).
			query:  "event_volume_anomalies",
			params: map[string]string{"tenant": "acme", "to": "2026-02-01"},
			cols:   []string{"day", "events", "trailing_median", "ratio", "direction"},
			want: [][]string{
				{"2026-01-20", "41", "2", "20.50", "high"},
				{"2026-01-24", "0", "2", "0.00", "low"},
			},
		},
		{
			query:  "event_volume_anomalies",
			params: map[string]string{"factor": "25", "to": "2026-02-01"},
			cols:   []string{"day", "direction"},
			want:   [][]string{{"2026-01-24", "low"}},
		},
		{
			// beta has one day of events: never enough history to judge.
			query:  "event_volume_anomalies",
			params: map[string]string{"tenant": "beta"},
			cols:   []string{"day"},
			want:   [][]string{},
		},
		{
			query:  "event_volume_anomalies",
			params: map[string]string{"from": "2026-01-22", "to": "2026-02-01", "tenant": "acme"},
			cols:   []string{"day", "direction"},
			want:   [][]string{{"2026-01-24", "low"}},
		},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.query, tt.params), func(t *testing.T) {
			got := runJSON(t, pool, tt.query, tt.params, tt.cols...)
			if tt.query == "logins_by_hour_and_weekday" {
				if len(got) != 7*24 {
					t.Errorf("%d rows, want 168", len(got))
				}
				var nonzero [][]string
				for _, r := range got {
					if r[3] != "0" {
						nonzero = append(nonzero, r)
					}
				}
				got = nonzero
			}
			equalRows(t, tt.query, got, tt.want)
		})
	}
}

// TestLibraryRunsOnEmptyDatabase: a fresh install must not make any query
// fail, e.g. on an empty series of days.
func TestLibraryRunsOnEmptyDatabase(t *testing.T) {
	pool, _ := migrated(t)
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		// A runaway series (once: -infinity to infinity) must fail, not fill the disk.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var buf bytes.Buffer
		if err := RunQuery(ctx, pool, q.Name, nil, "table", &buf); err != nil {
			t.Errorf("%s: %v", q.Name, err)
		}
		cancel()
	}
}

func TestRunQueryFormats(t *testing.T) {
	pool := loaded(t)
	params := map[string]string{"limit": "2", "tenant": "acme"}
	tests := []struct {
		format string
		want   string
	}{
		{"table", "" +
			" tenant | folder_name | service_name | publishes | updates | publishers |     last_published\n" +
			"--------+-------------+--------------+-----------+---------+------------+------------------------\n" +
			" acme   | Pricing     | Quote        |         2 |       1 |          1 | 2026-01-21 10:00:00+00\n" +
			" acme   | Claims      | Triage       |         1 |       0 |          1 | 2026-01-06 10:00:00+00\n" +
			"(2 rows)\n"},
		{"csv", "" +
			"tenant,folder_name,service_name,publishes,updates,publishers,last_published\n" +
			"acme,Pricing,Quote,2,1,1,2026-01-21 10:00:00+00\n" +
			"acme,Claims,Triage,1,0,1,2026-01-06 10:00:00+00\n"},
		{"json", "[\n" +
			`  {"tenant": "acme", "folder_name": "Pricing", "service_name": "Quote", "publishes": 2, "updates": 1, "publishers": 1, "last_published": "2026-01-21 10:00:00+00"},` + "\n" +
			`  {"tenant": "acme", "folder_name": "Claims", "service_name": "Triage", "publishes": 1, "updates": 0, "publishers": 1, "last_published": "2026-01-06 10:00:00+00"}` + "\n" +
			"]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RunQuery(context.Background(), pool, "top_services_by_publishes", params, tt.format, &buf); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}

// TestRunQueryValues checks how NULLs, text needing quotes, and numbers
// print in each format: the who_deleted_what rows have empty services and a
// description with a comma, quotes and HTML.
func TestRunQueryValues(t *testing.T) {
	pool := loaded(t)
	params := map[string]string{"from": "2026-01-27", "to": "2026-01-28"}
	tests := []struct {
		format string
		want   []string
	}{
		{"json", []string{`"service_name": null`, `"description": "\u003cb\u003espec\u003c/b\u003e \u0026 \"notes\""`}},
		{"csv", []string{`,"<b>spec</b> & ""notes""",`, "Claims,,,"}},
		{"table", []string{"| <b>spec</b> & \"notes\" |", "(1 row)\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := RunQuery(context.Background(), pool, "who_deleted_what", params, tt.format, &buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, buf.String())
				}
			}
		})
	}
}

func TestRunQueryErrors(t *testing.T) {
	pool, _ := migrated(t)
	tests := []struct {
		name   string
		query  string
		params map[string]string
		format string
		want   []string
	}{
		{"unknown query", "nope", nil, "table", []string{`no query "nope"`, "daily_active_users", "who_deleted_what"}},
		{"unknown parameter", "daily_active_users", map[string]string{"form": "2026-01-01"}, "table",
			[]string{`no parameter "form"`, "from, to, tenant"}},
		{"unknown format", "daily_active_users", nil, "xml", []string{`unknown format "xml"`}},
		{"value the SQL cannot cast", "dormant_users", map[string]string{"days": "thirty"}, "table",
			[]string{"query dormant_users", "invalid input syntax for type integer", "thirty"}},
		{"value that would be SQL if spliced", "who_deleted_what", map[string]string{"user_name": "x' OR '1'='1"}, "csv",
			nil}, // bound, so it only matches nobody
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := RunQuery(context.Background(), pool, tt.query, tt.params, tt.format, &buf)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if lines := strings.Count(buf.String(), "\n"); lines != 1 {
					t.Errorf("%d lines, want the header only:\n%s", lines, buf.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; output:\n%s", buf.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRunQueryIsReadOnly: the runner must not become a way to write, even
// if a library file did.
func TestRunQueryIsReadOnly(t *testing.T) {
	pool, _ := migrated(t)
	_, err := runReadOnly(context.Background(), pool, "DELETE FROM spark_events", nil)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("DELETE in the runner's transaction: %v, want a read-only error", err)
	}
}

func TestBindVariables(t *testing.T) {
	tests := []struct {
		name, sql, want string
		names           []string
		err             string
	}{
		{"casts and reuse", "SELECT :'a'::int, :'b', :'a'", "SELECT $1::text::int, $2::text, $1::text", []string{"a", "b"}, ""},
		{"cast after a column", "SELECT x::date FROM t WHERE y = :'y'", "SELECT x::date FROM t WHERE y = $1::text", []string{"y"}, ""},
		{"string literal", "SELECT ':''a''', :'b'", "SELECT ':''a''', $1::text", []string{"b"}, ""},
		{"escape string", `SELECT E'\':a', :'b'`, `SELECT E'\':a', $1::text`, []string{"b"}, ""},
		{"quoted identifier", `SELECT 1 AS ":'a'"`, `SELECT 1 AS ":'a'"`, nil, ""},
		{"line comment", "SELECT 1 -- :'a'\n, :'b'", "SELECT 1 -- :'a'\n, $1::text", []string{"b"}, ""},
		{"block comment", "SELECT /* :'a' /* :x */ */ :'b'", "SELECT /* :'a' /* :x */ */ $1::text", []string{"b"}, ""},
		{"dollar quote", "SELECT $f$ :'a' $f$, $$:x$$, :'b'", "SELECT $f$ :'a' $f$, $$:x$$, $1::text", []string{"b"}, ""},
		{"array slice by number", "SELECT a[1:2]", "SELECT a[1:2]", nil, ""},
		{"raw interpolation", "SELECT :a", "", nil, "only :'name'"},
		{"identifier interpolation", `SELECT * FROM :"t"`, "", nil, "only :'name'"},
		{"existence test", "SELECT :{?a}", "", nil, "only :'name'"},
		{"malformed", "SELECT :'a b'", "", nil, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, names, err := bindVariables(tt.sql)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Errorf("bindVariables(%q) = %q, %q; want %q, %q", tt.sql, got, names, tt.want, tt.names)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	const good = `-- Are there events?
-- Even two lines?
--
-- Parameters:
--   from: start
--   label: a word
--
-- Example:
--   psql -f sql/x.sql

\if :{?from} \else \set from '-infinity' \endif
\if :{?label} \else \set label 'it''s' \endif

SELECT :'label', count(*) FROM t WHERE at >= :'from'::timestamptz;
`
	q, err := parseQuery("x", good)
	if err != nil {
		t.Fatal(err)
	}
	if q.Question != "Are there events? Even two lines?" || q.Example != "psql -f sql/x.sql" || q.SQL != good {
		t.Errorf("parsed %+v", q)
	}
	wantParams := []Param{{"from", "-infinity", "start"}, {"label", "it's", "a word"}}
	if fmt.Sprint(q.Params) != fmt.Sprint(wantParams) {
		t.Errorf("params %v, want %v", q.Params, wantParams)
	}

	bad := []struct{ name, from, to, err string }{
		{"undocumented default", "--   label: a word\n", "", "does not describe"},
		{"no default", `\if :{?label} \else \set label 'it''s' \endif`, "", "no psql default"},
		{"unused parameter", "SELECT :'label',", "SELECT", "never used"},
		{"undocumented use", "WHERE at", "WHERE :'other' = '' AND at", "does not describe"},
		{"other meta-command", "SELECT :'label'", "\\timing on\nSELECT :'label'", "not a parameter default"},
		{"no example", "-- Example:\n--   psql -f sql/x.sql\n", "", "no Example"},
		{"raw variable", "FROM t", "FROM :t", "only :'name'"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(good, tt.from, tt.to, 1)
			if text == good {
				t.Fatal("the edit changed nothing")
			}
			if _, err := parseQuery("x", text); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want one containing %q", err, tt.err)
			}
		})
	}

	// A library is read file by file, sorted, and names the file at fault.
	lib := fstest.MapFS{"b.sql": {Data: []byte(good)}, "a.sql": {Data: []byte(good)}, "c.txt": {Data: []byte("x")}}
	qs, err := parseLibrary(lib)
	if err != nil || len(qs) != 2 || qs[0].Name != "a" || qs[1].Name != "b" {
		t.Errorf("parseLibrary = %v, %v", qs, err)
	}
	lib["c.sql"] = &fstest.MapFile{Data: []byte("SELECT 1")}
	if _, err := parseLibrary(lib); err == nil || !strings.Contains(err.Error(), "c.sql") {
		t.Errorf("parseLibrary with a bad file: %v", err)
	}
}
