package load

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RollupTables are the summary tables of spark_events that triggers keep
// up in the transaction of every change (migration 00007): every key leads
// with tenant.
var RollupTables = []string{"rollup_daily_events", "rollup_daily_users", "rollup_daily_services", "rollup_hourly_logins", "rollup_login_hours", "rollup_service_users", "rollup_users", "rollup_daily_folders"}

// KeepRollupsSetting is the setting that makes the rollup triggers ignore
// DELETEs (and TRUNCATE) of spark_events for the rest of a transaction.
const KeepRollupsSetting = "sparkevents.keep_rollups"

// KeepRollups makes the rest of tx delete events without subtracting them
// from the rollups (SET LOCAL sparkevents.keep_rollups = on): for a prune
// whose rollups keep a longer retention than its events. The rollups of
// the deleted events' days then summarise events that are no longer
// stored, and RebuildRollups would drop them. UPDATEs are still applied.
// Anything that must erase what it deletes from the rollups too (forget)
// must not call it, and must itself delete or rename a person's rows of
// the rollups by user_name: those of days a prune removed under
// KeepRollups have no events left for the triggers to subtract.
func KeepRollups(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT set_config($1, 'on', true)", KeepRollupsSetting); err != nil {
		return fmt.Errorf("keep rollups: %w", err)
	}
	return nil
}

// DeferRollups makes the rest of tx keep its inserts' share of the rollups
// in a temporary table until FlushRollups (migration 00007): a load of many
// chunks then updates each rollup row once, not once a chunk. Any other
// statement on spark_events applies what waits first. A transaction that
// defers must flush before it commits, or its inserts are missing from the
// rollups.
func DeferRollups(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('sparkevents.defer_rollups', 'on', true)"); err != nil {
		return fmt.Errorf("defer rollups: %w", err)
	}
	return nil
}

// FlushRollups applies the inserts DeferRollups kept waiting.
func FlushRollups(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT spark_events_rollup_flush()"); err != nil {
		return fmt.Errorf("update the rollups: %w", err)
	}
	return nil
}

// RebuildRollups recomputes the rollups of tenant ("" for every tenant)
// from spark_events, in tx. It holds a SHARE lock on spark_events until tx
// ends: loads wait, reads do not. The triggers keep the rollups up without
// it; it is for an upgrade that changes what they hold, and for proof.
func RebuildRollups(ctx context.Context, tx pgx.Tx, tenant string) error {
	var t *string
	if tenant != "" {
		t = &tenant
	}
	if _, err := tx.Exec(ctx, "SELECT spark_events_rollups_rebuild($1)", t); err != nil {
		return fmt.Errorf("rebuild rollups: %w", err)
	}
	return nil
}
