// Package pipeline orchestrates extract, transform and load: it plans export
// windows from the watermark, runs each through download, parse and upsert,
// and records every run. It is the only package that knows all three.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/load"
)

// Errors callers can classify with errors.Is, for exit codes.
var (
	// ErrUsage: the command was given options it cannot run with.
	ErrUsage = errors.New("usage")
	// ErrLocked: another sync or backfill of the tenant holds its lock.
	ErrLocked = load.ErrLocked
	// ErrSpark: the Spark API refused a request or an export job failed.
	ErrSpark = errors.New("spark")
	// ErrDatabase: PostgreSQL could not be reached or migrated.
	ErrDatabase = errors.New("database")
	// ErrInput: a workbook could not be read or had too many bad rows.
	ErrInput = errors.New("input")
)

// Config says where the events are stored.
type Config struct {
	DatabaseURL string // "" means the standard PG* environment variables
	Schema      string // Postgres schema of every table, default "sparkevents"
	Logger      *slog.Logger
	Progress    Progress // nil for none
}

// Pipeline runs imports, syncs and backfills against one database schema.
type Pipeline struct {
	db       *pgxpool.Pool
	schema   string
	log      *slog.Logger
	progress Progress

	workOnce sync.Once
	work     *workDir
	workErr  error
}

// Open connects to PostgreSQL. It does not migrate: writers call Migrate.
func Open(ctx context.Context, cfg Config) (*Pipeline, error) {
	p := Offline(cfg)
	db, err := load.Connect(ctx, cfg.DatabaseURL, p.schema)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDatabase, err)
	}
	p.db = db
	return p, nil
}

// Offline returns a pipeline without a database, for dry-run imports,
// which only parse. Anything else it is asked to do fails.
func Offline(cfg Config) *Pipeline {
	if cfg.Schema == "" {
		cfg.Schema = "sparkevents"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Progress == nil {
		cfg.Progress = nopProgress{}
	}
	return &Pipeline{schema: cfg.Schema, log: cfg.Logger, progress: cfg.Progress}
}

// Close releases the database connections and removes the temporary files.
func (p *Pipeline) Close() {
	if p.db != nil {
		p.db.Close()
	}
	if p.work != nil {
		p.work.remove()
	}
}

// tempDir is the run's directory of temporary files (see workdir.go),
// made on first use.
func (p *Pipeline) tempDir() (string, error) {
	p.workOnce.Do(func() { p.work, p.workErr = newWorkDir(p.log) })
	if p.workErr != nil {
		return "", p.workErr
	}
	return p.work.path, nil
}

// DB is the connection pool, for read-only consumers such as the analyst layer.
func (p *Pipeline) DB() *pgxpool.Pool { return p.db }

// Schema is the Postgres schema the pipeline writes to.
func (p *Pipeline) Schema() string { return p.schema }

// Migrate applies every pending migration.
func (p *Pipeline) Migrate(ctx context.Context) error {
	if err := load.MigrateUp(ctx, p.db, p.schema); err != nil {
		return fmt.Errorf("%w: migrate schema %s: %w", ErrDatabase, p.schema, err)
	}
	return nil
}

// MigrateDown rolls the newest migration back.
func (p *Pipeline) MigrateDown(ctx context.Context) error {
	if err := load.MigrateDown(ctx, p.db, p.schema); err != nil {
		return fmt.Errorf("%w: migrate down schema %s: %w", ErrDatabase, p.schema, err)
	}
	return nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (p *Pipeline) MigrationStatus(ctx context.Context) ([]load.MigrationStatus, error) {
	ms, err := load.Migrations(ctx, p.db, p.schema)
	return ms, dbErr(err)
}

// SchemaVersion is the newest applied migration.
func (p *Pipeline) SchemaVersion(ctx context.Context) (int64, error) {
	v, err := load.SchemaVersion(ctx, p.db, p.schema)
	return v, dbErr(err)
}

// Runs lists recent runs, newest first; tenant "" lists every tenant's.
func (p *Pipeline) Runs(ctx context.Context, tenant string, limit int) ([]RunInfo, error) {
	rs, err := load.Runs(ctx, p.db, tenant, limit)
	return rs, dbErr(err)
}

// TenantStatus and RunInfo are load's reports, named here so that callers
// of the pipeline need not import load.
type (
	TenantStatus = load.TenantStatus
	// Profile is what syncs learned about a tenant's Spark.
	Profile = load.Profile
	RunInfo = load.RunInfo
)

// Status reports each tenant's watermark, volume and last run.
func (p *Pipeline) Status(ctx context.Context) ([]TenantStatus, error) {
	st, err := load.Status(ctx, p.db)
	return st, dbErr(err)
}

// dbErr classes a database error for exit codes.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrDatabase, err)
}

// Progress receives what a terminal progress bar shows. Calls come from one
// goroutine at a time.
type Progress interface {
	// Start begins a new bar of total units (-1 when unknown) named label.
	Start(label string, total int64)
	// Add advances the bar by n units.
	Add(n int64)
	// Rows counts n rows parsed; a bar of rows advances by them.
	Rows(n int64)
	// Describe replaces the text beside the bar.
	Describe(text string)
	// Finish ends the bar.
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Add(int64)           {}
func (nopProgress) Rows(int64)          {}
func (nopProgress) Describe(string)     {}
func (nopProgress) Finish()             {}

// cleanupContext outlives a cancelled run long enough to record its failure.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// recordFailure stores run as failed with cause and returns its ID, 0 if it
// could not be stored, which is logged: the failure itself is what the
// caller reports. It uses a context of its own, since the run's may be the
// one that was cancelled.
func (p *Pipeline) recordFailure(run load.Run, c load.Counts, cause error) int64 {
	ctx, cancel := cleanupContext()
	defer cancel()
	id, err := load.RecordFailedRun(ctx, p.db, run, c, cause)
	if err != nil {
		p.log.Error("record failed run", "tenant", run.Tenant, "source", run.Source, "err", err)
	}
	return id
}
