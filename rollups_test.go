package main

import (
	"context"
	"strings"
	"testing"

	"sparkevents/internal/pgtest"
	"sparkevents/load"
)

func TestRollupsRebuildCommand(t *testing.T) {
	url := pgtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "SPARKEVENTS_SCHEMA": "rollups_cmd"}
	ctx := context.Background()
	pool, err := load.Connect(ctx, url, "rollups_cmd")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := load.MigrateUp(ctx, pool, "rollups_cmd"); err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO etl_runs (kind, tenant, source, status) VALUES ('import', 'acme', 'test', 'succeeded');
		INSERT INTO spark_events (tenant, event_id, event_time, event_type, user_name, first_run_id, last_run_id)
		SELECT t, t || i, timestamptz '2026-03-01' + i * interval '7 hours', 'SparkLogin', 'u' || (i % 3), 1, 1
		FROM generate_series(1, 20) i, unnest(ARRAY['acme', 'beta']) t;
		DELETE FROM rollup_daily_events;
		DELETE FROM rollup_daily_users WHERE tenant = 'beta';`)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(table string) string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, "SELECT coalesce(string_agg(tenant || '=' || n, ' ' ORDER BY tenant), '') FROM (SELECT tenant, sum(events) n FROM "+table+" GROUP BY 1) s").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	code, out := run(t, env, "rollups", "rebuild", "--tenant", "acme")
	if code != exitOK || !strings.Contains(out, "rebuilt the rollups of tenant acme") {
		t.Fatalf("rollups rebuild --tenant acme: exit %d:\n%s", code, out)
	}
	if got := sum("rollup_daily_events") + " / " + sum("rollup_daily_users"); got != "acme=20 / acme=20" {
		t.Fatalf("after rebuilding acme: events and users rollups = %s, want acme=20 / acme=20", got)
	}
	code, out = run(t, env, "rollups", "rebuild")
	if code != exitOK || !strings.Contains(out, "rebuilt the rollups of every tenant") {
		t.Fatalf("rollups rebuild: exit %d:\n%s", code, out)
	}
	if got := sum("rollup_daily_events") + " / " + sum("rollup_daily_users"); got != "acme=20 beta=20 / acme=20 beta=20" {
		t.Fatalf("after rebuilding all: events and users rollups = %s", got)
	}
}
