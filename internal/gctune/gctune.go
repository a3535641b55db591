// Package gctune sets the Go collector the way sparkevents runs, shared by
// the command and the benchmark's floor.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
)

// The import allocates garbage at a great rate (excelize decodes every
// cell through encoding/xml, about 8.6 KB per row) and keeps little alive,
// so the collector's default, a cycle each time the heap doubles, runs it
// every few megabytes, and each cycle takes CPU from the parse, which is
// what bounds an import.
//
// What a cycle costs grows with the live heap it marks, so the import keeps
// that small (7-9 MB: excelize's shared strings and decoder, and a few
// thousand events in flight; see load.ChunkRows) and lets the heap grow to
// GCPercent over it between cycles: 44-47 MiB of peak RSS for a workbook
// of 100k or 1M rows, as fast as the earlier setting within this host's
// noise (400 over a live heap of 19 MB, which peaked at 75 MiB). A
// workbook whose worksheet or shared strings excelize holds in memory
// (parts under transform.DefaultMaxXMLSize, about 40k rows) has a bigger
// live heap, and so does one whose shared-strings table is large even when
// excelize keeps it on disk: it keeps about 40 bytes of offsets per string
// in memory, 45 MB of live heap for a million distinct strings. A fixed
// limit of 34 MiB instead of GCPercent also gave 45 MiB, but made a 40k-row
// workbook, whose 15 MB sheet is held in memory, collect 99 times instead
// of 13 and take a third more CPU (bench/README.md, "The collector").
//
// SoftMemoryLimit is a ceiling for such workbooks, not a target: a limit
// near the live heap makes the collector run nearly without pause. Under
// 64 MiB, the earlier value, a million-row workbook with a million
// distinct strings collected 1,284 times (163 without a limit) and took
// 53-69 s, against 36-44 s under 256 MiB, for a peak RSS of 84 MiB
// against 156-180 MiB; a 40k-row workbook peaks at 83 MiB under 256 MiB,
// 73 MiB under 64. Workbooks whose strings repeat, as the benchmark's do,
// reach neither limit. The limit is soft: the runtime may exceed it
// rather than fail. Where memory is tighter than time, GOMEMLIMIT sets a
// lower one.
//
// FloorGCPercent is what the benchmark's floor has always run at: the
// floor keeps only excelize's 4 MB alive, and the import's setting would
// make it collect more often and flatter the import's ratio to it.
const (
	GCPercent       = 175
	FloorGCPercent  = 400
	SoftMemoryLimit = 256 << 20
)

// Apply sets the collector's GOGC to gcPercent and its soft memory limit
// to SoftMemoryLimit, each unless the GOGC or GOMEMLIMIT environment
// variable sets it, and turns off heap-profile sampling, whose buckets
// (about 1.4 MiB for an import) nobody reads.
func Apply(gcPercent int) {
	runtime.MemProfileRate = 0
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(SoftMemoryLimit)
	}
}
