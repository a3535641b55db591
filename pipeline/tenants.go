package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"sparkevents/load"
)

// TenantResult is how one tenant's sync of several ended.
type TenantResult struct {
	Tenant  string
	Summary Summary
	Err     error
	Elapsed time.Duration
}

// SyncTenants syncs each tenant of opts, up to parallel at once (at least
// one). Each is a Sync of its own: under its own tenant lock, committing
// its own windows, so that one tenant's failure leaves the others' work
// stored and does not stop them. The results are in opts' order.
func (p *Pipeline) SyncTenants(ctx context.Context, opts []SyncOptions, parallel int) []TenantResult {
	out := make([]TenantResult, len(opts))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = TenantResult{Tenant: o.Tenant, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			sum, err := p.Sync(ctx, o)
			out[i] = TenantResult{Tenant: o.Tenant, Summary: sum, Err: err, Elapsed: time.Since(start)}
		}()
	}
	wg.Wait()
	return out
}

// RunsOf lists recent runs of the tenants named, newest first; none named
// lists every tenant's.
func (p *Pipeline) RunsOf(ctx context.Context, tenants []string, limit int) ([]RunInfo, error) {
	rs, err := load.RunsOfTenants(ctx, p.db, tenants, limit)
	return rs, dbErr(err)
}

// LastSuccesses is when each tenant's newest succeeded sync run finished.
func (p *Pipeline) LastSuccesses(ctx context.Context) (map[string]time.Time, error) {
	m, err := load.LastSuccesses(ctx, p.db)
	return m, dbErr(err)
}

// Retired counts what retiring a tenant removes.
type Retired = load.Retired

// Retire forgets a tenant: its watermark, runs and rejects, and what syncs
// learned of its Spark; with events, its events too. Without apply it
// only counts what it would delete. A tenant whose sync is running is
// ErrLocked.
func (p *Pipeline) Retire(ctx context.Context, tenant string, events, apply bool) (Retired, error) {
	if tenant == "" {
		return Retired{}, fmt.Errorf("%w: retire needs --tenant", ErrUsage)
	}
	r, err := load.RetireTenant(ctx, p.db, p.schema, tenant, events, apply)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return r, err
		}
		return r, dbErr(err)
	}
	if apply {
		p.log.Warn("tenant retired", "tenant", tenant, "watermarks", r.Watermarks, "runs", r.Runs, "rejects", r.Rejects,
			"profiles", r.Profiles, "events_deleted", r.Events, "rollup_rows_deleted", r.RollupRows, "events_kept", r.EventsKept)
	}
	return r, nil
}
