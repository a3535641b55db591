package load

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"

	"sparkevents/migrations"
)

// MigrationStatus is one migration file and whether the database has it.
type MigrationStatus struct {
	Version   int64
	Source    string // file name, e.g. 00001_init.sql
	Applied   bool
	AppliedAt time.Time // zero when not applied
}

// MigrateUp creates schema if it is missing and applies every pending
// migration. The pool must come from Connect with the same schema: the
// migration files name their tables unqualified, so every function here
// refuses a pool whose search_path leads elsewhere.
func MigrateUp(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if err := createSchema(ctx, pool, schema); err != nil {
		return err
	}
	return withProvider(ctx, pool, schema, false, true, func(p *goose.Provider) error {
		applied, err := p.Up(ctx)
		if err != nil || len(applied) > 0 {
			// A failed run may have applied the migrations before the one
			// that failed.
			forgetStatements(pool)
		}
		if err != nil {
			return fmt.Errorf("migrate schema %s up: %w", schema, err)
		}
		return checkNotNewer(ctx, p, schema)
	})
}

// forgetStatements closes the pool's connections once the schema has
// changed. Each connection caches its prepared statements, and PostgreSQL
// refuses to run one whose result type a migration changed (a column's
// collation, since migration 5) with "cached plan must not change result
// type"; new connections prepare them again.
func forgetStatements(pool *pgxpool.Pool) { pool.Reset() }

// ErrSchemaNewer reports a schema migrated by a newer sparkevents.
var ErrSchemaNewer = errors.New("schema is newer than this sparkevents")

// checkNotNewer fails when the schema has a migration this binary does not
// know. goose would carry on, but what this binary writes may no longer
// fit: since migration 3, for example, hash IDs lead with the event's time,
// and an older binary would store every such event again under its old ID.
func checkNotNewer(ctx context.Context, p *goose.Provider, schema string) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("schema version of %s: %w", schema, err)
	}
	sources := p.ListSources()
	if known := sources[len(sources)-1].Version; v > known {
		return fmt.Errorf("schema %s has migration %d, and this sparkevents knows migrations up to %d: upgrade sparkevents before writing with it: %w", schema, v, known, ErrSchemaNewer)
	}
	return nil
}

// MigrateDown rolls back the most recently applied migration.
func MigrateDown(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	return withProvider(ctx, pool, schema, false, true, func(p *goose.Provider) error {
		if _, err := p.Down(ctx); err != nil {
			return fmt.Errorf("migrate schema %s down: %w", schema, err)
		}
		forgetStatements(pool)
		return nil
	})
}

// Migrations lists every known migration, oldest first, with its state in
// schema. It creates nothing: on a schema never migrated every migration is
// pending.
func Migrations(ctx context.Context, pool *pgxpool.Pool, schema string) ([]MigrationStatus, error) {
	exists, err := versionTableExists(ctx, pool, schema)
	if err != nil {
		return nil, err
	}
	var out []MigrationStatus
	err = withProvider(ctx, pool, schema, !exists, false, func(p *goose.Provider) error {
		if !exists {
			for _, s := range p.ListSources() {
				out = append(out, MigrationStatus{Version: s.Version, Source: s.Path})
			}
			return nil
		}
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migration status of schema %s: %w", schema, err)
		}
		for _, s := range st {
			out = append(out, MigrationStatus{
				Version:   s.Source.Version,
				Source:    s.Source.Path,
				Applied:   s.State == goose.StateApplied,
				AppliedAt: s.AppliedAt,
			})
		}
		return nil
	})
	return out, err
}

// SchemaVersion is the version of the newest applied migration, 0 for a
// schema never migrated. It creates nothing.
func SchemaVersion(ctx context.Context, pool *pgxpool.Pool, schema string) (int64, error) {
	exists, err := versionTableExists(ctx, pool, schema)
	if err != nil || !exists {
		return 0, err
	}
	var v int64
	err = withProvider(ctx, pool, schema, false, false, func(p *goose.Provider) error {
		var err error
		v, err = p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("schema version of %s: %w", schema, err)
		}
		return nil
	})
	return v, err
}

// versionTableExists tells a schema never migrated, where goose would create
// its version table on first use, from one that was.
func versionTableExists(ctx context.Context, pool *pgxpool.Pool, schema string) (bool, error) {
	var exists bool
	err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL",
		pgx.Identifier{schema, goose.DefaultTablename}.Sanitize()).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("migration state of schema %s: %w", schema, err)
	}
	return exists, nil
}

// createSchema creates schema unless it exists, and checks that the pool's
// search_path leads to it, all in one transaction so that a misdirected call
// leaves no empty schema behind.
func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if schema == "" {
		return errors.New("create schema: empty schema name")
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema %s: %w", schema, err)
		}
		return checkSearchPath(ctx, tx, schema)
	})
}

// checkSearchPath fails unless unqualified names resolve to schema, since
// the migration files name their tables unqualified.
func checkSearchPath(ctx context.Context, q Querier, schema string) error {
	var current *string
	if err := q.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
		return fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	if current != nil && *current == schema {
		return nil
	}
	var exists bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	if !exists {
		return fmt.Errorf("migrate schema %s: no such schema", schema)
	}
	return fmt.Errorf("migrate schema %s: the connection's search_path does not start with it; open the pool with load.Connect and the same schema", schema)
}

// withProvider runs f with a goose provider over pool whose version table
// lives in schema. Unless f only reads the migration files (files), it first
// checks that the pool's search_path leads to schema. Only a provider that
// changes the schema (exclusive) takes goose's session lock: reads must not
// queue behind it, as goose retries a taken lock only every few seconds and
// every sync reads the version.
func withProvider(ctx context.Context, pool *pgxpool.Pool, schema string, files, exclusive bool, f func(*goose.Provider) error) error {
	if schema == "" {
		return errors.New("migrate: empty schema name")
	}
	if !files {
		if err := checkSearchPath(ctx, pool, schema); err != nil {
			return err
		}
	}

	opts := []goose.ProviderOption{
		goose.WithStore(versionStore{table: pgx.Identifier{schema, goose.DefaultTablename}}),
		goose.WithDisableGlobalRegistry(true),
		goose.WithLogger(goose.NopLogger()),
	}
	if exclusive {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockKey("goose/" + schema)))
		if err != nil {
			return fmt.Errorf("migrate schema %s: %w", schema, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectCustom, db, migrations.FS, opts...)
	if err != nil {
		return fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	return f(p)
}

// lockKey maps a name to an advisory lock key. FNV-1a is stable across
// processes and versions, which is all a lock key needs.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// versionStore is goose's PostgreSQL version table, schema-qualified and
// quoted: goose's own store splices the table name into its SQL unquoted,
// which breaks on schema names that need quoting.
type versionStore struct {
	table pgx.Identifier
}

var _ database.StoreExtender = versionStore{}

func (s versionStore) Tablename() string { return s.table.Sanitize() }

func (s versionStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE `+s.Tablename()+` (
		id         integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
		version_id bigint NOT NULL,
		is_applied boolean NOT NULL,
		tstamp     timestamptz NOT NULL DEFAULT now()
	)`)
	return err
}

func (s versionStore) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	_, err := db.ExecContext(ctx, `INSERT INTO `+s.Tablename()+` (version_id, is_applied) VALUES ($1, true)`, req.Version)
	return err
}

func (s versionStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	_, err := db.ExecContext(ctx, `DELETE FROM `+s.Tablename()+` WHERE version_id = $1`, version)
	return err
}

func (s versionStore) GetMigration(ctx context.Context, db database.DBTxConn, version int64) (*database.GetMigrationResult, error) {
	var r database.GetMigrationResult
	err := db.QueryRowContext(ctx, `SELECT tstamp, is_applied FROM `+s.Tablename()+
		` WHERE version_id = $1 ORDER BY tstamp DESC LIMIT 1`, version).Scan(&r.Timestamp, &r.IsApplied)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", database.ErrVersionNotFound, version)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

func (s versionStore) GetLatestVersion(ctx context.Context, db database.DBTxConn) (int64, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version_id) FROM `+s.Tablename()).Scan(&v); err != nil {
		return -1, err
	}
	if !v.Valid {
		return -1, database.ErrVersionNotFound
	}
	return v.Int64, nil
}

func (s versionStore) ListMigrations(ctx context.Context, db database.DBTxConn) ([]*database.ListMigrationsResult, error) {
	rows, err := db.QueryContext(ctx, `SELECT version_id, is_applied FROM `+s.Tablename()+` ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*database.ListMigrationsResult
	for rows.Next() {
		var r database.ListMigrationsResult
		if err := rows.Scan(&r.Version, &r.IsApplied); err != nil {
			return nil, err
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s versionStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var exists bool
	err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.Tablename()).Scan(&exists)
	return exists, err
}
