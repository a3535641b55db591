package load

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Retired counts what retiring a tenant removes, or would remove.
type Retired struct {
	Tenant                    string
	Watermarks, Runs, Rejects int64
	Profiles, Events          int64
	RollupRows                int64 // with withEvents: rollup rows of days whose events a prune removed
	EventsKept                int64 // events left in place, without withEvents
	Applied                   bool  // false: a dry run, nothing was deleted
}

// RetireTenant forgets tenant: its watermark, its runs and their rejects,
// and what syncs learned of its Spark; with withEvents, its events too, and
// its rows of the rollups (the triggers subtract its events; a prune that
// kept the rollups longer leaves rows the events no longer hold).
// Without apply it only counts. It holds the tenant's lock (LockTenant) and,
// for its events, their lock (LockEvents), so that no sync, backfill or
// import of the tenant runs meanwhile; a tenant locked by a running sync
// fails with ErrLocked. It is one transaction: all of it, or nothing.
func RetireTenant(ctx context.Context, pool *pgxpool.Pool, schema, tenant string, withEvents, apply bool) (Retired, error) {
	r := Retired{Tenant: tenant, Applied: apply}
	unlock, err := LockTenant(ctx, pool, schema, tenant)
	if err != nil {
		return r, err
	}
	defer unlock()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := LockEvents(ctx, tx, schema, tenant, nil); err != nil {
			return err
		}
		// Counted first: deleting the runs cascades to their rejects.
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM etl_rejects j JOIN etl_runs r USING (run_id) WHERE r.tenant = $1`, tenant).Scan(&r.Rejects); err != nil {
			return err
		}
		var events int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM spark_events WHERE tenant = $1`, tenant).Scan(&events); err != nil {
			return err
		}
		if withEvents {
			r.Events = events
		} else {
			r.EventsKept = events
		}
		steps := []struct {
			n   *int64
			sql string
		}{
			// The watermark names a run: it goes before them.
			{&r.Watermarks, `DELETE FROM etl_watermarks WHERE tenant = $1`},
			{&r.Runs, `DELETE FROM etl_runs WHERE tenant = $1`},
			{&r.Profiles, `DELETE FROM spark_profiles WHERE tenant = $1`},
		}
		if withEvents {
			steps = append(steps, struct {
				n   *int64
				sql string
			}{&r.Events, `DELETE FROM spark_events WHERE tenant = $1`})
		}
		for _, s := range steps {
			tag, err := tx.Exec(ctx, s.sql, tenant)
			if err != nil {
				return err
			}
			*s.n = tag.RowsAffected()
		}
		if withEvents {
			for _, table := range RollupTables {
				tag, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{table}.Sanitize()+` WHERE tenant = $1`, tenant)
				if err != nil {
					return err
				}
				r.RollupRows += tag.RowsAffected()
			}
		}
		if !apply {
			return errDryRun
		}
		return nil
	})
	if err == errDryRun {
		err = nil
	}
	if err != nil {
		return r, fmt.Errorf("retire tenant %s: %w", tenant, err)
	}
	return r, nil
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = fmt.Errorf("dry run")
