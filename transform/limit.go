package transform

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// RejectLimit is how many rejected rows a load tolerates, from --max-rejects:
// a count of rows or a percentage of the data rows read. The zero value is
// unlimited; a limit of 0 rows (from "0") is not.
type RejectLimit struct {
	set     bool
	percent bool
	count   int     // when !percent
	pct     float64 // when percent, 0..100
}

// ParseRejectLimit parses a --max-rejects value: "100" allows 100 rejected
// rows, "2.5%" allows 2.5 % of the data rows, and "" or "unlimited" means
// unlimited.
func ParseRejectLimit(s string) (RejectLimit, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.EqualFold(t, "unlimited") {
		return RejectLimit{}, nil
	}
	if num, ok := strings.CutSuffix(t, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
			return RejectLimit{}, fmt.Errorf("reject limit %q: want a percentage from 0%% to 100%%", s)
		}
		return RejectLimit{set: true, percent: true, pct: p}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return RejectLimit{}, fmt.Errorf("reject limit %q: want a row count like 100 or a percentage like 2.5%%", s)
	}
	return RejectLimit{set: true, count: n}, nil
}

// Exceeded reports whether rejects rejected rows out of rows data rows are
// more than the limit allows. A count can be checked as rows stream in; a
// percentage is only meaningful once all rows are read (the first row alone
// being bad is 100 %), so check it against the final Stats.
func (l RejectLimit) Exceeded(rejects, rows int) bool {
	switch {
	case !l.set:
		return false
	case l.percent:
		return float64(rejects) > l.pct/100*float64(rows)
	default:
		return rejects > l.count
	}
}

// AcceptsAll reports whether the limit is 100%, the one setting that
// accepts a file or window whose every row is bad. A count does not: a
// small window of a small tenant holds fewer rows than most counts.
func (l RejectLimit) AcceptsAll() bool { return l.percent && l.pct >= 100 }

// String returns the limit in the form ParseRejectLimit reads.
func (l RejectLimit) String() string {
	switch {
	case !l.set:
		return "unlimited"
	case l.percent:
		return strconv.FormatFloat(l.pct, 'f', -1, 64) + "%"
	default:
		return strconv.Itoa(l.count)
	}
}
