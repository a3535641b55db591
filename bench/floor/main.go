// Command floor is the benchmark's parse floor: it iterates every row of
// every sheet with excelize's Rows() and only counts cells, with the options
// transform opens workbooks with and the collector settings of sparkevents,
// except its GOGC: the floor keeps the 400 it always ran at (see gctune).
// sparkevents import cannot be much faster than this, since it reads
// through the same iterator.
//
//	go run ./bench/floor [-cpuprofile cpu.out] [-read | -fast] events.xlsx
//
// With -read it runs transform's Read instead, with callbacks that do
// nothing: the parse and normalization without the database. With -fast
// it iterates as the floor does, with transform's fast reader.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/pprof"
	"time"

	"github.com/xuri/excelize/v2"

	"sparkevents/internal/gctune"
	"sparkevents/transform"
)

func main() {
	gctune.Apply(gctune.FloorGCPercent)
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	read := flag.Bool("read", false, "run transform.Read instead of the bare iteration")
	fast := flag.Bool("fast", false, "iterate with transform's fast reader instead of excelize's Rows()")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: floor [-cpuprofile FILE] [-read] WORKBOOK.xlsx")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	var rows, cells int
	var err error
	switch {
	case *fast:
		rows, cells, err = iterateFast(flag.Arg(0))
	case *read:
		rows, cells, err = readEvents(flag.Arg(0))
	default:
		rows, cells, err = iterate(flag.Arg(0))
	}
	if err != nil {
		log.Fatal(err)
	}
	d := time.Since(start)
	fmt.Printf("rows=%d cells=%d seconds=%.3f rows_per_s=%.0f\n", rows, cells, d.Seconds(), float64(rows)/d.Seconds())
}

func iterate(path string) (rows, cells int, err error) {
	f, err := excelize.OpenFile(path, excelize.Options{
		RawCellValue:      true,
		UnzipSizeLimit:    transform.DefaultMaxUnzipSize,
		UnzipXMLSizeLimit: transform.DefaultMaxXMLSize,
	})
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	for _, sheet := range f.GetSheetList() {
		r, err := f.Rows(sheet)
		if err != nil {
			return rows, cells, err
		}
		for r.Next() {
			cols, err := r.Columns()
			if err != nil {
				return rows, cells, err
			}
			rows++
			cells += len(cols)
		}
		if err := r.Close(); err != nil {
			return rows, cells, err
		}
	}
	return rows, cells, nil
}

// iterateFast is iterate with the fast reader, opened as transform opens
// workbooks.
func iterateFast(path string) (rows, cells int, err error) {
	w, err := transform.OpenFile(path, transform.Options{Reader: transform.ReaderFast})
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	return w.CountCells()
}

func readEvents(path string) (rows, cells int, err error) {
	w, err := transform.OpenFile(path, transform.Options{Tenant: "bench"})
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	st, err := w.Read(context.Background(), func(*transform.Event) error { return nil }, func(*transform.Reject) error { return nil })
	return st.Rows, 0, err
}
