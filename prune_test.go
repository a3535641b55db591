package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sparkevents/internal/pgtest"
	"sparkevents/load"
)

func TestPruneCommand(t *testing.T) {
	url := pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "SPARKEVENTS_SCHEMA": "prune_cmd"}
	ctx := context.Background()
	pool, err := load.Connect(ctx, url, "prune_cmd")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := load.MigrateUp(ctx, pool, "prune_cmd"); err != nil {
		t.Fatal(err)
	}
	// A day's events of each tenant for the last 100 days, and an old run
	// with a reject.
	_, err = pool.Exec(ctx, `
		INSERT INTO etl_runs (kind, tenant, source, status, started_at) VALUES ('import', 'acme', 'old', 'succeeded', now() - interval '300 days');
		INSERT INTO etl_rejects (run_id, source, sheet, row_number, raw, reason) VALUES (1, 'old', 's', 1, '{}', 'bad');
		INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('import', 'acme', 'new', 'succeeded');
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, first_run_id, last_run_id)
		SELECT t, t || i, now() - i * interval '1 day', 'SparkLogin', 'u' || (i % 3), 2, 2
		FROM generate_series(0, 99) i, unnest(ARRAY['acme', 'beta']) t;`)
	if err != nil {
		t.Fatal(err)
	}
	events := func(tenant string) int64 {
		t.Helper()
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM spark_events WHERE tenant = $1`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, args := range [][]string{
		{"prune", "--older-than", "30d"},
		{"prune", "--tenant", "acme"},
		{"prune", "--tenant", "acme", "--older-than", "30d", "--rollups-older-than", "10d"},
		{"prune", "--tenant", "acme", "--older-than", "30x"},
	} {
		if code, out := run(t, env, args...); code != exitUsage {
			t.Errorf("%s: exit %d, want %d:\n%s", strings.Join(args, " "), code, exitUsage, out)
		}
	}

	code, out := run(t, env, "prune", "--tenant", "acme", "--older-than", "30d", "--dry-run")
	// Days 31 to 99 back go whole; day 30 back only if it began before the
	// cutoff's midnight, which it never does: 69 events.
	if code != exitOK || !strings.Contains(out, "would delete") || !strings.Contains(out, "69 events before") || !strings.Contains(out, "1 runs and 1 rejects") {
		t.Fatalf("dry run: exit %d:\n%s", code, out)
	}
	if n := events("acme"); n != 100 {
		t.Fatalf("a dry run deleted events: %d left", n)
	}
	code, out = run(t, env, "prune", "--tenant", "acme", "--older-than", "30d", "--runs-older-than", "200d", "--batch-rows", "10")
	if code != exitOK || !strings.Contains(out, "deleted") || !strings.Contains(out, "69 events before") || !strings.Contains(out, "in 7 transactions") {
		t.Fatalf("prune: exit %d:\n%s", code, out)
	}
	if a, b := events("acme"), events("beta"); a != 31 || b != 100 {
		t.Fatalf("after the prune: acme %d events, beta %d; want 31 and 100", a, b)
	}
	code, out = run(t, env, "runs", "--tenant", "acme")
	if code != exitOK || !strings.Contains(out, "prune") {
		t.Fatalf("runs lists no prune (exit %d):\n%s", code, out)
	}

	// A config file's retention, per tenant; a tenant without one is kept.
	cfg := filepath.Join(t.TempDir(), "tenants.yaml")
	os.WriteFile(cfg, []byte(`
connections:
  prod: {spark_url: https://x.example, token: env:NOPE}
tenants:
  - name: acme
    connection: prod
  - name: beta
    connection: prod
    retention: 50d
`), 0o600)
	code, out = run(t, env, "prune", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "tenant acme: no retention set, kept") || !strings.Contains(out, "49 events before") {
		t.Fatalf("prune --config: exit %d:\n%s", code, out)
	}
	if a, b := events("acme"), events("beta"); a != 31 || b != 51 {
		t.Fatalf("after the prune of the file's tenants: acme %d events, beta %d; want 31 and 51", a, b)
	}
}
