package analyst

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/load"
)

// loginRole creates a LOGIN role with a random name (roles are shared by
// every database of the cluster) and drops it when the test ends, and
// returns the name and the password.
func loginRole(t *testing.T, pool *pgxpool.Pool) (string, string) {
	t.Helper()
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	role, password := "bi_reader_"+hex.EncodeToString(b[:]), "pw-"+hex.EncodeToString(b[:])
	// CREATE ROLE takes no bound parameters; both strings are ours.
	if _, err := pool.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Runs before the database is dropped: its grants must go first.
		ctx := context.Background()
		r := pgx.Identifier{role}.Sanitize()
		if _, err := pool.Exec(ctx, "DROP OWNED BY "+r); err != nil {
			t.Logf("drop owned by %s: %v", role, err)
		}
		if _, err := pool.Exec(ctx, "DROP ROLE "+r); err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	return role, password
}

// connectAs connects to the database of connString as role, with the same
// search_path the tool uses.
func connectAs(t *testing.T, connString, role, password string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(role, password),
		Host:     cfg.Host + ":" + strconv.Itoa(int(cfg.Port)),
		Path:     "/" + cfg.Database,
		RawQuery: "sslmode=disable",
	}
	pool, err := load.Connect(context.Background(), u.String(), testSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestGrantReader(t *testing.T) {
	owner, connString := migrated(t)
	ctx := context.Background()
	insertEvents(t, owner, dataset())
	insertSyncState(t, owner)
	role, password := loginRole(t, owner)

	reader := connectAs(t, connString, role, password)
	// Qualified: without USAGE on the schema an unqualified name is not found.
	if _, err := reader.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{testSchema, "spark_events"}.Sanitize()+" LIMIT 1"); !isPermissionDenied(err) {
		t.Fatalf("before the grant: %v, want permission denied", err)
	}

	if err := GrantReader(ctx, owner, testSchema, role); err != nil {
		t.Fatal(err)
	}
	// Granting twice is harmless: the CLI may be run again after a migration.
	if err := GrantReader(ctx, owner, testSchema, role); err != nil {
		t.Fatal(err)
	}

	t.Run("reads every table and view", func(t *testing.T) {
		for _, rel := range []string{
			"spark_events", "etl_runs", "etl_rejects", "etl_watermarks",
			"daily_event_counts", "user_activity", "service_lifecycle", "folder_activity", "permission_changes", "sync_health",
		} {
			var n int64
			if err := reader.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{rel}.Sanitize()).Scan(&n); err != nil {
				t.Errorf("SELECT from %s: %v", rel, err)
			} else if n == 0 {
				t.Errorf("%s is empty for the reader", rel)
			}
		}
	})
	t.Run("runs the query library", func(t *testing.T) {
		got := runJSON(t, reader, "top_services_by_publishes", map[string]string{"limit": "1"}, "service_name", "publishes")
		equalRows(t, "top service as the reader", got, [][]string{{"Quote", "2"}})
	})
	t.Run("cannot write or create", func(t *testing.T) {
		for _, stmt := range []string{
			"INSERT INTO spark_events (tenant, event_id, event_time, event_type, first_run_id, last_run_id) VALUES ('x', 'x', now(), 'x', 1, 1)",
			"UPDATE spark_events SET user_name = 'mallory'",
			"DELETE FROM spark_events",
			"TRUNCATE etl_rejects",
			"INSERT INTO etl_watermarks (tenant, watermark) VALUES ('x', now())",
			"CREATE TABLE " + pgx.Identifier{testSchema, "mine"}.Sanitize() + " (x int)",
			"CREATE VIEW " + pgx.Identifier{testSchema, "mine"}.Sanitize() + " AS SELECT 1",
			"DROP VIEW sync_health",
			"ALTER TABLE spark_events ADD COLUMN x int",
		} {
			if _, err := reader.Exec(ctx, stmt); !isPermissionDenied(err) {
				t.Errorf("%s: %v, want permission denied", stmt, err)
			}
		}
		var n int
		if err := owner.QueryRow(ctx, "SELECT count(*) FROM spark_events WHERE user_name = 'mallory'").Scan(&n); err != nil || n != 0 {
			t.Errorf("rows changed by the reader: %d, %v", n, err)
		}
	})
	t.Run("reads tables created later", func(t *testing.T) {
		if _, err := owner.Exec(ctx, "CREATE TABLE later (x int); INSERT INTO later VALUES (42)"); err != nil {
			t.Fatal(err)
		}
		var x int
		if err := reader.QueryRow(ctx, "SELECT x FROM later").Scan(&x); err != nil || x != 42 {
			t.Errorf("SELECT from a table created after the grant: %d, %v", x, err)
		}
		if _, err := reader.Exec(ctx, "INSERT INTO later VALUES (1)"); !isPermissionDenied(err) {
			t.Errorf("INSERT into a table created after the grant: %v, want permission denied", err)
		}
	})
}

func TestGrantReaderErrors(t *testing.T) {
	owner, _ := migrated(t)
	ctx := context.Background()
	err := GrantReader(ctx, owner, testSchema, "no_such_role_x")
	if err == nil || !strings.Contains(err.Error(), `role "no_such_role_x" does not exist`) ||
		!strings.Contains(err.Error(), `CREATE ROLE "no_such_role_x" LOGIN PASSWORD`) {
		t.Errorf("missing role: %v", err)
	}
	role, _ := loginRole(t, owner)
	if err := GrantReader(ctx, owner, "no_such_schema", role); err == nil || !strings.Contains(err.Error(), `schema "no_such_schema" does not exist`) {
		t.Errorf("missing schema: %v", err)
	}
	// A name that needs quoting is quoted, not spliced.
	if err := GrantReader(ctx, owner, testSchema, `x" TO PUBLIC; --`); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("hostile role name: %v", err)
	}
}

func isPermissionDenied(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}
