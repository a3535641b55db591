package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrStale: a synced tenant's watermark is further behind than a health
// check allows (status --max-lag), or no tenant has one.
var ErrStale = errors.New("stale")

// CheckLag is a health check for monitoring and cron: it returns an error
// wrapping ErrStale that names every tenant of sts whose watermark is more
// than maxLag before now, and nil when there is none.
//
// The watermark is where a sync stopped, so its lag grows with every sync
// that fails or does not run, whatever the cause. A tenant without one
// fails when its syncs so far have all failed (a wrong token from the
// start), not while its first is running: its first window commits in
// minutes. Tenant "" checks every tenant that has a watermark or has run a
// sync (imports and backfills alone keep no watermark), and fails when
// there is none; a named tenant without a watermark fails unless its first
// sync is running.
func CheckLag(sts []TenantStatus, tenant string, maxLag time.Duration, now time.Time) error {
	var stale []string
	checked := 0
	for _, st := range sts {
		if tenant != "" && st.Tenant != tenant {
			continue
		}
		if st.Watermark == nil && tenant == "" && st.LastSync == nil {
			continue // loaded by imports or backfills only: nothing to keep up with
		}
		checked++
		if st.Watermark == nil {
			if st.LastSync == nil || st.LastSync.Status != "running" {
				stale = append(stale, fmt.Sprintf("tenant %s has no watermark yet%s", st.Tenant, lastSync(st)))
			}
			continue
		}
		if lag := now.Sub(*st.Watermark); lag > maxLag {
			stale = append(stale, fmt.Sprintf("tenant %s: events stored up to %s, %s ago, more than %s%s",
				st.Tenant, st.Watermark.UTC().Format(time.RFC3339), lag.Round(time.Second), maxLag, lastSync(st)))
		}
	}
	switch {
	case len(stale) > 0:
	case tenant != "" && checked == 0:
		stale = append(stale, fmt.Sprintf("tenant %s has no watermark: it has never been synced", tenant))
	case checked == 0:
		stale = append(stale, "no tenant has been synced yet")
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrStale, strings.Join(stale, "; "))
}

// lastSync says how the tenant's newest sync ended, which is where to look
// first when its lag grows.
func lastSync(st TenantStatus) string {
	s := st.LastSync
	switch {
	case s == nil:
		return ": no sync has run"
	case s.Status == "failed":
		return fmt.Sprintf(": its last sync, run %d at %s, failed (sparkevents runs --tenant %s shows why)", s.ID, s.StartedAt.UTC().Format(time.RFC3339), st.Tenant)
	default:
		return fmt.Sprintf(": its last sync, run %d, %s at %s", s.ID, s.Status, s.StartedAt.UTC().Format(time.RFC3339))
	}
}
