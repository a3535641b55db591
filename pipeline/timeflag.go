package pipeline

import (
	"fmt"
	"time"

	"sparkevents/internal/when"
)

// ParseTime reads a point in time in the CLI's one grammar (see
// internal/when): now, a date (2026-03-02, midnight UTC), RFC 3339
// (2026-03-02T15:08:00Z), or a duration back from now (90m, 36h, 30d, 2w).
// Its errors wrap ErrUsage.
func ParseTime(s string, now time.Time) (time.Time, error) {
	t, err := when.ParseTime(s, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return t, nil
}
