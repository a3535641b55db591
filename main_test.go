package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/urfave/cli/v2"
	"github.com/xuri/excelize/v2"

	"sparkevents/extract/sparktest"
	"sparkevents/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// run runs the CLI as a user would and returns its exit code and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	ctx := context.Background()
	err := app.RunContext(ctx, append([]string{"sparkevents"}, args...))
	if err != nil {
		out.WriteString("error: " + err.Error())
	}
	return exitCode(ctx, err), out.String()
}

func TestExitCodesForUsageAndConnectionErrors(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	unreachable := "postgres://nobody@127.0.0.1:1/x?connect_timeout=2"
	spark := []string{"sync", "--spark-url", "http://127.0.0.1:1", "--tenant", "t", "--token", "x"}
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown flag", []string{"sync", "--bogus"}, exitUsage},
		{"import without files", []string{"import", "--tenant", "t"}, exitUsage},
		{"import with a flag after the files", []string{"import", "--tenant", "t", "a.xlsx", "--dry-run"}, exitUsage},
		{"query with a flag after the name", []string{"query", "daily_active_users", "--format", "csv"}, exitUsage},
		{"sync without spark url", []string{"sync", "--tenant", "t", "--token", "x"}, exitUsage},
		{"sync without credentials", []string{"sync", "--spark-url", "http://127.0.0.1:1", "--tenant", "t"}, exitUsage},
		{"bad log format", []string{"status", "--log-format", "xml"}, exitUsage},
		{"bad --since", []string{"sync", "--spark-url", "http://127.0.0.1:1", "--tenant", "t", "--token", "x", "--since", "someday"}, exitUsage},
		{"database unreachable", []string{"status", "--database-url", unreachable}, exitDatabase},
		{"unknown command", []string{"synk"}, exitUsage},
		{"import without a tenant", []string{"import", "a.xlsx"}, exitUsage},
		{"backfill without --from", []string{"backfill", "--spark-url", "http://127.0.0.1:1", "--tenant", "t", "--token", "x"}, exitUsage},
		{"unknown query", []string{"query", "no_such_question"}, exitUsage},
		{"sync with a stray argument", append(spark, "--event-type", "A", "B", "--dry-run"), exitUsage},
		{"sync with an argument", append(spark, "now"), exitUsage},
		{"status with an argument", []string{"status", "acme"}, exitUsage},
		{"migrate up with an argument", []string{"migrate", "up", "5"}, exitUsage},
		{"sync with a filter", append(spark, "--user", "ann@x.com"), exitUsage},
		{"sync with a negative settle", append(spark, "--settle", "-1h"), exitUsage},
		{"sync with a negative lookback", append(spark, "--lookback", "-1h"), exitUsage},
		{"sync with a page size of 0", append(spark, "--page-size", "0"), exitUsage},
		{"sync with a job timeout of 0", append(spark, "--job-timeout", "0s"), exitUsage},
		{"backfill with a negative overlap", []string{"backfill", "--spark-url", "http://127.0.0.1:1", "--tenant", "t", "--token", "x", "--from", "1d", "--overlap", "-1m"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, out := run(t, nil, tt.args...); code != tt.want {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tt.want, out)
			}
		})
	}
}

// On a database the tool never wrote to, or under a mistyped --schema,
// every reading command says what to do, with the database's exit code;
// a query asked wrongly is a usage error.
func TestCommandsOnASchemaWithoutTables(t *testing.T) {
	url := pgtest.URL(t)
	tests := []struct {
		args []string
		want int
		say  string
	}{
		{[]string{"status"}, exitDatabase, "run sparkevents migrate up"},
		{[]string{"runs"}, exitDatabase, "run sparkevents migrate up"},
		{[]string{"query", "daily_active_users"}, exitDatabase, `schema "nosuch" has no sparkevents tables`},
		{[]string{"report", "-o", filepath.Join(t.TempDir(), "r.html")}, exitDatabase, "check --schema"},
		{[]string{"query", "--format", "xml", "daily_active_users"}, exitUsage, `unknown format "xml"`},
		{[]string{"query", "--param", "foo=1", "daily_active_users"}, exitUsage, `no parameter "foo"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out := run(t, map[string]string{"DATABASE_URL": url, "SPARKEVENTS_SCHEMA": "nosuch"}, tt.args...)
			if code != tt.want || !strings.Contains(out, tt.say) {
				t.Fatalf("exit code %d, want %d saying %q; output:\n%s", code, tt.want, tt.say, out)
			}
		})
	}
}

func TestImportCommandReportsCountsAndIsIdempotent(t *testing.T) {
	url := pgtest.URL(t)
	path := t.TempDir() + "/events.xlsx"
	f := excelize.NewFile()
	rows := [][]any{
		{"Event ID", "Timestamp", "Event Type", "User Name"},
		{"e1", "2026-03-01T10:00:00Z", "SparkLogin", "Ana@Example.com"},
		{"e2", "2026-03-01T11:00:00.125Z", "PublishEngine", "bo@example.com"},
		{"e3", "not a date", "SparkLogin", "bo@example.com"},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		f.SetSheetRow("Sheet1", cell, &r)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	// A dry run parses without a database.
	code, out := run(t, map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x"}, "import", "--tenant", "acme", "--dry-run", path)
	if code != exitOK || !regexpFields(out, path, "2", "0", "0", "0", "1") {
		t.Fatalf("dry-run import without a database (exit %d):\n%s", code, out)
	}
	env := map[string]string{"DATABASE_URL": url}
	code, out = run(t, env, "import", "--tenant", "acme", "--no-progress", path)
	if code != exitOK {
		t.Fatalf("first import exit %d:\n%s", code, out)
	}
	if !regexpFields(out, path, "2", "2", "0", "0", "1") {
		t.Fatalf("first import output lacks read 2, inserted 2, rejected 1:\n%s", out)
	}
	code, out = run(t, env, "import", "--tenant", "acme", "--no-progress", path)
	if code != exitOK || !regexpFields(out, path, "2", "0", "0", "2", "1") {
		t.Fatalf("second import (exit %d) should report 2 unchanged:\n%s", code, out)
	}
	code, out = run(t, env, "import", "--tenant", "acme", "--max-rejects", "0", path)
	if code != exitInput {
		t.Fatalf("import over --max-rejects: exit %d, want %d:\n%s", code, exitInput, out)
	}
	code, out = run(t, env, "runs", "--tenant", "acme")
	if code != exitOK || strings.Count(out, "succeeded") != 2 || strings.Count(out, "failed") != 1 {
		t.Fatalf("runs should list 2 succeeded and 1 failed:\n%s", out)
	}
}

// regexpFields reports whether a line of out starts with path followed by
// exactly the given whitespace-separated fields.
func regexpFields(out, path string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields)+1 && f[0] == path && strings.Join(f[1:len(fields)+1], " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestSyncCommandAgainstTheEmulator(t *testing.T) {
	url := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: -1})
	defer spark.Close()
	now := time.Now().UTC()
	spark.AddEvents(
		sparktest.Event{ID: "a", Time: now.Add(-50 * time.Hour), Type: "SparkLogin", User: "ana@example.com"},
		sparktest.Event{ID: "b", Time: now.Add(-3 * time.Hour), Type: "PublishEngine", User: "bo@example.com", Service: "Pricing"},
	)
	env := map[string]string{"DATABASE_URL": url, "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "tok"}

	code, out := run(t, env, "sync", "--no-progress")
	if code != exitUsage || !strings.Contains(out, "--since") {
		t.Fatalf("first sync without --since: exit %d, want %d and a hint:\n%s", code, exitUsage, out)
	}
	code, out = run(t, env, "sync", "--since", "72h", "--no-progress")
	if code != exitOK || !strings.Contains(out, "inserted 2") {
		t.Fatalf("sync exit %d, want 2 inserted:\n%s", code, out)
	}
	code, out = run(t, env, "status")
	if code != exitOK || !strings.Contains(out, "acme") || !strings.Contains(out, "succeeded") {
		t.Fatalf("status exit %d:\n%s", code, out)
	}
	env["SPARK_TOKEN"] = "tok-SECRET-4711"
	code, out = run(t, env, "sync", "--no-progress")
	if code != exitSpark {
		t.Fatalf("sync with a wrong token: exit %d, want %d:\n%s", code, exitSpark, out)
	}
	if strings.Contains(out, "SECRET-4711") {
		t.Fatalf("output shows the token:\n%s", out)
	}
}

// status --max-lag is what monitoring runs: exit 0 while the synced tenant
// keeps up, 7 with the reason when it lags or was never synced.
func TestStatusAsAHealthCheck(t *testing.T) {
	url := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: -1})
	defer spark.Close()
	spark.AddEvents(sparktest.Event{ID: "a", Time: time.Now().Add(-3 * time.Hour), Type: "SparkLogin", User: "ana@example.com"})
	env := map[string]string{"DATABASE_URL": url, "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "tok"}

	if code, out := run(t, env, "migrate", "up"); code != exitOK {
		t.Fatalf("migrate up: exit %d:\n%s", code, out)
	}
	if code, out := run(t, env, "status", "--max-lag", "1h"); code != exitStale || !strings.Contains(out, "no tenant has been synced") {
		t.Fatalf("health check before any sync: exit %d, want %d:\n%s", code, exitStale, out)
	}
	if code, out := run(t, env, "sync", "--since", "24h", "--settle", "2m", "--no-progress"); code != exitOK {
		t.Fatalf("sync: exit %d:\n%s", code, out)
	}
	tests := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"within the lag", []string{"--max-lag", "1h"}, exitOK, "acme"},
		{"the named tenant within the lag", []string{"--tenant", "acme", "--max-lag", "1h"}, exitOK, "acme"},
		// The watermark stops --settle before the sync's start.
		{"behind the lag", []string{"--max-lag", "1m"}, exitStale, "tenant acme: events stored up to"},
		{"a tenant never synced", []string{"--tenant", "beta", "--max-lag", "1h"}, exitStale, "tenant beta has no watermark"},
		{"an unknown tenant without --max-lag", []string{"--tenant", "beta"}, exitUsage, `no tenant "beta" in schema sparkevents; it has: acme`},
		{"negative lag", []string{"--max-lag", "-1h"}, exitUsage, "negative"},
		{"unknown format", []string{"--format", "xml"}, exitUsage, `unknown --format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := run(t, env, append([]string{"status"}, tt.args...)...)
			if code != tt.want || !strings.Contains(out, tt.say) {
				t.Fatalf("status %v: exit %d, want %d saying %q:\n%s", tt.args, code, tt.want, tt.say, out)
			}
		})
	}

	code, out := run(t, env, "status", "--tenant", "acme", "--format", "json")
	if code != exitOK {
		t.Fatalf("status --format json: exit %d:\n%s", code, out)
	}
	var got []struct {
		Tenant     string   `json:"tenant"`
		LagSeconds *float64 `json:"lag_seconds"`
		Events     int64    `json:"events"`
		LastSync   *struct {
			Status string `json:"status"`
		} `json:"last_sync"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status --format json is not JSON: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].Tenant != "acme" || got[0].Events != 1 || got[0].LastSync == nil || got[0].LastSync.Status != "succeeded" ||
		got[0].LagSeconds == nil || *got[0].LagSeconds < 120 || *got[0].LagSeconds > 3600 {
		t.Fatalf("status --format json: want acme with 1 event, a succeeded sync and a lag of 2 minutes or a little more:\n%s", out)
	}
}

func TestFirstLineKeepsTheAdvice(t *testing.T) {
	long := "spark: submit events job: POST https://excel.x.coherent.global/acme/api/v4/events/download: 401 Unauthorized: {\"error\":\"invalid\"} (token rejected: get a new token or use SPARK_CLIENT_ID/SPARK_CLIENT_SECRET)"
	tests := []struct {
		in, wantStart, wantEnd string
	}{
		{"boom", "boom", "boom"},
		{"first line\nsecond line", "first line", "first line"},
		{long, "spark: submit events job: POST https://excel.x.co", "use SPARK_CLIENT_ID/SPARK_CLIENT_SECRET)"},
	}
	for _, tt := range tests {
		got := firstLine(tt.in)
		if !strings.HasPrefix(got, tt.wantStart) || !strings.HasSuffix(got, tt.wantEnd) || len(got) > 120 || strings.Contains(got, "\n") {
			t.Errorf("firstLine(%q) = %q, want one line of at most 120 bytes from %q to %q", tt.in, got, tt.wantStart, tt.wantEnd)
		}
	}
}

// doctor as a user runs it: the checklist, exit 0 when a sync would work,
// and the failed step's exit code and fix otherwise; --format json for
// scripts.
func TestDoctorCommand(t *testing.T) {
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok"})
	defer spark.Close()
	now := time.Now().UTC()
	spark.AddEvents(sparktest.Event{ID: "e1", Time: now.Add(-2 * time.Hour), Type: "SparkLogin", User: "a@example.com"},
		sparktest.Event{ID: "e2", Time: now.Add(-time.Hour), Type: "PublishEngine", User: "b@example.com"})
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "Bearer tok"}
	if code, out := run(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	code, out := run(t, env, "doctor", "--no-progress", "--log-level", "error")
	if code != 0 || !strings.Contains(out, "a sync would work") || !strings.Contains(out, `event_time="Timestamp"`) {
		t.Fatalf("doctor: exit %d\n%s", code, out)
	}
	env["SPARK_TOKEN"] = "wrong"
	code, out = run(t, env, "doctor", "--format", "json", "--log-level", "error")
	if code != exitSpark {
		t.Fatalf("doctor with a wrong token: exit %d, want %d\n%s", code, exitSpark, out)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
			Fix  string `json:"fix"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&rep); err != nil {
		t.Fatalf("doctor --format json: %v\n%s", err, out)
	}
	last := rep.Checks[len(rep.Checks)-1]
	if rep.OK || last.OK || last.Name != "token" || !strings.Contains(last.Fix, "token was refused") {
		t.Fatalf("doctor with a wrong token: %+v", rep)
	}
}

// Every duration and time flag, environment variable and query parameter
// takes one grammar (90s, 15m, 36h, 30d, 2w, RFC 3339, a date), and a
// value outside it is a usage error that lists the accepted forms.
func TestOneGrammarForDurationsAndTimes(t *testing.T) {
	url := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok", PendingPolls: -1})
	defer spark.Close()
	now := time.Now().UTC()
	spark.AddEvents(
		sparktest.Event{ID: "a", Time: now.Add(-10 * 24 * time.Hour), Type: "SparkLogin", User: "ana@example.com"},
		sparktest.Event{ID: "b", Time: now.Add(-3 * time.Hour), Type: "PublishEngine", User: "bo@example.com"},
	)
	env := map[string]string{"DATABASE_URL": url, "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "tok"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    int
		windows string // "N windows" in the summary
	}{
		{"days and weeks", nil, []string{"--since", "2w", "--window", "1d", "--lookback", "1d", "--settle", "15m", "--overlap", "90s", "--job-timeout", "1d", "--dry-run"}, exitOK, "14 windows"},
		{"a window of a week", nil, []string{"--since", "2w", "--window", "1w", "--dry-run"}, exitOK, "2 windows"},
		{"a date", nil, []string{"--since", now.Add(-72 * time.Hour).Format("2006-01-02"), "--window", "36h", "--dry-run"}, exitOK, "windows from"},
		{"from the environment", map[string]string{"SPARKEVENTS_SINCE": "2w", "SPARKEVENTS_WINDOW": "1w", "SPARKEVENTS_DRY_RUN": "true"}, nil, exitOK, "2 windows"},
		{"a bare number", nil, []string{"--since", "2w", "--window", "90"}, exitUsage, "90s, 15m, 36h, 30d or 2w"},
		{"a year", nil, []string{"--since", "1y"}, exitUsage, "a date (2026-01-01)"},
		{"a bad variable", map[string]string{"SPARKEVENTS_LOOKBACK": "1y"}, []string{"--since", "2w"}, exitUsage, "SPARKEVENTS_LOOKBACK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := maps.Clone(env)
			maps.Copy(e, tt.env)
			code, out := run(t, e, append([]string{"sync", "--no-progress"}, tt.args...)...)
			if code != tt.want || !strings.Contains(out, tt.windows) {
				t.Fatalf("sync %v: exit %d, want %d saying %q:\n%s", tt.args, code, tt.want, tt.windows, out)
			}
		})
	}

	if code, out := run(t, env, "sync", "--since", "2w", "--window", "1w", "--no-progress"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	queries := []struct {
		name string
		args []string
		want int
		say  string
	}{
		{"a duration back", []string{"--param", "from=30d", "--format", "csv", "daily_active_users"}, exitOK, "active_users"},
		{"a week back", []string{"--param", "from=1w", "--param", "to=now", "--format", "csv", "daily_active_users"}, exitOK, now.Add(-3 * time.Hour).Format("2006-01-02")},
		{"a date", []string{"--param", "from=2026-01-01", "daily_active_users"}, exitOK, "active_users"},
		{"not a time", []string{"--param", "from=someday", "daily_active_users"}, exitUsage, "a date (2026-01-01)"},
		{"not a number", []string{"--param", "days=ten", "dormant_users"}, exitUsage, "does not fit"},
	}
	for _, tt := range queries {
		t.Run("query "+tt.name, func(t *testing.T) {
			code, out := run(t, env, append([]string{"query"}, tt.args...)...)
			if code != tt.want || !strings.Contains(out, tt.say) || strings.Contains(out, "SQLSTATE") {
				t.Fatalf("query %v: exit %d, want %d saying %q and no SQLSTATE:\n%s", tt.args, code, tt.want, tt.say, out)
			}
		})
	}
	// A week back from a week back: the CSV holds the day of event b but
	// not that of event a, ten days ago.
	if _, out := run(t, env, "query", "--param", "from=1w", "--format", "csv", "daily_active_users"); strings.Contains(out, now.Add(-10*24*time.Hour).Format("2006-01-02")) {
		t.Fatalf("query from=1w lists an event of ten days ago:\n%s", out)
	}
}

// Flags that take a time show their default as written: --to is now.
func TestTimeFlagsShowTheirDefaults(t *testing.T) {
	for _, cmd := range []string{"backfill", "report"} {
		_, out := run(t, nil, cmd, "--help")
		if !regexp.MustCompile(`--to value .*\(default: now\)`).MatchString(out) || strings.Contains(out, `"0s"`) {
			t.Errorf("%s --help does not show --to's default as now:\n%s", cmd, out)
		}
	}
	_, out := run(t, nil, "sync", "--help")
	if !regexp.MustCompile(`--window value .*\(default: 1d\)`).MatchString(out) {
		t.Errorf("sync --help does not show --window's default as 1d:\n%s", out)
	}
}

// Every secret can come from a file, as Kubernetes and Docker mount them,
// and is never printed.
func TestSecretsFromFiles(t *testing.T) {
	url := pgtest.URL(t)
	spark := sparktest.NewServer(sparktest.Options{Tenant: "acme", Token: "tok-SECRET-4711", PendingPolls: -1})
	defer spark.Close()
	spark.AddEvents(sparktest.Event{ID: "a", Time: time.Now().Add(-3 * time.Hour), Type: "SparkLogin", User: "ana@example.com"})
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token, pw := write("token", "tok-SECRET-4711\n"), write("pw", "pw-SECRET-0815\n")
	base := map[string]string{"DATABASE_URL": url, "SPARK_URL": spark.URL, "SPARK_TENANT": "acme", "SPARK_TOKEN": "", "SPARK_TOKEN_FILE": "", "DATABASE_PASSWORD_FILE": ""}
	tests := []struct {
		name string
		env  map[string]string
		want int
		say  string
	}{
		{"token and password from files", map[string]string{"SPARK_TOKEN_FILE": token, "DATABASE_PASSWORD_FILE": pw}, exitOK, "inserted 1"},
		{"both a token and its file", map[string]string{"SPARK_TOKEN": "x", "SPARK_TOKEN_FILE": token}, exitUsage, "not both"},
		{"a missing file", map[string]string{"SPARK_TOKEN_FILE": filepath.Join(dir, "nosuch")}, exitUsage, "--token-file"},
		{"an empty file", map[string]string{"SPARK_TOKEN_FILE": write("empty", "\n")}, exitUsage, "is empty"},
		{"a missing password file", map[string]string{"SPARK_TOKEN_FILE": token, "DATABASE_PASSWORD_FILE": filepath.Join(dir, "nosuch")}, exitUsage, "--database-password-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := maps.Clone(base)
			maps.Copy(e, tt.env)
			code, out := run(t, e, "sync", "--since", "1d", "--no-progress", "--log-level", "debug")
			if code != tt.want || !strings.Contains(out, tt.say) || strings.Contains(out, "SECRET") {
				t.Fatalf("exit %d, want %d saying %q and no secret:\n%s", code, tt.want, tt.say, out)
			}
		})
	}
}

func TestWithPassword(t *testing.T) {
	for _, conn := range []string{"postgres://etl@db.internal:5433/analytics?sslmode=disable", "postgresql://etl:old@db/x", "host=db user=etl dbname=x", ""} {
		for _, pw := range []string{"simple", `it's a \ "pass word"`, "p@ss:/w?rd#%"} {
			s, err := withPassword(conn, pw)
			if err != nil {
				t.Fatalf("withPassword(%q): %v", conn, err)
			}
			cfg, err := pgconn.ParseConfig(s)
			if err != nil || cfg.Password != pw {
				t.Errorf("withPassword(%q, %q) = %q: parsed password %q, %v", conn, pw, s, cfg.Password, err)
			}
		}
	}
}

// Every flag of every command can be set from the environment, as
// containers and systemd units set them; but the confirmation of a
// deletion, which an env file would give once and for all.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	askEveryTime := map[string]bool{"sparkevents retire --yes": true, "sparkevents forget --yes": true}
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			walk(path+" "+c.Name, c.Subcommands)
			for _, f := range c.Flags {
				d, ok := f.(cli.DocGenerationFlag)
				name := path + " " + c.Name + " --" + f.Names()[0]
				if ok && askEveryTime[name] {
					if len(d.GetEnvVars()) != 0 {
						t.Errorf("%s can be set from the environment: an env file would confirm every deletion", name)
					}
					continue
				}
				if ok && len(d.GetEnvVars()) == 0 {
					t.Errorf("%s %s --%s has no environment variable", path, c.Name, f.Names()[0])
				}
			}
		}
	}
	walk("sparkevents", newApp().Commands)
}

// The edges of the CLI: typos get a suggestion, usage errors exit 2, and
// version, completion and the list of queries work without a database.
func TestCLIEdges(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2")
	spark := []string{"--spark-url", "http://127.0.0.1:1", "--tenant", "t", "--token", "x"}
	tests := []struct {
		name string
		args []string
		want int
		say  []string
	}{
		{"a mistyped command", []string{"snyc"}, exitUsage, []string{`no command "snyc"; did you mean "sync"?`}},
		{"a mistyped subcommand", []string{"migrate", "stauts"}, exitUsage, []string{`did you mean "status"?`}},
		{"a mistyped flag", []string{"sync", "--windwo", "1d"}, exitUsage, []string{"did you mean --window?", "sparkevents sync --help"}},
		{"a mistyped app flag", []string{"--verison"}, exitUsage, []string{"did you mean --version?"}},
		{"version", []string{"version"}, exitOK, []string{"sparkevents " + version, "revision  ", "go        go1."}},
		{"--version", []string{"--version"}, exitOK, []string{"sparkevents " + version, "revision  "}},
		{"bash completion", []string{"completion", "bash"}, exitOK, []string{"complete -o bashdefault -o default -F _sparkevents_complete sparkevents", "--generate-bash-completion"}},
		{"zsh completion", []string{"completion", "zsh"}, exitOK, []string{"#compdef sparkevents", "compdef _sparkevents sparkevents"}},
		{"fish completion", []string{"completion", "fish"}, exitOK, []string{"complete -c sparkevents", "-a 'sync'"}},
		{"no such shell", []string{"completion", "powershell"}, exitUsage, []string{"bash, zsh or fish"}},
		{"the list of queries", []string{"query"}, exitOK, []string{"daily_active_users", "params: days (30)"}},
		{"report from after to", []string{"report", "--from", "1d", "--to", "2d"}, exitUsage, []string{"is not before --to 2d"}},
		{"backfill from after to", append([]string{"backfill", "--from", "2026-02-01", "--to", "2026-01-01"}, spark...), exitUsage, []string{"is not before"}},
		{"backfill from equal to", append([]string{"backfill", "--from", "2026-01-01", "--to", "2026-01-01T00:00:00Z"}, spark...), exitUsage, []string{"is not before"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := run(t, nil, tt.args...)
			if code != tt.want {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.want, out)
			}
			for _, say := range tt.say {
				if !strings.Contains(out, say) {
					t.Errorf("output lacks %q:\n%s", say, out)
				}
			}
			for _, line := range strings.Split(out, "\n") {
				if n := utf8.RuneCountInString(line); n > 100 && tt.args[0] == "query" {
					t.Errorf("a line of %d columns, over 100: %q", n, line)
				}
			}
		})
	}
}

// migrate up and down say what they did; grant-reader of a missing role
// and status of an unknown tenant are usage errors.
func TestCLIEdgesOnADatabase(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	steps := []struct {
		args []string
		want int
		say  string
	}{
		{[]string{"migrate", "up"}, exitOK, "applied 1 "},
		{[]string{"migrate", "up"}, exitOK, "nothing to do: schema sparkevents is at version"},
		{[]string{"migrate", "down"}, exitOK, "rolled back "},
		{[]string{"migrate", "up"}, exitOK, "schema sparkevents is at version"},
		{[]string{"status", "--tenant", "nosuch"}, exitUsage, `no tenant "nosuch" in schema sparkevents: it holds no tenant yet`},
		{[]string{"status", "--tenant", "nosuch", "--max-lag", "1h"}, exitStale, "tenant nosuch has no watermark"},
		{[]string{"grant-reader", "no_such_role"}, exitUsage, `role "no_such_role" does not exist`},
		{[]string{"query", "--param", "from=someday", "daily_active_users"}, exitUsage, "not a time"},
	}
	for _, st := range steps {
		code, out := run(t, env, st.args...)
		if code != st.want || !strings.Contains(out, st.say) {
			t.Fatalf("%v: exit %d, want %d saying %q:\n%s", st.args, code, st.want, st.say, out)
		}
	}
}

// The completion scripts ask the binary for the next words; urfave/cli
// reads the word before --generate-bash-completion from os.Args.
func TestCompletionWords(t *testing.T) {
	tests := []struct {
		args []string
		say  []string
	}{
		{[]string{"--generate-bash-completion"}, []string{"sync\n", "status\n", "completion\n", "version\n"}},
		{[]string{"sync", "--s", "--generate-bash-completion"}, []string{"--since\n", "--settle\n", "--spark-url\n"}},
		{[]string{"migrate", "--generate-bash-completion"}, []string{"up\n", "down\n", "status\n"}},
	}
	for _, tt := range tests {
		args := os.Args
		os.Args = append([]string{"sparkevents"}, tt.args...)
		code, out := run(t, nil, tt.args...)
		os.Args = args
		for _, say := range tt.say {
			if code != exitOK || !strings.Contains(out, say) {
				t.Errorf("%v: exit %d, output lacks %q:\n%s", tt.args, code, say, out)
			}
		}
	}
}
