package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/internal/pgtest"
	"sparkevents/migrations"
	"sparkevents/transform"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testSchema needs quoting: capitals, a dash, a space and a double quote.
const testSchema = `Se-Test "x"`

// migrated returns a pool on a fresh database with testSchema migrated.
func migrated(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := Connect(ctx, pgtest.URL(t), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := MigrateUp(ctx, pool, testSchema); err != nil {
		t.Fatal(err)
	}
	return pool
}

func seq(events []transform.Event) iter.Seq2[*transform.Event, error] {
	return func(yield func(*transform.Event, error) bool) {
		for i := range events {
			if !yield(&events[i], nil) {
				return
			}
		}
	}
}

// beginRun opens a transaction, rolled back when the test ends unless
// committed, and begins run r in it.
func beginRun(t testing.TB, pool *pgxpool.Pool, r Run) (pgx.Tx, int64) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	id, err := BeginRun(ctx, tx, r)
	if err != nil {
		t.Fatal(err)
	}
	return tx, id
}

// acquire takes a connection out of pool for the rest of the test.
func acquire(t testing.TB, pool *pgxpool.Pool) *pgx.Conn {
	t.Helper()
	pc, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pc.Release)
	return pc.Conn()
}

// loadRun loads events as one committed import run of tenant "acme".
func loadRun(t testing.TB, pool *pgxpool.Pool, events []transform.Event) (int64, Counts) {
	t.Helper()
	ctx := context.Background()
	tx, id := beginRun(t, pool, Run{Kind: "import", Tenant: "acme", Source: "test.xlsx"})
	c, err := Upsert(ctx, tx, id, seq(events))
	if err != nil {
		t.Fatal(err)
	}
	if err := FinishRun(ctx, tx, id, c); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return id, c
}

var baseTime = time.Date(2026, 3, 2, 15, 8, 0, 123456000, time.UTC)

func makeEvents(n int) []transform.Event {
	evs := make([]transform.Event, n)
	for i := range evs {
		evs[i] = transform.Event{
			Tenant:      "acme",
			EventID:     fmt.Sprintf("ev-%06d", i),
			EventTime:   baseTime.Add(time.Duration(i) * time.Second),
			EventType:   "PublishEngine",
			UserName:    fmt.Sprintf("user%d@example.com", i%7),
			FolderID:    "8bc193d8-5f82-49d1-8da8-d689f6ab163f",
			FolderName:  "Pricing",
			ServiceName: "AllInputTypes",
			Description: "published",
			Attributes:  json.RawMessage(fmt.Sprintf(`{"Region": "EU", "Seq": %d}`, i)),
		}
		if i%3 == 0 {
			evs[i].ServiceVersion = "1.2.3"
			evs[i].IPAddress = "10.0.0.1"
		}
		if i%5 == 0 {
			evs[i].Attributes = nil
		}
	}
	return evs
}

func count(t testing.TB, q Querier, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// embeddedMigrations lists the migration files, oldest first, so the tests
// keep up as migrations are added.
func embeddedMigrations(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	slices.Sort(names)
	return names
}

func TestMigrateCreatesTablesInSchemaOnly(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	files := embeddedMigrations(t)
	latest := int64(len(files))
	for _, schema := range []string{"se_test", testSchema} {
		t.Run(schema, func(t *testing.T) {
			pool, err := Connect(ctx, url, schema)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if v, err := SchemaVersion(ctx, pool, schema); err != nil || v != 0 {
				t.Fatalf("SchemaVersion before migrating = %d, %v; want 0", v, err)
			}
			if ms, err := Migrations(ctx, pool, schema); err != nil || len(ms) != len(files) || ms[0].Applied {
				t.Fatalf("Migrations before migrating = %+v, %v; want %d pending", ms, err, len(files))
			}
			if n := count(t, pool, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema); n != 0 {
				t.Fatalf("reading the migration state created schema %q", schema)
			}

			if err := MigrateUp(ctx, pool, schema); err != nil {
				t.Fatal(err)
			}
			if err := MigrateUp(ctx, pool, schema); err != nil {
				t.Fatalf("second MigrateUp: %v", err)
			}
			tables := func() []string {
				rows, err := pool.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema)
				if err != nil {
					t.Fatal(err)
				}
				names, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				return names
			}
			want := []string{"etl_rejects", "etl_runs", "etl_watermarks", "goose_db_version", "rollup_daily_events", "rollup_daily_folders", "rollup_daily_services", "rollup_daily_users", "rollup_hourly_logins", "rollup_login_hours", "rollup_service_users", "rollup_users", "spark_events", "spark_profiles"}
			if got := tables(); !slices.Equal(got, want) {
				t.Errorf("tables in %q = %v, want %v", schema, got, want)
			}
			if n := count(t, pool, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"); n != 0 {
				t.Errorf("%d relations in public, want 0", n)
			}

			if v, err := SchemaVersion(ctx, pool, schema); err != nil || v != latest {
				t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest)
			}
			ms, err := Migrations(ctx, pool, schema)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(files) {
				t.Fatalf("Migrations = %+v, want %d", ms, len(files))
			}
			for i, m := range ms {
				if m.Version != int64(i+1) || m.Source != files[i] || !m.Applied || m.AppliedAt.IsZero() {
					t.Errorf("Migrations[%d] = %+v, want version %d %s applied", i, m, i+1, files[i])
				}
			}

			if err := MigrateDown(ctx, pool, schema); err != nil {
				t.Fatal(err)
			}
			if v, err := SchemaVersion(ctx, pool, schema); err != nil || v != latest-1 {
				t.Errorf("SchemaVersion after one down = %d, %v; want %d", v, err, latest-1)
			}
			if ms, err := Migrations(ctx, pool, schema); err != nil || ms[len(ms)-1].Applied {
				t.Errorf("Migrations after one down = %+v, %v; want the last not applied", ms, err)
			}
			for v := latest - 1; v > 0; v-- {
				if err := MigrateDown(ctx, pool, schema); err != nil {
					t.Fatal(err)
				}
			}
			if got := tables(); !slices.Equal(got, []string{"goose_db_version"}) {
				t.Errorf("tables after migrating down to 0 = %v, want only goose_db_version", got)
			}
			if v, err := SchemaVersion(ctx, pool, schema); err != nil || v != 0 {
				t.Errorf("SchemaVersion after down = %d, %v; want 0", v, err)
			}
			if err := MigrateUp(ctx, pool, schema); err != nil {
				t.Fatalf("up after down: %v", err)
			}
			if got := tables(); !slices.Equal(got, want) {
				t.Errorf("tables after down and up = %v, want %v", got, want)
			}
		})
	}
}

func TestMigrateRefusesPoolOfOtherSchema(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, pgtest.URL(t), "one")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := MigrateUp(ctx, pool, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA two"); err != nil {
		t.Fatal(err)
	}
	tables := func() int64 {
		return count(t, pool, "SELECT count(*) FROM pg_tables WHERE schemaname <> 'pg_catalog' AND schemaname <> 'information_schema'")
	}
	before := tables()
	for _, schema := range []string{"two", "three"} { // existing, missing
		if err := MigrateUp(ctx, pool, schema); err == nil || !strings.Contains(err.Error(), "search_path") {
			t.Errorf("MigrateUp(%s) on a pool for schema one = %v, want a search_path error", schema, err)
		}
		if err := MigrateDown(ctx, pool, schema); err == nil {
			t.Errorf("MigrateDown(%s) on a pool for schema one succeeded", schema)
		}
	}
	if n := tables(); n != before {
		t.Errorf("refused migrations changed the table count from %d to %d", before, n)
	}
	if n := count(t, pool, "SELECT count(*) FROM pg_namespace WHERE nspname = 'three'"); n != 0 {
		t.Error("refused MigrateUp left schema three behind")
	}
}

func TestMigrateUpRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	files := embeddedMigrations(t)
	// A newer release applied a migration this one does not have.
	newer := len(files) + 1
	if _, err := pool.Exec(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)", newer); err != nil {
		t.Fatal(err)
	}
	err := MigrateUp(ctx, pool, testSchema)
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprintf("migration %d", newer)) || !strings.Contains(err.Error(), "upgrade sparkevents") {
		t.Fatalf("MigrateUp on a schema at migration %d = %v, want ErrSchemaNewer naming it and what to do", newer, err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM goose_db_version WHERE version_id = $1", newer); err != nil {
		t.Fatal(err)
	}
	if err := MigrateUp(ctx, pool, testSchema); err != nil {
		t.Fatalf("MigrateUp at the known version: %v", err)
	}
}

func TestConnectErrorHidesPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, conn := range []string{
		"postgres://someone:s3cretpw@127.0.0.1:1/db?connect_timeout=2", // nothing listens on port 1
		"postgres://someone:s3cretpw@127.0.0.1:notaport/db",
		"host=127.0.0.1 port=1 user=someone password=s3cretpw connect_timeout=2",
	} {
		_, err := Connect(ctx, conn, "x")
		if err == nil {
			t.Fatalf("Connect(%q) succeeded", conn)
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("error shows the password: %v", err)
		}
		if !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("error does not name DATABASE_URL: %v", err)
		}
	}
}

func TestConnectSetsSessionParameters(t *testing.T) {
	ctx := context.Background()
	pool, err := Connect(ctx, pgtest.URL(t), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var path, app string
	if err := pool.QueryRow(ctx, "SELECT current_setting('search_path'), current_setting('application_name')").Scan(&path, &app); err != nil {
		t.Fatal(err)
	}
	if want := `"Se-Test ""x""", public`; path != want {
		t.Errorf("search_path = %s, want %s", path, want)
	}
	if app != "sparkevents" {
		t.Errorf("application_name = %s, want sparkevents", app)
	}
}
