package load

import (
	"context"
	"testing"
	"time"

	"sparkevents/transform"
)

// LastEventBefore finds a tenant's latest stored event before a time
// through the days its rollups know, and past days whose events a prune
// removed while keeping their rollups.
func TestLastEventBefore(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var evs []transform.Event
	for d := range 12 {
		evs = append(evs, transform.Event{Tenant: "acme", EventID: "a" + string(rune('a'+d)), EventTime: t0.Add(time.Duration(d) * 24 * time.Hour), EventType: "SparkLogin", UserName: "ana@example.com"})
	}
	loadTenantEvents(t, pool, evs, 16)
	loadTenantEvents(t, pool, []transform.Event{{Tenant: "beta", EventID: "b1", EventTime: t0.Add(20 * 24 * time.Hour), EventType: "SparkLogin"}}, 16)

	want := func(before time.Time, at time.Time, ok bool) {
		t.Helper()
		got, gotOK, err := LastEventBefore(ctx, pool, "acme", before)
		if err != nil || gotOK != ok || !got.Equal(at) {
			t.Fatalf("LastEventBefore(%s) = %s, %v, %v; want %s, %v", before, got, gotOK, err, at, ok)
		}
	}
	want(t0, time.Time{}, false)
	want(t0.Add(time.Second), t0, true)
	want(t0.Add(30*24*time.Hour), evs[11].EventTime, true)
	want(evs[5].EventTime, evs[4].EventTime, true) // the same day's earlier events are none: the day before

	// The last nine days' events deleted as a prune does when it keeps the
	// rollups: the seven latest rollup days hold no event, and the answer
	// lies before them.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := KeepRollups(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM spark_events WHERE tenant = 'acme' AND event_time >= $1`, evs[3].EventTime); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want(t0.Add(30*24*time.Hour), evs[2].EventTime, true)
}
