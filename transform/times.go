package transform

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Text layouts tried for a time cell. When parsing, Go accepts fractional
// seconds after the seconds field even where a layout has none, so these
// cover milliseconds too. Layouts with a zone keep it; the others are read in
// Options.Location.
var isoLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05-0700",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
	"20060102T150405Z0700",
	"20060102T150405",
	"2006/1/2 15:04:05",
	"2006/1/2 15:04",
	"2006/1/2",
	time.RFC1123Z,
	"2 Jan 2006 15:04:05",
	"2 Jan 2006 15:04",
	"2 Jan 2006",
	"2-Jan-2006 15:04:05",
	"2-Jan-2006 15:04",
	"2-Jan-2006",
	"2 January 2006 15:04:05",
	"2 January 2006 15:04",
	"2 January 2006",
	"Jan 2, 2006 3:04:05 PM",
	"Jan 2, 2006 3:04 PM",
	"Jan 2, 2006 15:04:05",
	"Jan 2, 2006 15:04",
	"Jan 2, 2006",
	"January 2, 2006 3:04:05 PM",
	"January 2, 2006 3:04 PM",
	"January 2, 2006 15:04:05",
	"January 2, 2006",
}

// Slash dates are ambiguous: 03/04/2026 is 4 March in the US and 3 April in
// most other places. Month first is Excel's (en-US) default and what Spark's
// US-hosted UI shows; Options.DayFirst flips it. There is deliberately no
// per-row fallback (13/04/2026 parsed day first when month first fails): a
// sheet would then mix both readings silently. Rows that do not parse are
// rejected, which the reject limit makes visible.
var monthFirstLayouts = []string{
	"1/2/2006 15:04:05",
	"1/2/2006 15:04",
	"1/2/2006 3:04:05 PM",
	"1/2/2006 3:04 PM",
	"1/2/2006",
	"1-2-2006 15:04:05",
	"1-2-2006 15:04",
	"1-2-2006",
}

var dayFirstLayouts = []string{
	"2/1/2006 15:04:05",
	"2/1/2006 15:04",
	"2/1/2006 3:04:05 PM",
	"2/1/2006 3:04 PM",
	"2/1/2006",
	"2.1.2006 15:04:05",
	"2.1.2006 15:04",
	"2.1.2006",
	"2-1-2006 15:04:05",
	"2-1-2006 15:04",
	"2-1-2006",
}

// timeLayouts returns the text layouts tried, in order.
func timeLayouts(dayFirst bool) []string {
	ls := append([]string(nil), isoLayouts...)
	if dayFirst {
		return append(ls, dayFirstLayouts...)
	}
	return append(ls, monthFirstLayouts...)
}

// Excel serial dates count days (the fraction is the time of day) from an
// epoch that depends on the workbook's date system.
const (
	msPerDay = 24 * 60 * 60 * 1000
	// maxSerial is 9999-12-31, the last day Excel can show.
	maxSerial = 2958465
)

var (
	errNoDate        = errors.New("is a time of day without a date")
	errSerialRange   = errors.New("is outside Excel's date range")
	errFictitiousDay = errors.New("is 1900-02-29, a day that exists only in Excel's 1900 date system")
)

// excelSerialTime converts an Excel date serial to a time in loc, to the
// millisecond. It does the arithmetic itself because a float64 day count must
// be rounded to whole milliseconds before splitting it into date and time of
// day, or 12:34:56.789 comes out as 12:34:56.788999999.
//
// The 1900 system counts 1900-01-01 as day 1 and, copying Lotus 1-2-3, has a
// 29 February 1900 as day 60; so from day 61 on, day 0 is 1899-12-30, and
// before it, 1899-12-31. Day 60 itself is rejected: it names no real day. The
// 1904 system counts from 1904-01-01 as day 0, with no such bug.
//
// A serial below 1 is a bare time of day (Excel's date part is empty) and is
// rejected: an event needs a date.
func excelSerialTime(serial float64, date1904 bool, loc *time.Location) (time.Time, error) {
	if math.IsNaN(serial) || serial < 0 || serial >= maxSerial+1 {
		return time.Time{}, errSerialRange
	}
	if serial < 1 {
		return time.Time{}, errNoDate
	}
	ms := int64(math.Round(serial * msPerDay))
	days, msOfDay := ms/msPerDay, ms%msPerDay
	var y, m, d int
	switch {
	case date1904:
		y, m, d = 1904, 1, 1+int(days)
	case days > 60:
		y, m, d = 1899, 12, 30+int(days)
	case days == 60:
		return time.Time{}, errFictitiousDay
	default:
		y, m, d = 1899, 12, 31+int(days)
	}
	// time.Date normalizes the day overflow into a calendar date, and the
	// clock is set on the wall so that daylight saving in loc is honoured.
	date := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	y, mo, d := date.Date()
	return time.Date(y, mo, d, 0, 0, 0, int(msOfDay)*int(time.Millisecond), loc), nil
}

// timeParser parses the event_time cells of one sheet. It remembers the text
// layout that last worked and tries it first, because a column nearly always
// has a single format and trying a dozen layouts per row would be slow.
type timeParser struct {
	layouts  []string
	last     int
	date1904 bool
	loc      *time.Location
}

// parse reads s, a raw cell value: a number is an Excel serial date, anything
// else text. The result is in UTC.
func (p *timeParser) parse(s string) (time.Time, error) {
	if serial, ok := parseNumber(s); ok {
		t, err := excelSerialTime(serial, p.date1904, p.loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("Excel date %s %w", s, err)
		}
		return t.UTC(), nil
	}
	t, err := p.parseText(s)
	if err != nil {
		return time.Time{}, err
	}
	return inYearRange(t.UTC(), s)
}

// parseText reads s as a text time, in the zone it names or else in p.loc.
func (p *timeParser) parseText(s string) (time.Time, error) {
	text, loc := cutUTC(s, p.loc)
	if t, err := time.ParseInLocation(p.layouts[p.last], text, loc); err == nil {
		return t, nil
	}
	for i, l := range p.layouts {
		if t, err := time.ParseInLocation(l, text, loc); err == nil {
			p.last = i
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %s as a time", quoteShort(s))
}

// cutUTC removes a " UTC" or " GMT" suffix from s and returns UTC for it,
// or loc when s has none. Go parses zone abbreviations only as a guess, so
// the two that matter are handled here and the rest rejected rather than
// misread.
func cutUTC(s string, loc *time.Location) (string, *time.Location) {
	for _, z := range [...]string{" UTC", " GMT"} {
		if strings.HasSuffix(s, z) {
			return strings.TrimSpace(s[:len(s)-len(z)]), time.UTC
		}
	}
	return s, loc
}

// clockLayouts are the text layouts of a separate time-of-day cell. Go
// accepts fractional seconds after the seconds, so 13:45:10.123 parses.
var clockLayouts = []string{
	"15:04:05",
	"15:04",
	"3:04:05 PM",
	"3:04 PM",
	"15:04:05Z07:00",
	"15:04Z07:00",
}

// parseDateClock reads a date cell and a separate time-of-day cell, whose
// column is named clockName, as one time in UTC. The date cell gives the day
// and the clock cell the time of day, as Excel shows them when the columns
// are formatted as a date and as a time: an Excel number in the date cell
// counts for its whole days and one in the clock cell for its fraction. A
// date cell that holds a time of day other than midnight is a whole time
// already and is read alone, whatever the other column holds (a duration,
// say). A clock cell that is a whole date and time must be of the same
// day, so that a number that is no time (a duration, a count) is rejected
// rather than read as midnight.
//
// Times without a zone are in p.loc, or in the zone the text date names.
func (p *timeParser) parseDateClock(date, clock, clockName string) (time.Time, error) {
	var (
		y     int
		mo    time.Month
		d     int
		loc   = p.loc
		whole = math.NaN() // the date cell's whole days, when a number
	)
	if v, ok := parseNumber(date); ok {
		whole = math.Floor(v)
		if v != whole {
			return p.parse(date)
		}
		t, err := excelSerialTime(whole, p.date1904, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("Excel date %s %w", date, err)
		}
		y, mo, d = t.Date()
	} else {
		t, err := p.parseText(date)
		if err != nil {
			return time.Time{}, err
		}
		if h, m, s := t.Clock(); h != 0 || m != 0 || s != 0 || t.Nanosecond() != 0 {
			return inYearRange(t.UTC(), date)
		}
		y, mo, d = t.Date()
		loc = t.Location()
	}

	var ofDay time.Duration
	switch v, ok := parseNumber(clock); {
	case clock == "":
		return time.Time{}, fmt.Errorf("%s is empty", clockName)
	case ok:
		days := math.Floor(v)
		if v < 0 || days != 0 && days != whole {
			return time.Time{}, fmt.Errorf("%s %s is not a time of day", clockName, quoteShort(clock))
		}
		// Rounded to the millisecond as excelSerialTime rounds, so the
		// same time gives the same instant in one column or in two; a
		// round up to 24:00 is midnight of the next day, as there.
		ofDay = time.Duration(math.Round((v-days)*msPerDay)) * time.Millisecond
	default:
		text, clockLoc := cutUTC(clock, loc)
		var (
			t   time.Time
			err error
		)
		for _, l := range clockLayouts {
			if t, err = time.ParseInLocation(l, text, clockLoc); err == nil {
				break
			}
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot parse %s %s as a time of day", clockName, quoteShort(clock))
		}
		h, m, s := t.Clock()
		ofDay = time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
			time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
		loc = t.Location()
	}
	// The time of day is set on the wall, as in excelSerialTime, so that
	// daylight saving in loc is honoured.
	return inYearRange(time.Date(y, mo, d, 0, 0, 0, int(ofDay), loc).UTC(), date)
}

// parseNumber parses s when it is a plain decimal number, the form Excel
// stores numbers in.
func parseNumber(s string) (float64, bool) {
	if !looksNumeric(s) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// inYearRange refuses a UTC time before year 1, which text such as
// "0000-06-01" or "0001-01-01T00:30+01:00" gives. No event is that old,
// and Go and PostgreSQL write year 0 differently (0000 and 0001 BC), so
// migration 00003 would give such an event another hash ID than Go does.
func inYearRange(t time.Time, s string) (time.Time, error) {
	if t.Year() < 1 {
		return time.Time{}, fmt.Errorf("%s is before year 1", quoteShort(s))
	}
	return t, nil
}

// quoteShort quotes s for a message, cut to a readable length.
func quoteShort(s string) string {
	const maxRunes = 80
	n := 0
	for i := range s {
		if n == maxRunes {
			return strconv.Quote(s[:i]) + "..."
		}
		n++
	}
	return strconv.Quote(s)
}

// looksNumeric reports whether s is a plain decimal number, the form Excel
// stores numbers in. It keeps strconv.ParseFloat from accepting "Inf", "NaN"
// or hexadecimal, and text dates like "2026-01-02" from being tried as numbers.
func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.', c == 'e', c == 'E':
		case (c == '-' || c == '+') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		default:
			return false
		}
	}
	return digits > 0
}
