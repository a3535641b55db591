package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sparkevents/extract/sparktest"
	"sparkevents/internal/pgtest"
)

// One config file, three tenants on two Sparks, secrets from the
// environment and from a file: acme and beta are stored exactly, gamma (a
// tenant prod's Spark does not have) fails; the exit code and the summary
// say which, status --max-lag reports each, and the metrics file agrees
// with etl_runs.
func TestSyncOfAConfigFileOfTenants(t *testing.T) {
	db := pgtest.URL(t)
	now := time.Now().UTC()
	prod := sparktest.NewServer(sparktest.Options{Tenant: "acme", ClientID: "etl", ClientSecret: "prod-SECRET-1", PendingPolls: -1})
	defer prod.Close()
	uat := sparktest.NewServer(sparktest.Options{Tenant: "beta", Token: "uat-SECRET-2", PendingPolls: -1, Format: "zip"})
	defer uat.Close()
	var acme, beta []sparktest.Event
	for i := range 12 {
		acme = append(acme, sparktest.Event{ID: fmt.Sprintf("a%d", i), Time: now.Add(-time.Duration(5+i*5) * time.Hour).Truncate(time.Millisecond), Type: "SparkLogin", User: "ana@example.com"})
	}
	for i := range 7 {
		beta = append(beta, sparktest.Event{ID: fmt.Sprintf("b%d", i), Time: now.Add(-time.Duration(2+i*7) * time.Hour).Truncate(time.Second), Type: "PublishEngine", User: "bo@example.com"})
	}
	prod.AddEvents(acme...)
	uat.AddEvents(beta...)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "uat.token"), []byte("uat-SECRET-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sparkevents.yaml")
	text := `defaults:
  since: 3d
  window: 12h
connections:
  prod:
    spark_url: ` + prod.URL + `
    token_url: ` + prod.TokenURL + `
    client_id: etl
    client_secret: env:TEST_PROD_SECRET
  uat:
    spark_url: ` + uat.URL + `
    token: file:uat.token
tenants:
  - name: acme
    connection: prod
  - name: beta
    connection: uat
    window: 1d
  - name: gamma
    connection: prod
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db, "SPARKEVENTS_CONFIG": cfg, "TEST_PROD_SECRET": "prod-SECRET-1",
		"SPARK_TENANT": "", "SPARK_TOKEN": "", "SPARK_URL": "",
		// The schema queried below.
		"SPARKEVENTS_SCHEMA": "sparkevents"}

	code, out := run(t, env, "sync", "--no-progress", "--log-level", "error")
	if code != exitSpark {
		t.Fatalf("sync: exit %d, want %d (gamma's Spark error):\n%s", code, exitSpark, out)
	}
	for _, want := range []string{"sync acme:", "sync beta:", "tenants: 2 succeeded (acme, beta), 1 failed", "FAILED gamma (exit 5)", "error: 1 of 3 tenants failed: gamma"} {
		if !strings.Contains(out, want) {
			t.Fatalf("sync output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Fatalf("the output shows a secret:\n%s", out)
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	wantStored(t, conn, "acme", acme)
	wantStored(t, conn, "beta", beta)
	wantStored(t, conn, "gamma", nil)

	code, out = run(t, env, "status", "--max-lag", "1h")
	if code != exitStale || !strings.Contains(out, "tenant gamma has no watermark") || strings.Contains(out, "tenant acme:") || strings.Contains(out, "tenant beta:") {
		t.Fatalf("status --max-lag: exit %d, want %d for gamma alone:\n%s", code, exitStale, out)
	}
	for _, tenant := range []string{"acme", "beta", "gamma"} {
		if !strings.Contains(out, "\n"+tenant+" ") {
			t.Fatalf("status lists no line for %s:\n%s", tenant, out)
		}
	}
	if code, out := run(t, env, "status", "--max-lag", "1h", "--tenant", "beta"); code != exitOK {
		t.Fatalf("status --tenant beta: exit %d:\n%s", code, out)
	}

	// A second run, for machines: its summary as JSON log records, its
	// metrics in a file and at a Pushgateway, checked against etl_runs.
	prod.AddEvents(sparktest.Event{ID: "a-new", Time: now.Add(-30 * time.Minute), Type: "SparkLogin", User: "cy@example.com"})
	var before int64
	if err := conn.QueryRow(context.Background(), "SELECT max(run_id) FROM sparkevents.etl_runs").Scan(&before); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		groups []string
	)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		groups = append(groups, r.Method+" "+r.URL.Path)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
	}))
	defer gw.Close()
	prom := filepath.Join(dir, "sparkevents.prom")
	code, out = run(t, env, "sync", "--no-progress", "--log-format", "json", "--metrics-file", prom, "--pushgateway", gw.URL, "--tenants-parallel", "3")
	if code != exitSpark {
		t.Fatalf("second sync: exit %d:\n%s", code, out)
	}
	records := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if m, _ := rec["msg"].(string); m == "sync done" || m == "sync failed" {
			records[rec["tenant"].(string)] = rec
		} else if m == "tenants synced" {
			records["*"] = rec
		}
	}
	if records["acme"]["msg"] != "sync done" || records["acme"]["inserted"] != 1.0 || records["gamma"]["msg"] != "sync failed" ||
		records["*"] == nil || !strings.Contains(fmt.Sprint(records["*"]["failed"]), "gamma") {
		t.Fatalf("JSON records: %v\n%s", records, out)
	}
	if strings.Contains(out, "sync acme:") {
		t.Fatalf("under --log-format json the summary is still text:\n%s", out)
	}
	if len(groups) != 3 || !strings.Contains(strings.Join(groups, " "), "PUT /metrics/job/sparkevents/tenant/gamma") {
		t.Fatalf("pushed %v, want one group per tenant", groups)
	}

	f, err := os.Open(prom)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	metric := func(name, tenant string, labels ...string) float64 {
		t.Helper()
	next:
		for _, m := range mfs[name].GetMetric() {
			want := append([]string{"tenant", tenant}, labels...)
			for i := 0; i < len(want); i += 2 {
				if !hasLabel(m, want[i], want[i+1]) {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetGauge().GetValue()
		}
		t.Fatalf("no %s for tenant %s %v", name, tenant, labels)
		return 0
	}
	for _, tenant := range []string{"acme", "beta"} {
		var runs, read, inserted, updated, unchanged, rejected int64
		err := conn.QueryRow(context.Background(), `SELECT count(*), sum(rows_read), sum(rows_inserted), sum(rows_updated), sum(rows_unchanged), sum(rows_rejected)
			FROM sparkevents.etl_runs WHERE tenant = $1 AND run_id > $2 AND kind = 'sync' AND status = 'succeeded'`, tenant, before).
			Scan(&runs, &read, &inserted, &updated, &unchanged, &rejected)
		if err != nil {
			t.Fatal(err)
		}
		var wm, last time.Time
		if err := conn.QueryRow(context.Background(), `SELECT w.watermark, (SELECT max(finished_at) FROM sparkevents.etl_runs WHERE tenant = $1)
			FROM sparkevents.etl_watermarks w WHERE tenant = $1`, tenant).Scan(&wm, &last); err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name  string
			label []string
			want  float64
		}{
			{"sparkevents_sync_success", nil, 1},
			{"sparkevents_sync_windows", nil, float64(runs)},
			{"sparkevents_sync_export_jobs", nil, float64(runs)},
			{"sparkevents_sync_export_job_seconds", nil, float64(runs)},
			{"sparkevents_sync_rows", []string{"outcome", "read"}, float64(read)},
			{"sparkevents_sync_rows", []string{"outcome", "inserted"}, float64(inserted)},
			{"sparkevents_sync_rows", []string{"outcome", "updated"}, float64(updated)},
			{"sparkevents_sync_rows", []string{"outcome", "unchanged"}, float64(unchanged)},
			{"sparkevents_sync_rows", []string{"outcome", "rejected"}, float64(rejected)},
			{"sparkevents_watermark_timestamp_seconds", nil, float64(wm.UnixNano()) / 1e9},
		}
		for _, c := range checks {
			if got := metric(c.name, tenant, c.label...); got != c.want {
				t.Errorf("%s{tenant=%s %v} = %v, etl_runs says %v", c.name, tenant, c.label, got, c.want)
			}
		}
		if got := metric("sparkevents_sync_last_success_timestamp_seconds", tenant); got < float64(last.Unix()) {
			t.Errorf("%s's last success %v is before its last run finished, %v", tenant, got, last)
		}
	}
	if metric("sparkevents_sync_rows", "acme", "outcome", "inserted") != 1 {
		t.Errorf("acme's second sync inserted %v, want the 1 new event", metric("sparkevents_sync_rows", "acme", "outcome", "inserted"))
	}
	if got := metric("sparkevents_sync_success", "gamma"); got != 0 {
		t.Errorf("gamma's success = %v, want 0", got)
	}

	code, out = run(t, env, "runs", "--format", "csv", "--limit", "0")
	if code != exitOK || strings.Count(out, "\n") < 2 || !strings.HasPrefix(out, "run_id,kind,tenant,status") {
		t.Fatalf("runs --format csv: exit %d:\n%s", code, out)
	}
	code, out = run(t, env, "runs", "--format", "json", "--tenant", "beta")
	var rs []struct {
		Tenant   string `json:"tenant"`
		Inserted int64  `json:"rows_inserted"`
	}
	if err := json.Unmarshal([]byte(out), &rs); code != exitOK || err != nil || len(rs) == 0 {
		t.Fatalf("runs --format json: exit %d, %v:\n%s", code, err, out)
	}
	for _, r := range rs {
		if r.Tenant != "beta" {
			t.Fatalf("runs --tenant beta lists %s", r.Tenant)
		}
	}
}

// A config file takes the flags' grammar of durations and times, a flag or
// its variable given beside it wins, and the new flags have variables.
func TestConfigFileInTheFlagsGrammar(t *testing.T) {
	db := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: -1})
	defer spark.Close()
	spark.AddEvents(sparktest.Event{ID: "a", Time: time.Now().Add(-3 * time.Hour), Type: "SparkLogin", User: "ana@example.com"})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tenants.yaml")
	text := `defaults:
  since: 1w2d
  window: 1w
  lookback: 0
connections:
  c:
    spark_url: ` + spark.URL + `
    token: env:TEST_GRAMMAR_TOKEN
tenants:
  - name: acme
    connection: c
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db, "SPARKEVENTS_CONFIG": cfg, "TEST_GRAMMAR_TOKEN": "tok",
		"SPARK_TENANT": "", "SPARK_TOKEN": "", "SPARK_URL": "", "SPARKEVENTS_DRY_RUN": "true",
		// run's variables last to the end of the test: each case sets all.
		"SPARKEVENTS_TENANTS_PARALLEL": "", "SPARKEVENTS_METRICS_FILE": "", "SPARK_TOKEN_FILE": ""}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		args    []string
		windows string
	}{
		{"the file's", nil, nil, "2 windows"},
		{"a flag over the file", nil, []string{"--window", "2d"}, "5 windows"},
		{"a variable over the file", map[string]string{"SPARKEVENTS_WINDOW": "3d"}, nil, "3 windows"},
		{"a since over the file", nil, []string{"--since", "2w"}, "2 windows"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := maps.Clone(env)
			maps.Copy(e, tt.env)
			code, out := run(t, e, append([]string{"sync", "--no-progress"}, tt.args...)...)
			if code != exitOK || !strings.Contains(out, "sync acme: "+tt.windows) {
				t.Fatalf("exit %d, want %q:\n%s", code, tt.windows, out)
			}
		})
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(text, "window: 1w", "window: 1y", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := maps.Clone(env)
	e["SPARKEVENTS_CONFIG"] = bad
	if code, out := run(t, e, "sync", "--no-progress"); code != exitUsage || !strings.Contains(out, `line 3: "1y" is not a duration: give a number and a unit: 90s, 15m, 36h, 30d or 2w`) {
		t.Fatalf("window: 1y: exit %d:\n%s", code, out)
	}

	// The new flags read their variables.
	e = maps.Clone(env)
	e["SPARKEVENTS_TENANTS_PARALLEL"] = "0"
	if code, out := run(t, e, "sync", "--no-progress"); code != exitUsage || !strings.Contains(out, "--tenants-parallel") {
		t.Fatalf("SPARKEVENTS_TENANTS_PARALLEL=0: exit %d:\n%s", code, out)
	}
	e = maps.Clone(env)
	e["SPARKEVENTS_DRY_RUN"] = "false"
	e["SPARKEVENTS_METRICS_FILE"] = filepath.Join(dir, "m.prom")
	if code, out := run(t, e, "sync", "--no-progress"); code != exitOK {
		t.Fatalf("sync: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(e["SPARKEVENTS_METRICS_FILE"]); err != nil {
		t.Fatalf("SPARKEVENTS_METRICS_FILE: %v", err)
	}
	if code, out := run(t, map[string]string{"DATABASE_URL": db, "SPARKEVENTS_CONFIG": cfg, "SPARK_TENANT": "", "SPARKEVENTS_FORMAT": "csv"}, "runs"); code != exitOK || !strings.HasPrefix(out, "run_id,kind,tenant") {
		t.Fatalf("runs with SPARKEVENTS_FORMAT=csv: exit %d:\n%s", code, out)
	}

	// A secret file is a credential: over two tenants it is refused.
	two := filepath.Join(dir, "two.yaml")
	if err := os.WriteFile(two, []byte(text+"  - name: beta\n    connection: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e = maps.Clone(env)
	e["SPARKEVENTS_CONFIG"], e["SPARK_TOKEN_FILE"] = two, token
	if code, out := run(t, e, "sync", "--no-progress"); code != exitUsage || !strings.Contains(out, "--token-file (or its environment variable, SPARK_TOKEN_FILE)") {
		t.Fatalf("SPARK_TOKEN_FILE over two tenants: exit %d:\n%s", code, out)
	}
}

// A tenant mistyped once (SPARK_TENANT=nope) keeps status --max-lag
// failing until retire forgets it.
func TestRetireForgetsATypo(t *testing.T) {
	db := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: -1})
	defer spark.Close()
	spark.AddEvents(sparktest.Event{ID: "a", Time: time.Now().Add(-3 * time.Hour), Type: "SparkLogin", User: "ana@example.com"})
	env := map[string]string{"DATABASE_URL": db, "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "tok", "SPARKEVENTS_CONFIG": ""}
	if code, out := run(t, env, "sync", "--since", "1d", "--no-progress"); code != exitOK {
		t.Fatalf("sync: exit %d:\n%s", code, out)
	}
	// A known export cap skips the probe: the typo fails a window, which
	// is recorded.
	env["SPARK_TENANT"] = "nope"
	if code, out := run(t, env, "sync", "--since", "1d", "--export-cap", "1000", "--no-progress"); code != exitSpark {
		t.Fatalf("sync of nope: exit %d:\n%s", code, out)
	}
	env["SPARK_TENANT"] = ""
	if code, out := run(t, env, "status", "--max-lag", "1h"); code != exitStale || !strings.Contains(out, "tenant nope has no watermark") {
		t.Fatalf("status after the typo: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "retire", "--tenant", "nope"); code != exitOK || !strings.Contains(out, "dry run: nothing deleted") {
		t.Fatalf("retire without --yes: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "status", "--max-lag", "1h"); code != exitStale {
		t.Fatalf("a dry run retired nope: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "retire", "--tenant", "nope", "--yes"); code != exitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("retire --yes: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "status", "--max-lag", "1h"); code != exitOK || strings.Contains(out, "nope") {
		t.Fatalf("status after retiring nope: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "retire"); code != exitUsage {
		t.Fatalf("retire without --tenant: exit %d:\n%s", code, out)
	}
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// wantStored checks that tenant's stored events are exactly evs.
func wantStored(t *testing.T, conn *pgx.Conn, tenant string, evs []sparktest.Event) {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT event_id, event_time FROM sparkevents.spark_events WHERE tenant = $1", tenant)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	var (
		id string
		at time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { got[id] = at; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("tenant %s: %d events stored, want %d", tenant, len(got), len(evs))
	}
	for _, e := range evs {
		if at, ok := got[e.ID]; !ok || !at.Equal(e.Time) {
			t.Fatalf("tenant %s: event %s stored at %v (%v), want %v", tenant, e.ID, at, ok, e.Time)
		}
	}
}
