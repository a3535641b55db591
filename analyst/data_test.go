package analyst

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/internal/pgtest"
	"sparkevents/load"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testSchema is not the default schema name, so a view or query that named
// sparkevents instead of relying on search_path would fail.
const testSchema = "bi_test"

// migrated returns a pool on a fresh database with every migration applied
// in testSchema, and the database's connection string.
func migrated(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := pgtest.URL(t)
	return migratedAt(t, url), url
}

// migratedAt returns a pool on the database at url with every migration
// applied in testSchema.
func migratedAt(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := load.Connect(ctx, url, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := load.MigrateUp(ctx, pool, testSchema); err != nil {
		t.Fatal(err)
	}
	return pool
}

// ev is one event of the test dataset; empty strings are stored as NULL, as
// the loader does.
type ev struct {
	tenant, at, typ, user, folderID, folder, service, version, desc string
}

func day(d int, hhmm string) string { return fmt.Sprintf("2026-01-%02dT%s:00Z", d, hhmm) }

// dataset is a month of events of tenant acme (and two of tenant beta) whose
// answers are known by construction; the tests state them.
//
//   - alice logs in (SparkLogin) at 09:15 every day of January 2026 but the
//     24th: 30 log-ins. bob logs in (CALogin) at 14:30 on the Mondays 5, 12,
//     19 and 26. carol logs in on the 2nd at 08:00 and is never seen again.
//   - Folder Pricing (f1): service Quote is published as v1 (3rd), updated to
//     v2 (10th), deactivated (15th) and activated (16th) by bob, its v1 is
//     deleted by bob (17th), and v3 is published (21st). Rates is published
//     (4th) and deleted by bob (25th). Folder Claims (f2): dave publishes
//     Triage (6th).
//   - Permissions: carol adds one in Claims (2nd); alice adds two (7th, 8th)
//     and removes one (9th) in Pricing; bob modifies one in Claims (12th).
//   - Deletions: the two above, bob deletes a product document in Claims
//     (27th, with HTML in its description), dave a transform (28th, a type
//     the contract does not list).
//   - dave downloads Quote 40 times on the 20th: the one high volume day.
//   - alice does a FancyNewThing (28th); a RecompileNeuron has no user (29th).
//   - beta: eve logs in (5th, 09:00) and publishes Other in folder Misc (09:30).
func dataset() []ev {
	var es []ev
	for d := 1; d <= 31; d++ {
		if d != 24 {
			es = append(es, ev{tenant: "acme", at: day(d, "09:15"), typ: "SparkLogin", user: "alice"})
		}
	}
	for _, d := range []int{5, 12, 19, 26} {
		es = append(es, ev{tenant: "acme", at: day(d, "14:30"), typ: "CALogin", user: "bob"})
	}
	for i := range 40 {
		es = append(es, ev{tenant: "acme", at: fmt.Sprintf("2026-01-20T16:00:%02dZ", i), typ: "DownloadEngine", user: "dave",
			folderID: "f1", folder: "Pricing", service: "Quote", version: "v2"})
	}
	es = append(es,
		ev{"acme", day(2, "08:00"), "SparkLogin", "carol", "", "", "", "", ""},
		ev{"acme", day(2, "08:05"), "AddPermission", "carol", "f2", "Claims", "", "", "grant view to eve"},
		ev{"acme", day(3, "10:00"), "PublishEngine", "alice", "f1", "Pricing", "Quote", "v1", ""},
		ev{"acme", day(4, "10:00"), "PublishEngine", "alice", "f1", "Pricing", "Rates", "v1", ""},
		ev{"acme", day(6, "10:00"), "PublishEngine", "dave", "f2", "Claims", "Triage", "v1", ""},
		ev{"acme", day(7, "10:00"), "AddPermission", "alice", "f1", "Pricing", "", "", "grant edit to bob"},
		ev{"acme", day(8, "10:00"), "AddPermission", "alice", "f1", "Pricing", "", "", "grant view to dave"},
		ev{"acme", day(9, "10:00"), "RemovePermission", "alice", "f1", "Pricing", "", "", "revoke view from dave"},
		ev{"acme", day(10, "10:00"), "UpdateEngine", "alice", "f1", "Pricing", "Quote", "v2", ""},
		ev{"acme", day(12, "15:00"), "ModifyPermission", "bob", "f2", "Claims", "", "", "view to edit for carol"},
		ev{"acme", day(15, "11:00"), "ServiceDeactivated", "bob", "f1", "Pricing", "Quote", "v2", ""},
		ev{"acme", day(16, "11:00"), "ServiceActivated", "bob", "f1", "Pricing", "Quote", "v2", ""},
		ev{"acme", day(17, "11:00"), "DeleteEngineVersion", "bob", "f1", "Pricing", "Quote", "v1", ""},
		ev{"acme", day(21, "10:00"), "PublishEngine", "alice", "f1", "Pricing", "Quote", "v3", ""},
		ev{"acme", day(25, "12:00"), "DeleteEngine", "bob", "f1", "Pricing", "Rates", "v1", ""},
		ev{"acme", day(27, "13:00"), "DeleteProductDocument", "bob", "f2", "Claims", "", "", `<b>spec</b> & "notes"`},
		ev{"acme", day(28, "09:00"), "DeleteTransform", "dave", "f2", "Claims", "", "", ""},
		ev{"acme", day(28, "10:00"), "FancyNewThing", "alice", "", "", "", "", ""},
		ev{"acme", day(29, "03:00"), "RecompileNeuron", "", "f1", "Pricing", "Quote", "v3", ""},
		ev{"beta", day(5, "09:00"), "SparkLogin", "eve", "", "", "", "", ""},
		ev{"beta", day(5, "09:30"), "PublishEngine", "eve", "f9", "Misc", "Other", "v1", ""},
	)
	return es
}

// insertEvents stores events under one import run, with plain INSERTs.
func insertEvents(t testing.TB, pool *pgxpool.Pool, es []ev) {
	t.Helper()
	ctx := context.Background()
	var run int64
	err := pool.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, finished_at)
		VALUES ('import', 'acme', 'test dataset', 'succeeded', now() - interval '10 days') RETURNING run_id`).Scan(&run)
	if err != nil {
		t.Fatal(err)
	}
	// An old run: make started_at match, so it stays out of the last day.
	if _, err := pool.Exec(ctx, `UPDATE etl_runs SET started_at = now() - interval '10 days' WHERE run_id = $1`, run); err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		at, err := time.Parse(time.RFC3339, e.at)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pool.Exec(ctx, `INSERT INTO spark_events
			(tenant, event_id, event_time, event_type, user_name, folder_id, folder_name,
			 service_name, service_version, description, first_run_id, last_run_id)
			VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), nullif($7, ''),
			        nullif($8, ''), nullif($9, ''), nullif($10, ''), $11, $11)`,
			e.tenant, fmt.Sprintf("e%04d", i), at, e.typ, e.user, e.folderID, e.folder, e.service, e.version, e.desc, run)
		if err != nil {
			t.Fatalf("insert %+v: %v", e, err)
		}
	}
}

// insertSyncState records loads relative to now:
//
//   - acme: a sync succeeded 3 h ago (finished 1 min later), one failed 1 h
//     ago with 2 rejects, an import 2 days ago had 1 reject; the watermark is
//     2 h behind now.
//   - beta: a sync succeeded 30 min ago; the watermark is 45 min behind.
//   - gamma: its first sync is running; no watermark yet.
func insertSyncState(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		WITH ok AS (
		    INSERT INTO etl_runs (kind, tenant, source, status, started_at, finished_at)
		    VALUES ('sync', 'acme', 'job 1', 'succeeded', now() - interval '3 hours', now() - interval '179 minutes')
		    RETURNING run_id
		), failed AS (
		    INSERT INTO etl_runs (kind, tenant, source, status, started_at, finished_at, error)
		    VALUES ('sync', 'acme', 'job 2', 'failed', now() - interval '1 hour', now() - interval '59 minutes', 'export job failed: <timeout>')
		    RETURNING run_id
		), old AS (
		    INSERT INTO etl_runs (kind, tenant, source, status, started_at, finished_at)
		    VALUES ('import', 'acme', 'old.xlsx', 'succeeded', now() - interval '2 days', now() - interval '2 days')
		    RETURNING run_id
		), rejects AS (
		    INSERT INTO etl_rejects (run_id, source, sheet, row_number, raw, reason)
		    SELECT run_id, 'job 2', 'Events', n, '{}'::jsonb, 'bad timestamp' FROM failed, generate_series(2, 3) n
		    UNION ALL
		    SELECT run_id, 'old.xlsx', 'Events', 7, '{}'::jsonb, 'no event type' FROM old
		)
		INSERT INTO etl_watermarks (tenant, watermark, last_run_id)
		SELECT 'acme', now() - interval '2 hours', run_id FROM ok`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		WITH ok AS (
		    INSERT INTO etl_runs (kind, tenant, source, status, started_at, finished_at)
		    VALUES ('sync', 'beta', 'job 3', 'succeeded', now() - interval '30 minutes', now() - interval '29 minutes')
		    RETURNING run_id
		)
		INSERT INTO etl_watermarks (tenant, watermark, last_run_id)
		SELECT 'beta', now() - interval '45 minutes', run_id FROM ok`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, started_at)
		VALUES ('sync', 'gamma', 'job 4', 'running', now() - interval '5 minutes')`)
	if err != nil {
		t.Fatal(err)
	}
}

// loaded returns a pool on a database holding dataset and the sync state.
func loaded(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := migrated(t)
	insertEvents(t, pool, dataset())
	insertSyncState(t, pool)
	return pool
}
