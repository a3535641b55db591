package load

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/internal/pgcluster"
	"sparkevents/internal/pgtest"
	"sparkevents/transform"
)

const forgetSchema = "forget_test"

// forgetFixture is a database in which ana@example.com left traces
// everywhere: her events (one day of them pruned with the rollups kept),
// other events that name her, rejected rows, a run's error. It returns
// the pool and the database's URL.
func forgetFixture(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := Connect(ctx, url, forgetSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := MigrateUp(ctx, pool, forgetSchema); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	var evs []transform.Event
	for i := range 60 {
		user := []string{"ana@example.com", "bo@example.com", "cy@example.com"}[i%3]
		e := transform.Event{Tenant: "acme", EventID: "e" + string(rune('A'+i%26)) + time.Duration(i).String(),
			EventTime: t0.Add(time.Duration(i) * 3 * time.Hour), EventType: []string{"SparkLogin", "PublishEngine", "UpdateEngine", "CALogin"}[i%4],
			UserName: user, ServiceName: "S1", FolderName: "F1", IPAddress: "10.0.0." + string(rune('1'+i%3))}
		if i == 10 {
			e.Description = "shared with Ana@Example.com"
			e.Attributes = []byte(`{"Owner": "ana@example.com"}`)
		}
		if i == 7 {
			e.FolderName = "ana@example.com's folder"
		}
		if i == 3 {
			// On the day pruned below, its rollups kept.
			e.FolderName = "ana@example.com's folder"
		}
		if i == 4 {
			// The name hers becomes when erased, the same pruned day.
			e.FolderName = "[erased]'s folder"
		}
		evs = append(evs, e)
	}
	loadTenantEvents(t, pool, evs, 16)
	// beta has her too.
	loadTenantEvents(t, pool, []transform.Event{{Tenant: "beta", EventID: "b1", EventTime: t0, EventType: "SparkLogin", UserName: "ana@example.com"}}, 16)
	// Her first day's events pruned, its rollups kept.
	if _, err := PruneTenant(ctx, pool, forgetSchema, Prune{Tenant: "acme", Events: t0.AddDate(0, 0, 1), Rollups: t0, Apply: true}); err != nil {
		t.Fatal(err)
	}
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "bad.xlsx"})
	if err := InsertRejects(ctx, tx, id, "bad.xlsx", []transform.Reject{
		{Sheet: "Events", Row: 2, Raw: []byte(`{"User Name": "ANA@example.com", "Timestamp": "never"}`), Reason: "event_time: empty"},
		{Sheet: "Events", Row: 3, Raw: []byte(`{"User Name": "bo@example.com"}`), Reason: "event_time: empty"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, error) VALUES ('backfill', 'acme', 'job 1', 'failed', 'no events of user ana@example.com')`); err != nil {
		t.Fatal(err)
	}
	return pool, url
}

// dump is pg_dump's data of the whole database, lowercased.
func dump(t *testing.T, url string) string {
	t.Helper()
	bin, err := pgcluster.BinDir()
	if err != nil {
		t.Skip(err)
	}
	out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--data-only", "--no-owner", "-d", url).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	return strings.ToLower(string(out))
}

func TestForgetLeavesNoTraceOfTheAddress(t *testing.T) {
	pool, url := forgetFixture(t)
	ctx := context.Background()
	if n := strings.Count(dump(t, url), "ana@example.com"); n < 5 {
		t.Fatalf("the fixture leaves the address %d times in the dump: the test proves nothing", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM rollup_daily_users WHERE tenant = 'acme' AND user_name = 'ana@example.com' AND day = '2026-04-01'`); n != 1 {
		t.Fatalf("her pruned day has %d rollup rows, want 1 kept", n)
	}
	bo := count(t, pool, `SELECT events FROM rollup_users WHERE tenant = 'acme' AND user_name = 'bo@example.com'`)

	dry, err := ForgetUser(ctx, pool, forgetSchema, Forget{Address: "Ana@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry) != 2 || dry[0].Tenant != "acme" || dry[0].Events == 0 || dry[0].Rejects != 1 || dry[0].Mentions != 2 || dry[0].Runs != 1 || dry[0].RollupRows == 0 || dry[1].Events != 1 {
		t.Fatalf("dry run = %+v", dry)
	}
	if !strings.Contains(dump(t, url), "ana@example.com") {
		t.Fatal("a dry run erased the address")
	}

	got, err := ForgetUser(ctx, pool, forgetSchema, Forget{Address: "Ana@Example.com", Reference: "DSR-42", Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Events != dry[0].Events || got[0].RunID == 0 {
		t.Fatalf("forget = %+v, want the dry run's counts and audit rows", got)
	}
	wantUserCountsMatch(t, pool, "after forget")
	// Her folder, renamed in the rollups of the pruned day, joins the one
	// that already had its new name.
	if n := count(t, pool, `SELECT events FROM rollup_daily_folders WHERE tenant = 'acme' AND day = '2026-04-01' AND folder_name = '[erased]''s folder'`); n != 2 {
		t.Fatalf("the renamed folder's day counts %d events, want both folders' 2", n)
	}
	d := dump(t, url)
	if i := strings.Index(d, "ana@example.com"); i >= 0 {
		t.Fatalf("the address is still in the dump: ...%s...", d[max(0, i-300):min(len(d), i+100)])
	}
	if !strings.Contains(d, "bo@example.com") || !strings.Contains(d, "forget dsr-42") {
		t.Fatal("the dump lacks another user, or the audit row")
	}
	if n := count(t, pool, `SELECT events FROM rollup_users WHERE tenant = 'acme' AND user_name = 'bo@example.com'`); n != bo {
		t.Fatalf("bo's events in the rollups: %d, want %d", n, bo)
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_rejects`); n != 1 {
		t.Fatalf("%d rejects left, want bo's", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_runs WHERE kind = 'forget' AND details->>'events' IS NOT NULL`); n != 2 {
		t.Fatalf("%d audit rows, want one per tenant", n)
	}
}

func TestForgetPseudonymizes(t *testing.T) {
	pool, url := forgetFixture(t)
	ctx := context.Background()
	const p = "hmac:00112233445566778899aabbccddeeff"
	before := count(t, pool, `SELECT sum(events) FROM rollup_daily_users WHERE tenant = 'acme' AND user_name = 'ana@example.com'`)
	stored := count(t, pool, `SELECT count(*) FROM spark_events WHERE tenant = 'acme' AND user_name = 'ana@example.com'`)
	got, err := ForgetUser(ctx, pool, forgetSchema, Forget{Tenant: "acme", Address: "ana@example.com", Pseudonym: p,
		IPs: func(ip string) string { return "hmac:ip-" + ip[len(ip)-1:] }, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Events != stored {
		t.Fatalf("forget = %+v, want %d events renamed in acme only", got, stored)
	}
	d := dump(t, url)
	for _, line := range strings.Split(d, "\n") {
		if strings.Contains(line, "ana@example.com") && !strings.HasPrefix(line, "beta\t") {
			t.Fatalf("the address is still in the dump outside tenant beta: %s", line)
		}
	}
	if n := count(t, pool, `SELECT sum(events) FROM rollup_daily_users WHERE tenant = 'acme' AND user_name = $1`, p); n != before {
		t.Fatalf("the pseudonym has %d events in the rollups, want her %d, pruned day included", n, before)
	}
	if n := count(t, pool, `SELECT count(*) FROM spark_events WHERE user_name = $1 AND ip_address NOT LIKE 'hmac:ip-%'`, p); n != 0 {
		t.Fatalf("%d of her events keep their IP address", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM etl_rejects WHERE raw->>'User Name' = $1`, p); n != 1 {
		t.Fatal("the reject does not name the pseudonym")
	}
	wantUserCountsMatch(t, pool, "after the pseudonymization")
	// The rollups of the days with events equal a rebuild's.
	day := time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)
	kept := dailyRollupSnapshot(t, pool, "acme", day)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := RebuildRollups(ctx, tx, "acme"); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dailyRollupSnapshot(t, tx, "acme", day); rebuilt != kept {
		t.Fatalf("rollups after the pseudonymization:\n%s\nrebuilt:\n%s", kept, rebuilt)
	}
}
