package pipeline

import (
	"fmt"
	"slices"
	"time"

	"sparkevents/load"
)

// SheetRows is the most data rows one XLSX sheet holds below its header:
// an export that reaches it was cut by the format itself.
const SheetRows = 1_048_575

// minExportCap is the smallest cap an export is suspected of.
const minExportCap = 10

// verdict is what a sync makes of an export's row count.
type verdict int

const (
	complete verdict = iota // every event of the window is in it
	suspect                 // it may have stopped at a cap not yet known
	cut                     // it reached a known cap: events are missing
)

func (v verdict) String() string {
	return [...]string{"complete", "suspect", "cut"}[v]
}

// exportCap is what a run knows of how its tenant's Spark caps an export.
// It rests on one assumption, stated in the README: Spark cuts an export at
// a fixed number of rows, the page size asked for or a hidden cap of its
// own. Every export then proves the cap is at least its own row count, so
// an export smaller than one seen before is complete, and one that is not
// is verified by fetching its window's two halves.
type exportCap struct {
	pageSize int
	honours  *bool // does Spark stop at the page size? nil: not seen yet
	cap      int   // rows of an export proven cut short; 0: none found
	seen     int   // the most rows one export returned
}

func newExportCap(pageSize int, p load.Profile) *exportCap {
	return &exportCap{pageSize: pageSize, honours: p.HonoursPageSize, cap: p.CapRows, seen: p.MaxRows}
}

// judge says whether an export of rows rows may have been cut short, and
// why, and records what its size proves.
func (k *exportCap) judge(rows int) (verdict, string) {
	defer func() { k.seen = max(k.seen, rows) }()
	switch {
	case rows == 0:
		return complete, ""
	case rows >= SheetRows:
		return cut, fmt.Sprintf("%d rows, the most an XLSX sheet holds", rows)
	case k.cap > 0 && rows >= k.cap:
		return cut, fmt.Sprintf("%d rows, at the tenant's export cap of %d rows", rows, k.cap)
	case rows > k.pageSize:
		// Spark ignored the page size: the page size is no cap.
		f := false
		k.honours = &f
	case rows == k.pageSize && (k.honours == nil || *k.honours):
		return cut, fmt.Sprintf("%d rows, the page size asked for", rows)
	}
	switch {
	case k.cap > 0 || rows < k.seen:
		// Below a known cap, or below what one export has already held.
		return complete, ""
	case rows < minExportCap:
		// Spark's own sample asks for pages of 10 rows: no export is capped
		// below that, and a few events can rarely be split to check.
		return complete, ""
	}
	return suspect, fmt.Sprintf("%d rows, the most of any export of the tenant so far: Spark may cap exports there", rows)
}

// learn records what comparing an export of rows rows with its window's
// halves showed: whether it had been cut short.
func (k *exportCap) learn(rows int, wasCut bool) {
	if !wasCut {
		return
	}
	if rows == k.pageSize {
		t := true
		k.honours = &t
		return
	}
	if k.cap == 0 || rows < k.cap {
		k.cap = rows
	}
}

// profile is what k knows, to be stored for the tenant's next sync.
func (k *exportCap) profile(tenant string) load.Profile {
	return load.Profile{Tenant: tenant, HonoursPageSize: k.honours, CapRows: k.cap, MaxRows: k.seen}
}

// spread collects when a window's events happened; events of the overlap
// around it are left out. Its times choose where to split the window: an
// export's events cluster, and halves of equal span would leave one of them
// holding all of an export's events, to be split again.
type spread struct {
	w     Window
	times []int64 // Unix milliseconds: 8 bytes an event, for as long as its window loads
}

func newSpread(w Window) *spread { return &spread{w: w} }

func (s *spread) add(t time.Time) {
	if !t.Before(s.w.Start) && t.Before(s.w.End) {
		s.times = append(s.times, t.UnixMilli())
	}
}

func (s *spread) total() int {
	if s == nil {
		return 0
	}
	return len(s.times)
}

// split returns where to split the window so that its events fall about
// evenly on both sides, and how many fall before that instant and from it
// on. Events all of one millisecond, or none, split at the window's middle:
// the halves are still asked with less overlap around them.
func (s *spread) split() (mid time.Time, before, after int) {
	slices.Sort(s.times)
	n := len(s.times)
	if n > 0 {
		m := s.times[n/2]
		if m == s.times[0] {
			// The median is the first instant: split just after it.
			i, _ := slices.BinarySearch(s.times, m+1)
			m = s.times[min(i, n-1)]
		}
		if m != s.times[0] {
			i, _ := slices.BinarySearch(s.times, m)
			return time.UnixMilli(m).UTC(), i, n - i
		}
	}
	mid = s.w.mid()
	i, _ := slices.BinarySearch(s.times, mid.UnixMilli())
	return mid, i, n - i
}
