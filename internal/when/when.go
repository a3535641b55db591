// Package when is the one grammar of durations and points in time that
// every flag, environment variable and query parameter of sparkevents takes:
//
//	durations  90s, 15m, 36h, 30d, 2w, and sums of them (1h30m, 1w2d);
//	           Go's units (ns, us, ms, s, m, h) plus d (24h) and w (7d)
//	times      now, a date (2026-01-01, midnight UTC), an RFC 3339 time
//	           (2026-01-01T15:04:05Z), or a duration back from now (30d)
//
// Flag values (Duration, Time) implement urfave/cli's cli.Generic, so
// one flag type serves every command; their errors list the accepted forms.
package when

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every error of this package: a value that is not
// in the grammar, which the user can fix.
var ErrSyntax = errors.New("bad duration or time")

// syntaxError is an error that is ErrSyntax without saying so in its text,
// which already says what is wrong.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string        { return e.msg }
func (e *syntaxError) Is(target error) bool { return target == ErrSyntax }

func syntaxErr(format string, args ...any) error {
	return &syntaxError{fmt.Sprintf(format, args...)}
}

const (
	// Day and Week are calendar-free: 24 and 168 hours.
	Day  = 24 * time.Hour
	Week = 7 * Day

	// DurationForms and TimeForms are what the errors list.
	DurationForms = "a number and a unit: 90s, 15m, 36h, 30d or 2w (or a sum: 1h30m)"
	TimeForms     = "now, a date (2026-01-01), an RFC 3339 time (2026-01-01T15:04:05Z) or a duration back from now (90s, 15m, 36h, 30d, 2w)"
)

// units are the suffixes ParseDuration takes beyond Go's, with their
// lengths; Go's own are left to time.ParseDuration.
var units = map[string]time.Duration{"d": Day, "w": Week}

// ParseDuration reads a duration: Go's syntax (90s, 1h30m, 1.5h) with days
// (d) and weeks (w) as units too, a leading sign allowed. A bare number
// other than 0 is refused: 90 could mean seconds or minutes.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	rest, neg := in, false
	switch {
	case strings.HasPrefix(rest, "-"):
		rest, neg = rest[1:], true
	case strings.HasPrefix(rest, "+"):
		rest = rest[1:]
	}
	switch rest {
	case "0":
		return 0, nil
	case "":
		return 0, durationErr(s)
	}
	var total time.Duration
	for rest != "" {
		// A number, then its unit: the letters up to the next digit.
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, durationErr(s)
		}
		j := i + strings.IndexFunc(rest[i:], func(r rune) bool { return (r >= '0' && r <= '9') || r == '.' })
		if j < i {
			j = len(rest)
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var d time.Duration
		if u, ok := units[unit]; ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*float64(u) > float64(1<<62) {
				return 0, durationErr(s)
			}
			d = time.Duration(f * float64(u))
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, durationErr(s)
			}
		}
		if total += d; total < 0 {
			return 0, durationErr(s) // overflow
		}
	}
	if neg {
		total = -total
	}
	return total, nil
}

func durationErr(s string) error {
	return syntaxErr("%q is not a duration: give %s", s, DurationForms)
}

// FormatDuration writes d the way ParseDuration reads it, in the largest
// unit that divides it: 2w, 30d, 36h, 15m, 1h30m, 90s.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%Week == 0:
		return strconv.FormatInt(int64(d/Week), 10) + "w"
	case d%Day == 0:
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	s := d.String()
	for _, zero := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, zero) {
			s = strings.TrimSuffix(s, zero[1:])
		}
	}
	return s
}

// ParseTime reads a point in time against now: "now", RFC 3339 (offset
// kept as an instant), a date or a date and time without zone (UTC), or a
// duration back from now. Times are returned in UTC.
func ParseTime(s string, now time.Time) (time.Time, error) {
	spec, err := parseSpec(s)
	if err != nil {
		return time.Time{}, err
	}
	return spec.resolve(now), nil
}

// spec is a parsed time: an instant, or a duration back from a clock.
type spec struct {
	at   time.Time
	back time.Duration
}

func (p spec) resolve(now time.Time) time.Time {
	if !p.at.IsZero() {
		return p.at
	}
	return now.Add(-p.back).UTC()
}

func parseSpec(s string) (spec, error) {
	in := strings.TrimSpace(s)
	if strings.EqualFold(in, "now") {
		return spec{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, in); err == nil {
		return spec{at: t.UTC()}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, in); err == nil {
			return spec{at: t.UTC()}, nil
		}
	}
	if d, err := ParseDuration(in); err == nil && d >= 0 && !strings.HasPrefix(in, "+") {
		return spec{back: d}, nil
	}
	return spec{}, syntaxErr("%q is not a time: give %s", s, TimeForms)
}

// Duration is a flag value (cli.Generic, flag.Value) in the grammar of
// ParseDuration; its default shows as FormatDuration writes it.
type Duration struct{ D time.Duration }

// NewDuration returns a flag value holding d, its default.
func NewDuration(d time.Duration) *Duration { return &Duration{D: d} }

// Set implements flag.Value.
func (v *Duration) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	v.D = d
	return nil
}

// String implements flag.Value.
func (v *Duration) String() string {
	if v == nil {
		return ""
	}
	return FormatDuration(v.D)
}

// Time is a flag value (cli.Generic, flag.Value) in the grammar of
// ParseTime; it keeps what was written, so that a default of "now" shows as
// now, and resolves against a clock only when asked.
type Time struct {
	text string
	spec spec
}

// NewTime returns a flag value holding the default s, which must parse.
func NewTime(s string) *Time {
	v := &Time{}
	if err := v.Set(s); err != nil {
		panic(err)
	}
	return v
}

// Set implements flag.Value.
func (v *Time) Set(s string) error {
	p, err := parseSpec(s)
	if err != nil {
		return err
	}
	v.text, v.spec = strings.TrimSpace(s), p
	return nil
}

// String implements flag.Value: the value as written.
func (v *Time) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

// At resolves the value against now.
func (v *Time) At(now time.Time) time.Time { return v.spec.resolve(now) }

// IsZero reports whether no value was ever set.
func (v *Time) IsZero() bool { return v == nil || v.text == "" }
