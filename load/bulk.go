package load

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A first load into an empty spark_events is a bulk load: maintaining its
// composite indexes row by row costs the server several times what
// building them afresh from the loaded rows does (about 25 s against 4 s
// for a million rows; bench/README.md has the figures), and on two cores
// that maintenance, not the parse, bounds the import. So when the table is
// empty, Upsert drops those indexes in its
// transaction and creates them again, with the same definitions and
// comments, before it returns. The drop needs an ACCESS EXCLUSIVE lock,
// which blocks readers until the transaction ends; an empty table has
// nothing to read, and Upsert waits at most bulkLockTimeout for the lock
// before it loads the ordinary way instead (a load that finds another one
// bulk loading still waits for its commit, to create its staging table).
// It also loads the ordinary way when its role does not own the table. A
// failed load rolls the drop back with everything else, once the caller
// rolls the transaction back.

// bulkLockTimeout bounds the wait for the lock a bulk load needs. It is
// longer than PostgreSQL's default deadlock_timeout (1 s), so of two loads
// racing for an empty table one gets the deadlock error, falls back, and
// lets the other through.
const bulkLockTimeout = "2s"

// deferrableIndexesSQL lists the indexes of table $1 that a bulk load
// drops and rebuilds: every valid one that enforces nothing (no primary
// key, unique or exclusion constraint, which the load needs), is not the
// table's CLUSTER index, lives in the default tablespace (which
// pg_get_indexdef does not name) and leads with
// a plain column other than event_time. Indexes that lead with event_time
// or an expression of it, such as (event_time) and the UTC day, take rows
// at their right edge since exports come in time order: kept, they cost
// the server about 4 s per million rows while the parse hides it, where
// rebuilding them would add about 0.8 s after the parse. For each it
// returns the name, the CREATE INDEX statement, and a COMMENT ON INDEX
// statement restoring its comment (empty without one), quoted by the server.
const deferrableIndexesSQL = `
SELECT i.indexrelid::regclass::text,
	pg_get_indexdef(i.indexrelid),
	CASE WHEN d.description IS NULL THEN ''
		ELSE format('COMMENT ON INDEX %s IS %L', i.indexrelid::regclass, d.description) END
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
LEFT JOIN pg_description d ON d.objoid = i.indexrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE i.indrelid = $1::text::regclass
	AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
	AND i.indisvalid AND NOT i.indisclustered AND c.reltablespace = 0
	AND i.indkey[0] <> 0
	AND i.indkey[0] <> (SELECT attnum FROM pg_attribute WHERE attrelid = i.indrelid AND attname = 'event_time')
ORDER BY c.relname`

// deferredIndex is an index a bulk load dropped and must create again.
type deferredIndex struct {
	name, create, comment string
}

// deferIndexes drops the deferrable indexes of the events table when it is
// empty and the lock is granted within bulkLockTimeout, and returns them;
// otherwise it changes nothing and returns none. Only a database error
// other than a lock timeout or deadlock is returned.
func deferIndexes(ctx context.Context, tx pgx.Tx) ([]deferredIndex, error) {
	// A savepoint, so that giving up releases every lock taken here,
	// including the emptiness check's, and undoes the lock_timeout: two
	// loads that both saw an empty table would otherwise wait on each
	// other's locks until both time out.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("bulk load: savepoint: %w", err)
	}
	defer sp.Rollback(ctx) // after Commit, a no-op
	giveUp := func() ([]deferredIndex, error) {
		if err := sp.Rollback(ctx); err != nil {
			return nil, fmt.Errorf("bulk load: roll back to savepoint: %w", err)
		}
		return nil, nil
	}

	var timeout string
	if err := sp.QueryRow(ctx, "SELECT current_setting('lock_timeout')").Scan(&timeout); err != nil {
		return nil, fmt.Errorf("bulk load: read lock_timeout: %w", err)
	}
	// Bound every wait here, the emptiness check's too: another bulk load
	// holds the table until it commits.
	if _, err := sp.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", bulkLockTimeout); err != nil {
		return nil, fmt.Errorf("bulk load: set lock_timeout: %w", err)
	}
	table := pgx.Identifier{eventsTable}.Sanitize()
	// DROP INDEX needs the table's owner (or a member of its role); a
	// writer role that may only insert loads the ordinary way.
	var empty, owner bool
	err = sp.QueryRow(ctx, "SELECT NOT EXISTS (SELECT FROM "+table+"), pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = $1::text::regclass", table).Scan(&empty, &owner)
	if inUse(err) || err == nil && (!empty || !owner) {
		return giveUp()
	}
	if err != nil {
		return nil, fmt.Errorf("bulk load: is %s empty: %w", table, err)
	}
	if _, err := sp.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		if inUse(err) {
			return giveUp()
		}
		return nil, fmt.Errorf("bulk load: lock %s: %w", table, err)
	}
	if _, err := sp.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", timeout); err != nil {
		return nil, fmt.Errorf("bulk load: restore lock_timeout: %w", err)
	}
	// Rows committed while the lock was awaited count too: under READ
	// COMMITTED, the isolation the pipeline uses, each statement sees them.
	if err := sp.QueryRow(ctx, "SELECT NOT EXISTS (SELECT FROM "+table+")").Scan(&empty); err != nil {
		return nil, fmt.Errorf("bulk load: is %s empty: %w", table, err)
	}
	if !empty {
		return giveUp()
	}

	rows, err := sp.Query(ctx, deferrableIndexesSQL, table)
	if err != nil {
		return nil, fmt.Errorf("bulk load: list indexes: %w", err)
	}
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deferredIndex, error) {
		var d deferredIndex
		err := r.Scan(&d.name, &d.create, &d.comment)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("bulk load: list indexes: %w", err)
	}
	for _, d := range indexes {
		// d.name is regclass output, quoted by the server where needed.
		if _, err := sp.Exec(ctx, "DROP INDEX "+d.name); err != nil {
			return nil, fmt.Errorf("bulk load: drop index %s: %w", d.name, err)
		}
	}
	if err := sp.Commit(ctx); err != nil {
		return nil, fmt.Errorf("bulk load: release savepoint: %w", err)
	}
	return indexes, nil
}

// inUse reports whether err is a lock wait that timed out or deadlocked.
func inUse(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}

// rebuildIndexes creates the indexes deferIndexes dropped, as they were.
func rebuildIndexes(ctx context.Context, tx pgx.Tx, indexes []deferredIndex) error {
	if len(indexes) == 0 {
		return nil
	}
	// Where they were: the default tablespace (see deferrableIndexesSQL),
	// whatever default_tablespace the role or database sets.
	if _, err := tx.Exec(ctx, "SELECT set_config('default_tablespace', '', true)"); err != nil {
		return fmt.Errorf("bulk load: reset default_tablespace: %w", err)
	}
	for _, d := range indexes {
		if _, err := tx.Exec(ctx, d.create); err != nil {
			return fmt.Errorf("bulk load: create index %s again: %w", d.name, err)
		}
		if d.comment == "" {
			continue
		}
		if _, err := tx.Exec(ctx, d.comment); err != nil {
			return fmt.Errorf("bulk load: comment on index %s: %w", d.name, err)
		}
	}
	return nil
}
