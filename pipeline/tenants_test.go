package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
	"sparkevents/load"
)

// Several tenants sync at once, each committing its own windows: one
// failing leaves the others stored, and status tells them apart.
func TestSyncTenantsKeepsEachTenantApart(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{Tenant: "acme"})
	beta := sparktest.NewServer(sparktest.Options{Tenant: "beta", Token: "beta-tok", PendingPolls: -1})
	t.Cleanup(beta.Close)
	since := f.now.Add(-3 * 24 * time.Hour)
	acmeEvents := sparkEvents(0, 40, since, 90*time.Minute)
	betaEvents := sparkEvents(500, 30, since.Add(time.Hour), 2*time.Hour)
	f.spark.AddEvents(acmeEvents...)
	beta.AddEvents(betaEvents...)

	acme := f.options()
	acme.Since = since
	b := acme
	b.Tenant, b.Spark.BaseURL, b.Spark.Token = "beta", beta.URL, "beta-tok"
	bad := acme
	bad.Tenant, bad.Spark.Token = "gamma", "wrong" // acme's Spark knows no gamma, nor this token
	// A known export cap skips the probe: the failure is a window's, and
	// recorded as a failed run.
	bad.ExportCap = 1000

	rs := f.p.SyncTenants(context.Background(), []SyncOptions{acme, b, bad}, 2)
	if len(rs) != 3 || rs[0].Tenant != "acme" || rs[1].Tenant != "beta" || rs[2].Tenant != "gamma" {
		t.Fatalf("results = %+v", rs)
	}
	if rs[0].Err != nil || rs[1].Err != nil || !errors.Is(rs[2].Err, ErrSpark) {
		t.Fatalf("errors = %v, %v, %v: want acme and beta fine, gamma a Spark error", rs[0].Err, rs[1].Err, rs[2].Err)
	}
	if rs[0].Summary.Counts.Inserted != 40 || rs[1].Summary.Counts.Inserted != 30 || len(rs[0].Summary.JobLatencies) != rs[0].Summary.Jobs {
		t.Fatalf("summaries = %+v / %+v", rs[0].Summary, rs[1].Summary)
	}
	f.wantStored(t, acmeEvents)
	if got := storedIDs(t, f.p, "beta"); len(got) != len(betaEvents) {
		t.Fatalf("beta stored %d events, want %d", len(got), len(betaEvents))
	}
	sts, err := f.p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = CheckLag(sts, "", time.Hour, f.now)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "tenant gamma has no watermark") || strings.Contains(err.Error(), "acme") {
		t.Fatalf("health check: %v, want gamma alone stale", err)
	}

	// Retiring gamma, the typo, makes the health check pass again; a dry
	// run first only counts.
	r, err := f.p.Retire(context.Background(), "gamma", false, false)
	if err != nil || r.Runs != 1 || r.Applied {
		t.Fatalf("dry run: %+v, %v; want 1 run counted", r, err)
	}
	if err := CheckLag(mustStatus(t, f.p), "", time.Hour, f.now); err == nil {
		t.Fatal("a dry run retired gamma")
	}
	if r, err = f.p.Retire(context.Background(), "gamma", false, true); err != nil || r.Runs != 1 {
		t.Fatalf("retire: %+v, %v", r, err)
	}
	if err := CheckLag(mustStatus(t, f.p), "", time.Hour, f.now); err != nil {
		t.Fatalf("after retiring gamma: %v", err)
	}

	// Retiring beta with its events leaves nothing of it, the rollups of
	// its days a prune kept included, and acme whole.
	pruned, err := load.PruneTenant(context.Background(), f.p.db, f.p.schema, load.Prune{Tenant: "beta",
		Events: f.now.Add(-24 * time.Hour), Rollups: f.now.Add(-30 * 24 * time.Hour), Apply: true})
	if err != nil || pruned.Events == 0 {
		t.Fatalf("prune of beta: %+v, %v; want events pruned, their rollups kept", pruned, err)
	}
	if r, err = f.p.Retire(context.Background(), "beta", true, true); err != nil || r.Events != 30-pruned.Events || r.Watermarks != 1 || r.Profiles != 1 || r.RollupRows == 0 {
		t.Fatalf("retire beta --events: %+v, %v", r, err)
	}
	for _, table := range load.RollupTables {
		var n int
		if err := f.p.db.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE tenant = 'beta'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s holds %d rows of retired beta (%v)", table, n, err)
		}
	}
	for _, st := range mustStatus(t, f.p) {
		if st.Tenant != "acme" {
			t.Fatalf("status still lists %s", st.Tenant)
		}
	}
	f.wantStored(t, acmeEvents)
}

func mustStatus(t *testing.T, p *Pipeline) []TenantStatus {
	t.Helper()
	sts, err := p.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sts
}
