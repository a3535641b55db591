package pipeline

import (
	"context"

	"sparkevents/load"
)

// Prune and Pruned: see load.PruneTenant.
type (
	Prune  = load.Prune
	Pruned = load.Pruned
)

// Prune deletes a tenant's data past its retention, in short batches that
// a sync of the tenant waits for at most one of (load.PruneTenant), and
// logs what went.
func (p *Pipeline) Prune(ctx context.Context, o Prune) (Pruned, error) {
	r, err := load.PruneTenant(ctx, p.db, p.schema, o)
	if err != nil {
		return r, dbErr(err)
	}
	if r.Applied {
		p.log.Info("pruned", "tenant", r.Tenant, "events", r.Events, "rollup_rows", r.RollupRows, "runs", r.Runs,
			"rejects", r.Rejects, "batches", r.Batches, "longest_batch", r.LongestBatch, "run_id", r.RunID)
	}
	return r, nil
}

// PruneBatchRows is how many events a prune deletes per transaction by
// default.
const PruneBatchRows = load.PruneBatchRows
