package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sparkevents/transform"
)

// Run describes one load of one source of one tenant.
type Run struct {
	Kind                   string // import | sync | backfill
	Tenant                 string
	Source                 string    // file path or "job <id>"
	WindowStart, WindowEnd time.Time // zero for imports
	// StartedAt is when the run's work began: for a window, when its
	// export job was submitted, so that a run's duration counts the wait
	// for Spark and the download. Zero means when the run is recorded.
	StartedAt time.Time
}

// Counts are a run's row counts.
type Counts struct {
	Read, Inserted, Updated, Unchanged, Rejected int64
}

// BeginRun records r as running and returns its ID. The row is written in
// tx, so a process killed mid-load leaves no run that claims to be running.
func BeginRun(ctx context.Context, tx pgx.Tx, r Run) (runID int64, err error) {
	err = tx.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, window_start, window_end, status, started_at)
		VALUES ($1, $2, $3, $4, $5, 'running', coalesce($6, now())) RETURNING run_id`,
		r.Kind, r.Tenant, r.Source, nullTime(r.WindowStart), nullTime(r.WindowEnd), nullTime(r.StartedAt)).Scan(&runID)
	if err != nil {
		return 0, fmt.Errorf("begin %s run of tenant %s: %w", r.Kind, r.Tenant, err)
	}
	return runID, nil
}

// FinishRun marks run runID succeeded with counts c.
func FinishRun(ctx context.Context, tx pgx.Tx, runID int64, c Counts) error {
	// clock_timestamp, not now(): now() is the transaction's start, the same
	// instant as started_at when BeginRun ran in this transaction.
	tag, err := tx.Exec(ctx, `UPDATE etl_runs SET status = 'succeeded', finished_at = clock_timestamp(),
		rows_read = $2, rows_inserted = $3, rows_updated = $4, rows_unchanged = $5, rows_rejected = $6
		WHERE run_id = $1`,
		runID, c.Read, c.Inserted, c.Updated, c.Unchanged, c.Rejected)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", runID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("finish run %d: no such run", runID)
	}
	return nil
}

// RecordFailedRun records r as failed with counts c and the error cause,
// after the transaction that loaded it rolled back. It is a single statement,
// hence its own transaction. It runs even when ctx is already canceled, as
// it is when the failure was an interrupt, but for at most ten seconds.
func RecordFailedRun(ctx context.Context, pool *pgxpool.Pool, r Run, c Counts, cause error) (runID int64, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var msg *string
	if cause != nil {
		s := cause.Error()
		msg = &s
	}
	err = pool.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, window_start, window_end, status, started_at, finished_at,
			rows_read, rows_inserted, rows_updated, rows_unchanged, rows_rejected, error)
		VALUES ($1, $2, $3, $4, $5, 'failed', coalesce($12, now()), clock_timestamp(), $6, $7, $8, $9, $10, $11) RETURNING run_id`,
		r.Kind, r.Tenant, r.Source, nullTime(r.WindowStart), nullTime(r.WindowEnd),
		c.Read, c.Inserted, c.Updated, c.Unchanged, c.Rejected, msg, nullTime(r.StartedAt)).Scan(&runID)
	if err != nil {
		return 0, fmt.Errorf("record failed %s run of tenant %s: %w", r.Kind, r.Tenant, err)
	}
	return runID, nil
}

// InsertRejects stores the rows of source that could not become events.
func InsertRejects(ctx context.Context, tx pgx.Tx, runID int64, source string, rejects []transform.Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"etl_rejects"},
		[]string{"run_id", "source", "sheet", "row_number", "raw", "reason"},
		pgx.CopyFromSlice(len(rejects), func(i int) ([]any, error) {
			r := rejects[i]
			raw := []byte(r.Raw)
			if len(raw) == 0 {
				raw = []byte(`{}`)
			}
			return []any{runID, source, r.Sheet, r.Row, raw, r.Reason}, nil
		}))
	if err != nil {
		return fmt.Errorf("insert %d rejects of run %d: %w", len(rejects), runID, err)
	}
	if n != int64(len(rejects)) {
		return fmt.Errorf("insert rejects of run %d: copied %d of %d", runID, n, len(rejects))
	}
	return nil
}

// RunInfo is a stored run, for reports.
type RunInfo struct {
	ID                     int64
	Kind, Tenant, Source   string
	Status                 string // running | succeeded | failed
	WindowStart, WindowEnd *time.Time
	StartedAt              time.Time
	FinishedAt             *time.Time
	Counts                 Counts
	Error                  string
}

// runColumns is the select list scanRun reads, over etl_runs aliased r.
const runColumns = `r.run_id, r.kind, r.tenant, r.source, r.status, r.window_start, r.window_end,
	r.started_at, r.finished_at, r.rows_read, r.rows_inserted, r.rows_updated, r.rows_unchanged,
	r.rows_rejected, coalesce(r.error, '')`

func scanRun(row pgx.CollectableRow) (RunInfo, error) {
	var ri RunInfo
	err := row.Scan(&ri.ID, &ri.Kind, &ri.Tenant, &ri.Source, &ri.Status, &ri.WindowStart, &ri.WindowEnd,
		&ri.StartedAt, &ri.FinishedAt, &ri.Counts.Read, &ri.Counts.Inserted, &ri.Counts.Updated,
		&ri.Counts.Unchanged, &ri.Counts.Rejected, &ri.Error)
	return ri, err
}

// Runs lists the newest limit runs of tenant, newest first; tenant "" means
// every tenant and limit <= 0 means no limit.
func Runs(ctx context.Context, q Querier, tenant string, limit int) ([]RunInfo, error) {
	var tenants []string
	if tenant != "" {
		tenants = []string{tenant}
	}
	return RunsOfTenants(ctx, q, tenants, limit)
}

// RunsOfTenants is Runs for the tenants named, every tenant when none is.
func RunsOfTenants(ctx context.Context, q Querier, tenants []string, limit int) ([]RunInfo, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := q.Query(ctx, `SELECT `+runColumns+` FROM etl_runs r
		WHERE coalesce(cardinality($1::text[]), 0) = 0 OR r.tenant = ANY($1)
		ORDER BY r.started_at DESC, r.run_id DESC
		LIMIT $2`, tenants, lim)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// LastSuccesses is when each tenant's newest succeeded sync run finished.
func LastSuccesses(ctx context.Context, q Querier) (map[string]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT tenant, max(finished_at) FROM etl_runs
		WHERE kind = 'sync' AND status = 'succeeded' AND finished_at IS NOT NULL GROUP BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("last successful syncs: %w", err)
	}
	out := map[string]time.Time{}
	var (
		tenant string
		at     time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&tenant, &at}, func() error {
		out[tenant] = at
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("last successful syncs: %w", err)
	}
	return out, nil
}

// TenantStatus summarizes what is stored for one tenant.
type TenantStatus struct {
	Tenant    string
	Watermark *time.Time // nil before the first sync
	Events    int64
	LastEvent *time.Time // time of the newest stored event
	LastRun   *RunInfo
	// LastSync is the newest sync run: what cron's health turns on, which
	// a later import or backfill would hide as LastRun.
	LastSync       *RunInfo
	RejectsLastDay int64 // rejects stored by runs started in the last 24 hours
	// Spark is what syncs learned about the tenant's Spark; nil before any.
	Spark *Profile
}

// Status reports every tenant that has events, runs or a watermark, ordered
// by tenant.
func Status(ctx context.Context, q Querier) ([]TenantStatus, error) {
	rows, err := q.Query(ctx, `WITH ev AS (
			SELECT tenant, count(*) AS events, max(event_time) AS last_event FROM spark_events GROUP BY tenant
		), rj AS (
			SELECT r.tenant, count(*) AS rejects FROM etl_rejects j JOIN etl_runs r USING (run_id)
			WHERE r.started_at > now() - interval '1 day' GROUP BY r.tenant
		), tenants AS (
			SELECT tenant FROM ev UNION SELECT tenant FROM etl_runs UNION SELECT tenant FROM etl_watermarks
		)
		SELECT t.tenant, w.watermark, coalesce(ev.events, 0), ev.last_event, coalesce(rj.rejects, 0)
		FROM tenants t
		LEFT JOIN ev USING (tenant)
		LEFT JOIN rj USING (tenant)
		LEFT JOIN etl_watermarks w ON w.tenant = t.tenant AND w.stream = 'events'
		ORDER BY t.tenant`)
	if err != nil {
		return nil, fmt.Errorf("tenant status: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TenantStatus, error) {
		var ts TenantStatus
		err := row.Scan(&ts.Tenant, &ts.Watermark, &ts.Events, &ts.LastEvent, &ts.RejectsLastDay)
		return ts, err
	})
	if err != nil {
		return nil, fmt.Errorf("tenant status: %w", err)
	}

	lastRuns, err := lastRunByTenant(ctx, q, "")
	if err != nil {
		return nil, err
	}
	lastSyncs, err := lastRunByTenant(ctx, q, "sync")
	if err != nil {
		return nil, err
	}
	profiles, err := Profiles(ctx, q)
	if err != nil {
		return nil, err
	}
	byTenant := make(map[string]*Profile, len(profiles))
	for i := range profiles {
		byTenant[profiles[i].Tenant] = &profiles[i]
	}
	for i := range out {
		out[i].LastRun = lastRuns[out[i].Tenant]
		out[i].LastSync = lastSyncs[out[i].Tenant]
		out[i].Spark = byTenant[out[i].Tenant]
	}
	return out, nil
}

// lastRunByTenant returns each tenant's newest run of kind, or of any kind
// when kind is "".
func lastRunByTenant(ctx context.Context, q Querier, kind string) (map[string]*RunInfo, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT ON (r.tenant) `+runColumns+` FROM etl_runs r
		WHERE $1 = '' OR r.kind = $1
		ORDER BY r.tenant, r.started_at DESC, r.run_id DESC`, kind)
	if err != nil {
		return nil, fmt.Errorf("tenant status: last runs: %w", err)
	}
	last, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("tenant status: last runs: %w", err)
	}
	byTenant := make(map[string]*RunInfo, len(last))
	for i := range last {
		byTenant[last[i].Tenant] = &last[i]
	}
	return byTenant, nil
}

// nullTime maps the zero time to SQL NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
