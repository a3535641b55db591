package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sparkevents/pipeline"
)

func write(t *testing.T, mode os.FileMode, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sparkevents.yaml")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const example = `
defaults:
  window: 12h
  since: 2026-01-01
  lookback: 2h
connections:
  prod:
    spark_url: https://excel.prod.example
    client_id: etl
    client_secret: env:TEST_PROD_SECRET
  uat:
    spark_url: https://excel.uat.example
    token: file:uat.token
    trusted_hosts: [files.uat.example]
tenants:
  - name: acme
    connection: prod
  - name: beta
    connection: prod
    window: 1d
    parallel: 4
    page_size: 500
  - name: gamma
    connection: uat
    since: 2w
    settle: 5m
    export_cap: 1000
`

func base() pipeline.SyncOptions {
	var o pipeline.SyncOptions
	o.Window, o.Parallel, o.Lookback, o.Settle, o.PageSize = 24*time.Hour, 2, time.Hour, time.Minute, 100000
	o.Spark.Token = "flag-token" // SPARK_TOKEN left in the environment
	o.Spark.BaseURL = "https://flag.example"
	return o
}

func TestTenantsOverDefaultsOverFlagDefaults(t *testing.T) {
	path := write(t, 0o644, example)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "uat.token"), []byte("uat-tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_PROD_SECRET", "prod-secret")
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "acme,beta,gamma" {
		t.Fatalf("names = %s", got)
	}
	now := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	set := map[string]bool{"settle": true}
	os, err := f.SyncOptions(Overrides{Base: base(), IsSet: func(n string) bool { return set[n] }, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	acme, beta, gamma := os[0], os[1], os[2]
	if acme.Tenant != "acme" || acme.Window != 12*time.Hour || acme.Lookback != 2*time.Hour || acme.Parallel != 2 ||
		!acme.Since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("acme = %+v", acme)
	}
	if acme.Spark.BaseURL != "https://excel.prod.example" || acme.Spark.ClientID != "etl" || acme.Spark.ClientSecret != "prod-secret" || acme.Spark.Token != "" {
		t.Errorf("acme's connection = %+v: want prod's, and no token from the flags' defaults", acme.Spark)
	}
	if beta.Window != 24*time.Hour || beta.Parallel != 4 || beta.PageSize != 500 {
		t.Errorf("beta = %+v", beta)
	}
	// --settle was given: it overrides gamma's 5m.
	if gamma.Spark.Token != "uat-tok" || gamma.Settle != time.Minute || gamma.ExportCap != 1000 || !gamma.Since.Equal(now.Add(-14*24*time.Hour)) ||
		len(gamma.Spark.TrustedHosts) != 1 {
		t.Errorf("gamma = %+v", gamma)
	}

	one, err := f.SyncOptions(Overrides{Base: base(), IsSet: func(n string) bool { return n == "token" }, Tenants: []string{"gamma"}})
	if err != nil || len(one) != 1 || one[0].Spark.Token != "flag-token" {
		t.Fatalf("one tenant with --token: %+v, %v; want the flag's token", one, err)
	}
	_, err = f.SyncOptions(Overrides{Base: base(), IsSet: func(n string) bool { return n == "token" }})
	if !errors.Is(err, pipeline.ErrUsage) || !strings.Contains(err.Error(), "SPARK_TOKEN") {
		t.Fatalf("a token flag over three tenants: %v, want a usage error naming SPARK_TOKEN", err)
	}
	if _, err := f.SyncOptions(Overrides{Base: base(), Tenants: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `no tenant "nope"`) {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestStrictWithLines(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown key", "connections:\n  c:\n    spark_url: u\n    token: env:X\ntenants:\n  - name: a\n    connection: c\n    windw: 1h\n", `line 8: unknown key "windw"`},
		{"unknown top key", "tenant:\n  - name: a\n", `line 1: unknown key "tenant"`},
		{"bad duration", "connections:\n  c:\n    spark_url: u\n    token: env:X\ntenants:\n  - name: a\n    connection: c\n    window: soon\n", `line 8: "soon" is not a duration: give a number and a unit: 90s, 15m, 36h, 30d or 2w`},
		{"a bare number", "defaults:\n  window: 90\n", `line 2: "90" is not a duration`},
		{"a negative duration", "defaults:\n  lookback: -1h\n", `line 2: "-1h" is not a duration of 0 or more`},
		{"a zero window", "defaults:\n  window: 0s\n", "line 2: defaults: window must be positive"},
		{"a zero job timeout", "connections:\n  c:\n    spark_url: u\n    token: env:X\ntenants:\n  - name: a\n    connection: c\n    job_timeout: 0\n", "line 8: tenant a: job_timeout must be positive"},
		{"bad number", "defaults:\n  parallel: -1\n", `line 2: "-1" is not a whole number`},
		{"missing connection", "connections:\n  c:\n    spark_url: u\n    token: env:X\ntenants:\n  - name: a\n    connection: d\n", `line 6: tenant a: connection "d" is not under connections: (known: c)`},
		{"no credentials", "connections:\n  c:\n    spark_url: u\ntenants:\n  - name: a\n    connection: c\n", "line 2: connection c has no credentials"},
		{"twice", "connections:\n  c:\n    spark_url: u\n    token: env:X\ntenants:\n  - name: a\n    connection: c\n  - name: a\n    connection: c\n", "line 8: tenant a is listed twice (first on line 6)"},
		{"no tenants", "defaults:\n  window: 1h\n", "no tenants"},
		{"empty", "", "no tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(write(t, 0o600, tt.text))
			if !errors.Is(err, pipeline.ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}

func TestInlineSecretsOnlyInAPrivateFile(t *testing.T) {
	text := "connections:\n  c:\n    spark_url: u\n    token: tok-INLINE\ntenants:\n  - name: a\n    connection: c\n"
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o644, false}, {0o640, false}, {0o600, true}, {0o400, true}} {
		f, err := Read(write(t, tt.mode, text))
		if err != nil {
			t.Fatal(err)
		}
		os, err := f.SyncOptions(Overrides{})
		switch {
		case tt.ok && (err != nil || os[0].Spark.Token != "tok-INLINE"):
			t.Errorf("mode %o: %v, want the inline token", tt.mode, err)
		case !tt.ok && (err == nil || !strings.Contains(err.Error(), "line 4: token is written in the file, which others may read") || !strings.Contains(err.Error(), "chmod 600")):
			t.Errorf("mode %o: err = %v, want a refusal that says how to fix it", tt.mode, err)
		case !tt.ok && strings.Contains(err.Error(), "INLINE"):
			t.Errorf("mode %o: the error shows the secret: %v", tt.mode, err)
		}
	}
	f, err := Read(write(t, 0o644, "connections:\n  c:\n    spark_url: u\n    token: env:NOPE_NOT_SET\ntenants:\n  - name: a\n    connection: c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.SyncOptions(Overrides{}); err == nil || !strings.Contains(err.Error(), "line 4: token: environment variable NOPE_NOT_SET is not set") {
		t.Fatalf("unset env: %v", err)
	}
}

// The file takes the grammar of the flags (internal/when): days, weeks,
// sums, a zero lookback, and for since now, a date, an RFC 3339 time or a
// duration back; a since outside it is an error with its line.
func TestTheFlagsGrammar(t *testing.T) {
	text := `defaults:
  window: 1w
  lookback: 0
  settle: 90s
  overlap: 1m30s
  job_timeout: 1h30m
connections:
  c:
    spark_url: u
    token: env:TEST_GRAMMAR_TOKEN
tenants:
  - name: a
    connection: c
    since: now
  - name: b
    connection: c
    since: 2026-03-01T12:00:00+02:00
    window: 36h
  - name: c
    connection: c
    since: 1w2d
  - name: d
    connection: c
    since: 2026-03-01 08:30
`
	t.Setenv("TEST_GRAMMAR_TOKEN", "tok")
	f, err := Read(write(t, 0o600, text))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	os, err := f.SyncOptions(Overrides{Base: base(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c, d := os[0], os[1], os[2], os[3]
	if a.Window != 7*24*time.Hour || a.Lookback != 0 || a.Settle != 90*time.Second || a.Overlap != 90*time.Second ||
		a.Spark.JobTimeout != 90*time.Minute || !a.Since.Equal(now) {
		t.Errorf("a = %+v", a)
	}
	if b.Window != 36*time.Hour || !b.Since.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("b: window %s, since %s", b.Window, b.Since)
	}
	if !c.Since.Equal(now.Add(-9 * 24 * time.Hour)) {
		t.Errorf("c: since %s, want 9 days back", c.Since)
	}
	if !d.Since.Equal(time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("d: since %s", d.Since)
	}

	f, err = Read(write(t, 0o600, "connections:\n  c:\n    spark_url: u\n    token: env:TEST_GRAMMAR_TOKEN\ntenants:\n  - name: a\n    connection: c\n    since: 1y\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.SyncOptions(Overrides{Base: base(), Now: now})
	if !errors.Is(err, pipeline.ErrUsage) || !strings.Contains(err.Error(), `line 8: since: "1y" is not a time: give now, a date (2026-01-01)`) {
		t.Fatalf("since: 1y: %v", err)
	}
}

// --token-file and --client-secret-file are credentials as --token and
// --client-secret are: over several tenants they are refused, over one
// they win over the file's.
func TestSecretFileFlagsAreCredentials(t *testing.T) {
	text := "connections:\n  c:\n    spark_url: u\n    token: env:TEST_CRED_TOKEN\ntenants:\n  - name: a\n    connection: c\n  - name: b\n    connection: c\n"
	t.Setenv("TEST_CRED_TOKEN", "file-token")
	f, err := Read(write(t, 0o600, text))
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"token-file", "client-secret-file"} {
		isSet := func(n string) bool { return n == flag }
		if _, err := f.SyncOptions(Overrides{Base: base(), IsSet: isSet}); err == nil || !strings.Contains(err.Error(), "--"+flag) {
			t.Errorf("--%s over two tenants: %v, want a refusal", flag, err)
		}
	}
	o, err := f.SyncOptions(Overrides{Base: base(), IsSet: func(n string) bool { return n == "token-file" }, Tenants: []string{"b"}})
	if err != nil || o[0].Spark.Token != "flag-token" {
		t.Fatalf("--token-file for one tenant: %+v, %v; want the flag's token", o, err)
	}
}

func TestRetentionOverDefaults(t *testing.T) {
	f, err := parse([]byte(`
defaults:
  retention: 400d
  runs_retention: 2y
connections:
  prod: {spark_url: https://x.example, token: env:T}
tenants:
  - name: acme
    connection: prod
  - name: beta
    connection: prod
    retention: 90d
    rollups_retention: 2w
`))
	if err == nil {
		t.Fatal("2y is not in the grammar: want an error")
	}
	f, err = parse([]byte(`
defaults:
  retention: 400d
  runs_retention: 104w
connections:
  prod: {spark_url: https://x.example, token: env:T}
tenants:
  - name: acme
    connection: prod
  - name: beta
    connection: prod
    retention: 90d
    rollups_retention: 730d
`))
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, tt := range []struct {
		name string
		want Retention
		ok   bool
	}{
		{"acme", Retention{Events: 400 * day, Runs: 728 * day}, true},
		{"beta", Retention{Events: 90 * day, Rollups: 730 * day, Runs: 728 * day}, true},
		{"nope", Retention{}, false},
	} {
		if got, ok := f.Retention(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Retention(%s) = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
