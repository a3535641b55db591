package pipeline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a point in time as the CLI takes it: RFC 3339
// (2026-03-02T15:08:00Z), a date (2026-03-02, midnight UTC), or a duration
// back from now (720h, 90m, or days: 30d).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour).UTC(), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: %q is not a time: give a date (2026-03-02), an RFC 3339 time (2026-03-02T15:08:00Z) or a duration back from now (720h, 30d)", ErrUsage, s)
}
