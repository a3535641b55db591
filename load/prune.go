package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PruneBatchRows is how many events one of a prune's transactions deletes
// by default: at 10M events, about a tenth of a second with the rollup
// triggers (bench/README.md, "Prune beside a sync").
const PruneBatchRows = 5000

// Prune says what a prune of one tenant removes. Cutoffs are rounded down
// to UTC midnight, so a day's events, and so its rollup rows, go whole.
type Prune struct {
	Tenant string
	// Events: the tenant's events before this time go; zero keeps them.
	Events time.Time
	// Rollups: the tenant's rollup rows of days before this time go; zero
	// means Events (the rollups follow the events). It may be earlier than
	// Events (the rollups keep a longer retention), not later. Events
	// between the two are deleted under KeepRollups, so the rollups still
	// count them; the rest with the triggers on, which subtract them.
	Rollups time.Time
	// Runs: the tenant's runs started before this time go, with their
	// rejects; zero keeps them. A running run, the run a watermark names
	// and the tenant's newest run of each kind always stay.
	Runs time.Time
	// BatchRows is how many events one transaction deletes; 0 is
	// PruneBatchRows.
	BatchRows int
	// Apply deletes; without it, Prune only counts.
	Apply bool
	// Command is how the prune was asked for, for its run's source.
	Command string
}

// Pruned is what a prune removed, or would remove.
type Pruned struct {
	Tenant                                  string
	Events                                  int64
	RollupRows                              int64 // rows of the per-day rollups, of days before the rollups' cutoff
	RollupsKept                             bool  // events were deleted under KeepRollups: the rollups still count them
	Runs, Rejects                           int64
	Batches                                 int
	LongestBatch                            time.Duration // the longest of the transactions that held the tenant's events lock
	Applied                                 bool
	RunID                                   int64 // the prune's row in etl_runs; 0 for a dry run
	EventsBefore, RollupsBefore, RunsBefore time.Time
}

// dailyRollups are the per-day rollups, with their count columns: what a
// prune of old days deletes.
var dailyRollups = []string{"rollup_daily_events", "rollup_daily_users", "rollup_daily_services", "rollup_hourly_logins", "rollup_daily_folders"}

// utcDay is t rounded down to UTC midnight; zero stays zero.
func utcDay(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(24 * time.Hour)
}

// PruneTenant deletes what p says of one tenant, in bounded batches: each
// batch of events is its own short transaction that holds the tenant's
// events lock (LockEvents), so a sync or import of the tenant waits at
// most one batch, and the prune waits for a load in progress. It records
// what it removed as a run of kind 'prune'. Without p.Apply it only
// counts, and records nothing.
//
// Events before p.Rollups are deleted with the rollup triggers on, which
// subtract them, so the rollups equal a rebuild from the remaining events;
// events between p.Rollups and p.Events under KeepRollups. Rollup rows
// that a prune with a longer rollup retention left behind, of days before
// p.Rollups, are then deleted a day at a time, and subtracted from the
// all-time rollups (rollup_users, rollup_service_users,
// rollup_login_hours).
func PruneTenant(ctx context.Context, pool *pgxpool.Pool, schema string, p Prune) (Pruned, error) {
	p.Events, p.Rollups, p.Runs = utcDay(p.Events), utcDay(p.Rollups), utcDay(p.Runs)
	if p.Rollups.IsZero() {
		p.Rollups = p.Events
	}
	r := Pruned{Tenant: p.Tenant, Applied: p.Apply, EventsBefore: p.Events, RollupsBefore: p.Rollups, RunsBefore: p.Runs}
	if p.Tenant == "" {
		return r, errors.New("prune: no tenant")
	}
	if !p.Events.IsZero() && p.Rollups.After(p.Events) {
		return r, fmt.Errorf("prune tenant %s: the rollups' cutoff %s is after the events' %s: rollups cannot outlive less than their events", p.Tenant, p.Rollups.Format(time.DateOnly), p.Events.Format(time.DateOnly))
	}
	if p.BatchRows <= 0 {
		p.BatchRows = PruneBatchRows
	}
	started := time.Now()
	err := pruneTenant(ctx, pool, schema, p, &r)
	if !p.Apply {
		if err != nil {
			return r, fmt.Errorf("prune tenant %s: %w", p.Tenant, err)
		}
		return r, nil
	}
	// Recorded whatever happened: a prune that failed half-way has still
	// deleted its committed batches.
	id, rerr := recordPrune(ctx, pool, p, r, started, err)
	r.RunID = id
	if err != nil {
		return r, fmt.Errorf("prune tenant %s: %w", p.Tenant, err)
	}
	return r, rerr
}

func pruneTenant(ctx context.Context, pool *pgxpool.Pool, schema string, p Prune, r *Pruned) error {
	if !p.Apply {
		return countPrune(ctx, pool, p, r)
	}
	if !p.Events.IsZero() {
		// The oldest first: with the triggers on below the rollups' cutoff,
		// then under KeepRollups up to the events' cutoff.
		if err := pruneEvents(ctx, pool, schema, p, time.Time{}, p.Rollups, false, r); err != nil {
			return err
		}
		if p.Rollups.Before(p.Events) {
			r.RollupsKept = true
			if err := pruneEvents(ctx, pool, schema, p, p.Rollups, p.Events, true, r); err != nil {
				return err
			}
		}
	}
	if !p.Rollups.IsZero() {
		if err := pruneRollups(ctx, pool, schema, p, r); err != nil {
			return err
		}
	}
	if !p.Runs.IsZero() {
		if err := pruneRuns(ctx, pool, p, r); err != nil {
			return err
		}
	}
	return nil
}

// countPrune is a dry run: what PruneTenant would delete.
func countPrune(ctx context.Context, pool *pgxpool.Pool, p Prune, r *Pruned) error {
	if !p.Events.IsZero() {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM spark_events WHERE tenant = $1 AND event_time < $2`, p.Tenant, p.Events).Scan(&r.Events); err != nil {
			return err
		}
		r.RollupsKept = p.Rollups.Before(p.Events)
	}
	if !p.Rollups.IsZero() {
		for _, table := range dailyRollups {
			var n int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()+` WHERE tenant = $1 AND day < $2::date`, p.Tenant, p.Rollups).Scan(&n); err != nil {
				return err
			}
			r.RollupRows += n
		}
	}
	if !p.Runs.IsZero() {
		err := pool.QueryRow(ctx, `WITH gone AS (`+prunableRunsSQL+`)
			SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM etl_rejects WHERE run_id IN (SELECT run_id FROM gone))`,
			p.Tenant, p.Runs, nil).Scan(&r.Runs, &r.Rejects)
		if err != nil {
			return err
		}
	}
	return nil
}

// pruneEvents deletes the tenant's events of [from, to) (from zero: from
// the oldest) in batches of p.BatchRows, oldest first, each in its own
// transaction under the tenant's events lock.
func pruneEvents(ctx context.Context, pool *pgxpool.Pool, schema string, p Prune, from, to time.Time, keepRollups bool, r *Pruned) error {
	lo := from
	if lo.IsZero() {
		lo = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) // before any Spark event
	}
	for {
		var (
			n    int64
			last *time.Time
		)
		took, err := eventsBatch(ctx, pool, schema, p.Tenant, func(tx pgx.Tx) error {
			if keepRollups {
				if err := KeepRollups(ctx, tx); err != nil {
					return err
				}
			}
			// By key, not ctid: a distributed table (Citus) deletes by its
			// key. The time index finds the oldest; the key deletes them.
			return tx.QueryRow(ctx, `WITH gone AS (
					DELETE FROM spark_events WHERE tenant = $1 AND event_id IN (
						SELECT event_id FROM spark_events
						WHERE tenant = $1 AND event_time >= $2 AND event_time < $3
						ORDER BY event_time LIMIT $4)
					RETURNING event_time)
				SELECT count(*), max(event_time) FROM gone`, p.Tenant, lo, to, p.BatchRows).Scan(&n, &last)
		})
		if err != nil {
			return fmt.Errorf("delete events before %s: %w", to.Format(time.DateOnly), err)
		}
		r.Batches++
		r.LongestBatch = max(r.LongestBatch, took)
		r.Events += n
		if n < int64(p.BatchRows) || last == nil {
			return nil
		}
		lo = *last
	}
}

// eventsBatch runs f in a transaction that holds the tenant's events lock,
// and says how long the lock was held.
func eventsBatch(ctx context.Context, pool *pgxpool.Pool, schema, tenant string, f func(pgx.Tx) error) (time.Duration, error) {
	var locked time.Time
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := LockEvents(ctx, tx, schema, tenant, nil); err != nil {
			return err
		}
		locked = time.Now()
		return f(tx)
	})
	if locked.IsZero() {
		return 0, err
	}
	return time.Since(locked), err
}

// pruneRollups deletes the tenant's rows of the per-day rollups of days
// before p.Rollups, a day per transaction, and subtracts them from the
// all-time rollups. Only a prune with a longer rollup retention leaves
// such rows: the triggers remove the others with their events. Where no
// rollup day is kept without its events any more, the all-time first and
// last times are read again from the events, as the triggers do;
// otherwise a first time is moved no earlier than the first day kept.
func pruneRollups(ctx context.Context, pool *pgxpool.Pool, schema string, p Prune, r *Pruned) error {
	exact := !p.Rollups.Before(p.Events) || p.Events.IsZero()
	for {
		var day *time.Time
		err := pool.QueryRow(ctx, `SELECT least(
				(SELECT min(day) FROM rollup_daily_events WHERE tenant = $1),
				(SELECT min(day) FROM rollup_daily_users WHERE tenant = $1),
				(SELECT min(day) FROM rollup_daily_services WHERE tenant = $1),
				(SELECT min(day) FROM rollup_hourly_logins WHERE tenant = $1))::timestamp AT TIME ZONE 'UTC'`, p.Tenant).Scan(&day)
		if err != nil {
			return fmt.Errorf("find the oldest rollup day: %w", err)
		}
		if day == nil || !day.Before(p.Rollups) {
			return nil
		}
		took, err := eventsBatch(ctx, pool, schema, p.Tenant, func(tx pgx.Tx) error {
			n, err := pruneRollupDay(ctx, tx, p.Tenant, *day, exact)
			r.RollupRows += n
			return err
		})
		if err != nil {
			return fmt.Errorf("delete rollups of %s: %w", day.Format(time.DateOnly), err)
		}
		r.Batches++
		r.LongestBatch = max(r.LongestBatch, took)
	}
}

// pruneRollupDay deletes one day of the per-day rollups of tenant and
// subtracts it from the all-time ones. Each step names the all-time rows
// it emptied, which the next deletes by key.
func pruneRollupDay(ctx context.Context, tx pgx.Tx, tenant string, day time.Time, exact bool) (int64, error) {
	var total, n int64
	// The days of events per type and per folder have no all-time rollup
	// to subtract them from.
	for _, table := range []string{"rollup_daily_events", "rollup_daily_folders"} {
		tag, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{table}.Sanitize()+` WHERE tenant = $1 AND day = $2::date`, tenant, day)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
	}

	// The users of the day: their events, and a first time no earlier
	// than the next day (read again from the events below when exact).
	var users, emptied []string
	err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM rollup_daily_users WHERE tenant = $1 AND day = $2::date RETURNING user_name, events),
		upd AS (UPDATE rollup_users r SET events = r.events - g.events,
		            first_seen = greatest(r.first_seen, ($2::date + 1)::timestamp AT TIME ZONE 'UTC')
		        FROM gone g WHERE r.tenant = $1 AND r.user_name = g.user_name
		        RETURNING r.user_name, r.events)
		SELECT (SELECT count(*) FROM gone),
		       coalesce((SELECT array_agg(user_name) FROM upd WHERE events > 0), '{}'),
		       coalesce((SELECT array_agg(user_name) FROM upd WHERE events <= 0), '{}')`, tenant, day).Scan(&n, &users, &emptied)
	if err != nil {
		return total, err
	}
	total += n
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_users WHERE tenant = $1 AND user_name = ANY($2)`, tenant, emptied); err != nil {
		return total, err
	}
	if exact && len(users) > 0 {
		// Every rollup day left has its events: a first time is that of
		// the user's first stored event, as the triggers read it.
		if _, err := tx.Exec(ctx, `UPDATE rollup_users r SET first_seen = e.first_seen
			FROM (SELECT u, (SELECT min(event_time) FROM spark_events e WHERE e.tenant = $1 AND e.user_name = u) AS first_seen
			      FROM unnest($2::text[]) u) e
			WHERE r.tenant = $1 AND r.user_name = e.u AND e.first_seen IS NOT NULL`, tenant, users); err != nil {
			return total, err
		}
	}

	var svc, folder, user []string
	err = tx.QueryRow(ctx, `WITH gone AS (DELETE FROM rollup_daily_services WHERE tenant = $1 AND day = $2::date
		              RETURNING service_name, folder_name, user_name, publishes, updates),
		upd AS (UPDATE rollup_service_users r SET publishes = r.publishes - g.publishes, updates = r.updates - g.updates,
		            last_published = CASE WHEN r.publishes - g.publishes > 0 THEN r.last_published END
		        FROM gone g WHERE r.tenant = $1 AND r.service_name = g.service_name
		          AND r.folder_name = g.folder_name AND r.user_name = g.user_name
		        RETURNING r.service_name, r.folder_name, r.user_name, r.publishes + r.updates AS left_)
		SELECT (SELECT count(*) FROM gone),
		       coalesce((SELECT array_agg(service_name ORDER BY service_name, folder_name, user_name) FROM upd WHERE left_ <= 0), '{}'),
		       coalesce((SELECT array_agg(folder_name ORDER BY service_name, folder_name, user_name) FROM upd WHERE left_ <= 0), '{}'),
		       coalesce((SELECT array_agg(user_name ORDER BY service_name, folder_name, user_name) FROM upd WHERE left_ <= 0), '{}')`,
		tenant, day).Scan(&n, &svc, &folder, &user)
	if err != nil {
		return total, err
	}
	total += n
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_service_users r USING unnest($2::text[], $3::text[], $4::text[]) k(s, f, u)
		WHERE r.tenant = $1 AND r.service_name = k.s AND r.folder_name = k.f AND r.user_name = k.u`, tenant, svc, folder, user); err != nil {
		return total, err
	}

	var hours []int16
	user = nil
	err = tx.QueryRow(ctx, `WITH gone AS (DELETE FROM rollup_hourly_logins WHERE tenant = $1 AND day = $2::date RETURNING hour, user_name, logins),
		g AS (SELECT hour, user_name, sum(logins) AS logins FROM gone GROUP BY 1, 2),
		upd AS (UPDATE rollup_login_hours r SET logins = r.logins - g.logins
		        FROM g WHERE r.tenant = $1 AND r.weekday = extract(isodow FROM $2::date) AND r.hour = g.hour
		          AND r.user_name = g.user_name
		        RETURNING r.hour, r.user_name, r.logins)
		SELECT (SELECT count(*) FROM gone),
		       coalesce((SELECT array_agg(hour ORDER BY hour, user_name) FROM upd WHERE logins <= 0), '{}'),
		       coalesce((SELECT array_agg(user_name ORDER BY hour, user_name) FROM upd WHERE logins <= 0), '{}')`,
		tenant, day).Scan(&n, &hours, &user)
	if err != nil {
		return total, err
	}
	total += n
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_login_hours r USING unnest($3::smallint[], $4::text[]) k(h, u)
		WHERE r.tenant = $1 AND r.weekday = extract(isodow FROM $2::date) AND r.hour = k.h AND r.user_name = k.u`, tenant, day, hours, user); err != nil {
		return total, err
	}
	return total, nil
}

// prunableRunsSQL selects the run_id of the runs of tenant $1 started
// before $2 that a prune may delete: not running, not named by a
// watermark, not the tenant's newest of their kind (status and sync_health
// report it), not a prune or forget (the record of what was removed), and
// when $3 is not null at most $3 of them.
const prunableRunsSQL = `SELECT r.run_id FROM etl_runs r
	WHERE r.tenant = $1 AND r.started_at < $2 AND r.status <> 'running'
	  AND r.kind NOT IN ('prune', 'forget')
	  AND r.run_id NOT IN (SELECT last_run_id FROM etl_watermarks WHERE tenant = $1 AND last_run_id IS NOT NULL)
	  AND r.run_id NOT IN (SELECT max(run_id) FROM etl_runs WHERE tenant = $1 GROUP BY kind)
	ORDER BY r.run_id LIMIT $3`

// pruneRuns deletes the tenant's old runs and, by the foreign key's
// cascade, their rejects, a hundred runs per transaction.
func pruneRuns(ctx context.Context, pool *pgxpool.Pool, p Prune, r *Pruned) error {
	for {
		var runs, rejects int64
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `WITH batch AS (`+prunableRunsSQL+`),
				rj AS (SELECT count(*) AS n FROM etl_rejects WHERE run_id IN (SELECT run_id FROM batch)),
				gone AS (DELETE FROM etl_runs WHERE run_id IN (SELECT run_id FROM batch) RETURNING 1)
				SELECT (SELECT count(*) FROM gone), (SELECT n FROM rj)`, p.Tenant, p.Runs, 100).Scan(&runs, &rejects)
		})
		if err != nil {
			return fmt.Errorf("delete runs before %s: %w", p.Runs.Format(time.DateOnly), err)
		}
		r.Runs += runs
		r.Rejects += rejects
		if runs < 100 {
			return nil
		}
	}
}

// recordPrune stores the prune as a run of kind 'prune'.
func recordPrune(ctx context.Context, pool *pgxpool.Pool, p Prune, r Pruned, started time.Time, cause error) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	details := map[string]any{
		"events": r.Events, "rollup_rows": r.RollupRows, "runs": r.Runs, "rejects": r.Rejects,
		"batches": r.Batches, "longest_batch_ms": r.LongestBatch.Milliseconds(), "rollups_kept": r.RollupsKept,
	}
	for k, t := range map[string]time.Time{"events_before": p.Events, "rollups_before": p.Rollups, "runs_before": p.Runs} {
		if !t.IsZero() {
			details[k] = t.Format(time.DateOnly)
		}
	}
	js, err := json.Marshal(details)
	if err != nil {
		return 0, err
	}
	status, msg := "succeeded", (*string)(nil)
	if cause != nil {
		status = "failed"
		s := cause.Error()
		msg = &s
	}
	source := p.Command
	if source == "" {
		source = "prune"
	}
	var id int64
	err = pool.QueryRow(ctx, `INSERT INTO etl_runs (kind, tenant, source, status, started_at, finished_at, rows_deleted, details, error)
		VALUES ('prune', $1, $2, $3, $4, clock_timestamp(), $5, $6, $7) RETURNING run_id`,
		p.Tenant, source, status, started, r.Events+r.RollupRows+r.Runs+r.Rejects, js, msg).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record prune of tenant %s: %w", p.Tenant, err)
	}
	return id, nil
}
