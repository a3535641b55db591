package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// zoneForms lists what ParseZone accepts, for its error.
const zoneForms = "an IANA zone such as Europe/London or Asia/Kolkata, or a UTC offset such as +08:00, -0530, +8, UTC+8, GMT-05:30 or Z"

// ParseZone returns the zone s names: an IANA zone ("Asia/Singapore",
// "UTC"), or a fixed offset east of UTC written as ±HH:MM, ±HHMM or ±H,
// optionally after "UTC" or "GMT", or "Z". Spark's tenant configuration
// gives an offset, not a zone, so an offset must do.
//
// "UTC+8" is eight hours east, as people and Spark write it, not POSIX's
// eight hours west; the IANA names "Etc/GMT+8" keep POSIX's sign, as the
// tz database defines them.
func ParseZone(s string) (*time.Location, error) {
	s = strings.TrimSpace(s)
	if loc, ok, err := parseOffset(s); ok {
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %w; want %s", s, err, zoneForms)
		}
		return loc, nil
	}
	// An empty name is UTC to LoadLocation, and "Local" is the machine's
	// zone: neither says what zone the export was written in.
	if s == "" || s == "Local" {
		return nil, fmt.Errorf("time zone %q: want %s", s, zoneForms)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: not a known IANA zone or an offset (%v); want %s", s, err, zoneForms)
	}
	return loc, nil
}

// parseOffset reads s as a UTC offset. ok reports whether s has an
// offset's shape, so that a malformed one ("+25:00") gets its own error
// instead of an IANA lookup's.
func parseOffset(s string) (loc *time.Location, ok bool, err error) {
	if strings.EqualFold(s, "Z") {
		return time.UTC, true, nil
	}
	rest := s
	for _, p := range [...]string{"UTC", "GMT"} {
		if len(rest) > len(p) && strings.EqualFold(rest[:len(p)], p) {
			rest = strings.TrimSpace(rest[len(p):])
			break
		}
	}
	if rest == "" || rest[0] != '+' && rest[0] != '-' {
		return nil, false, nil
	}
	sign := 1
	if rest[0] == '-' {
		sign = -1
	}
	digits := rest[1:]
	var hh, mm string
	switch {
	case strings.Contains(digits, ":"):
		hh, mm, _ = strings.Cut(digits, ":")
	case len(digits) == 4:
		hh, mm = digits[:2], digits[2:]
	default:
		hh, mm = digits, "00"
	}
	if len(hh) > 2 || len(mm) != 2 || !allDigits(hh) || !allDigits(mm) {
		return nil, true, errors.New("malformed offset")
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	// Real offsets run from -12:00 to +14:00.
	if m > 59 || h*60+m > 14*60 {
		return nil, true, errors.New("offset beyond 14 hours")
	}
	secs := sign * (h*3600 + m*60)
	if secs == 0 {
		return time.UTC, true, nil
	}
	name := fmt.Sprintf("UTC%c%02d:%02d", rest[0], h, m)
	return time.FixedZone(name, secs), true, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
