// Package gctune sets the Go collector the way sparkevents runs, shared by
// the command and the benchmark's floor so that both parse under the same
// collector and their ratio is the cost of what sparkevents adds.
package gctune

import (
	"os"
	"runtime/debug"
)

// The import allocates garbage at a great rate (excelize decodes every
// cell through encoding/xml) and keeps little alive, so the collector's
// default, a cycle each time the heap doubles, runs it every few
// megabytes, and each cycle takes CPU from the parse, which is what bounds
// an import. GCPercent lets the heap grow to five times the live data
// between cycles, and SoftMemoryLimit caps it, so the RSS stays flat
// whatever the size of the workbook. Measured with the 1M-row workbook of
// bench/run.sh, alternating runs: the excelize floor took 10-30% less time
// with 400 than with 100, the import about 7% less, at about 74 MiB RSS
// instead of 43; a 32 MiB limit tripled the collector's CPU
// (bench/README.md). The limit is soft: the runtime may exceed it rather
// than fail.
const (
	GCPercent       = 400
	SoftMemoryLimit = 64 << 20
)

// Apply sets GCPercent and SoftMemoryLimit, each unless the GOGC or
// GOMEMLIMIT environment variable sets it.
func Apply() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(SoftMemoryLimit)
	}
}
