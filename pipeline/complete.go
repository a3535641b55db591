package pipeline

import (
	"fmt"
	"time"

	"sparkevents/load"
)

// SheetRows is the most data rows one XLSX sheet holds below its header:
// an export that reaches it was cut by the format itself.
const SheetRows = 1_048_575

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
		return cut, fmt.Sprintf("%d rows, at the tenant's export cap of %d rows learned before", rows, k.cap)
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

// halves counts a window's events by the half of the window they fall in;
// events of the overlap around it count in neither.
type halves struct {
	w   Window
	mid time.Time
	n   [2]int
}

func newHalves(w Window) *halves { return &halves{w: w, mid: w.mid()} }

func (h *halves) add(t time.Time) {
	switch {
	case t.Before(h.w.Start) || !t.Before(h.w.End):
	case t.Before(h.mid):
		h.n[0]++
	default:
		h.n[1]++
	}
}

func (h *halves) total() int {
	if h == nil {
		return 0
	}
	return h.n[0] + h.n[1]
}
