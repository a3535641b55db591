package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Watermark returns how far tenant's events are stored: every event before
// t has been loaded. ok is false when no sync has set one yet.
func Watermark(ctx context.Context, q Querier, tenant string) (t time.Time, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT watermark FROM etl_watermarks WHERE tenant = $1 AND stream = 'events'`,
		tenant).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("watermark of tenant %s: %w", tenant, err)
	}
	return t, true, nil
}

// SetWatermark advances tenant's watermark to t on behalf of run runID. It
// never moves a watermark backwards: a t not after the stored one leaves the
// row, and the run that set it, untouched.
func SetWatermark(ctx context.Context, tx pgx.Tx, tenant string, t time.Time, runID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO etl_watermarks AS w (tenant, stream, watermark, last_run_id)
		VALUES ($1, 'events', $2, $3)
		ON CONFLICT (tenant, stream) DO UPDATE
		SET watermark = excluded.watermark, updated_at = now(), last_run_id = excluded.last_run_id
		WHERE w.watermark < excluded.watermark`,
		tenant, t, runID)
	if err != nil {
		return fmt.Errorf("set watermark of tenant %s to %s: %w", tenant, t.Format(time.RFC3339Nano), err)
	}
	return nil
}

// LastEventBefore returns the time of tenant's latest stored event before
// t; ok is false when there is none.
func LastEventBefore(ctx context.Context, q Querier, tenant string, t time.Time) (last time.Time, ok bool, err error) {
	var at *time.Time
	err = q.QueryRow(ctx, lastEventBeforeSQL, tenant, t).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last event of tenant %s before %s: %w", tenant, t.Format(time.RFC3339Nano), err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}

// lastEventBeforeSQL finds tenant $1's latest event before $2 within the
// latest days the rollups know for it, so that the time index is read for
// a day, not back through every other tenant's events since the tenant's
// last; only when those days' events are all pruned does it read further.
const lastEventBeforeSQL = `SELECT coalesce(
	(SELECT e.t
	 FROM (SELECT day FROM rollup_daily_events WHERE tenant = $1 AND day <= ($2::timestamptz AT TIME ZONE 'UTC')::date
	       GROUP BY day ORDER BY day DESC LIMIT 7) d,
	      LATERAL (SELECT max(event_time) AS t FROM spark_events
	               WHERE tenant = $1 AND event_time < $2::timestamptz
	                 AND event_time >= d.day::timestamp AT TIME ZONE 'UTC'
	                 AND event_time < (d.day + 1)::timestamp AT TIME ZONE 'UTC') e
	 WHERE e.t IS NOT NULL
	 ORDER BY d.day DESC LIMIT 1),
	(SELECT max(event_time) FROM spark_events WHERE tenant = $1 AND event_time < $2::timestamptz))`
