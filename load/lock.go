package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrLocked reports that another process holds a tenant's lock.
var ErrLocked = errors.New("tenant is locked")

// LockTenant takes a session-level advisory lock on tenant within schema,
// so that two syncs or backfills of one tenant never run at once. It does
// not wait: when the lock is held elsewhere it returns an error wrapping
// ErrLocked. The lock lives on a connection taken out of the pool until
// unlock is called; if the process dies, the server drops the lock with the
// session.
func LockTenant(ctx context.Context, pool *pgxpool.Pool, schema, tenant string) (unlock func(), err error) {
	key := lockKey(schema + "/" + tenant)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock tenant %s: %w", tenant, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock tenant %s: %w", tenant, err)
	}
	if !got {
		conn.Release()
		return nil, fmt.Errorf("another sync or backfill of tenant %s is running: %w", tenant, ErrLocked)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// The caller's ctx may be canceled by now; unlocking must still happen.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&released); err != nil || !released {
				// Closing the session is the sure way to drop a lock whose
				// release failed; the pool then forgets the connection.
				conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

// LockEvents takes a transaction-level advisory lock on tenant's events
// within schema, waiting for it, so that the loads of one tenant write one
// after the other. Two loads of overlapping events would otherwise wait on
// each other's uncommitted keys, each in its own order (a new period is
// inserted in file order, a merge in key order), until PostgreSQL aborts one
// as a deadlock. LockTenant keeps two syncs apart for their whole run; this
// lock also orders imports, which take no LockTenant, against each other
// and against syncs. Loads of different tenants never share a key and do
// not wait.
//
// onWait, when not nil, is called before waiting if another transaction
// holds the lock. The wait has no limit of its own: cancel ctx, or set
// lock_timeout (PGOPTIONS), to bound it. The lock is released when tx
// ends: a killed process frees it as soon as the server notices the lost
// session, which for a host that vanished without closing its
// connections takes until TCP keepalives give up. tx must be READ
// COMMITTED, so that what the other load committed is visible once the
// lock is granted.
func LockEvents(ctx context.Context, tx pgx.Tx, schema, tenant string, onWait func()) error {
	// NUL cannot occur in a PostgreSQL name or text value, so no two schema
	// and tenant pairs, nor LockTenant's names, hash the same bytes; a
	// collision of the 64-bit hashes would only make unrelated loads wait.
	key := lockKey("events\x00" + schema + "\x00" + tenant)
	var got bool
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", key).Scan(&got); err != nil {
		return fmt.Errorf("lock events of tenant %s: %w", tenant, err)
	}
	if got {
		return nil
	}
	if onWait != nil {
		onWait()
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		return fmt.Errorf("wait for another load of tenant %s: %w", tenant, err)
	}
	return nil
}
