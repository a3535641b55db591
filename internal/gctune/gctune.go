// Package gctune sets the Go collector the way sparkevents runs, shared by
// the command and the benchmark's floor so that both parse under the same
// collector and their ratio is the cost of what sparkevents adds.
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
// what bounds an import. GCPercent lets the heap grow to five times the
// live data between cycles, and a soft memory limit caps it, so the RSS
// stays flat whatever the size of the workbook.
//
// What a cycle costs grows with the live heap it marks, so the import keeps
// that small (7-9 MB: excelize's shared strings and decoder, and a few
// thousand events in flight; see load.ChunkRows) and runs under
// SoftMemoryLimit, where cycles come about twice as often as under 64 MiB
// but mark less than half as much: on the 1M-row workbook of
// bench/run.sh, as fast as 64 MiB within this machine's noise, at about
// 45 MiB of peak RSS instead of 75. At 32 MiB the import took about 10%
// more time (bench/README.md, "The collector"). The limit is soft: the
// runtime may exceed it rather than fail.
//
// FloorMemoryLimit is the limit the benchmark's floor has always run
// under: the import's lower one could only slow the floor down, which
// would flatter the import's ratio to it.
const (
	GCPercent        = 400
	SoftMemoryLimit  = 34 << 20
	FloorMemoryLimit = 64 << 20
)

// Apply sets GCPercent and the soft memory limit, each unless the GOGC or
// GOMEMLIMIT environment variable sets it, and turns off heap-profile
// sampling, whose buckets (about 1.4 MiB for an import) would count
// against the limit and nobody reads.
func Apply(limit int64) {
	runtime.MemProfileRate = 0
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
