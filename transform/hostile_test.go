package transform

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writeHostile writes the edge workbook with its first sheet and shared
// strings streamed from sheet and sst (nil keeps the edge workbook's).
func writeHostile(t *testing.T, sheet, sst func(io.Writer) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hostile.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range edgeParts {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case name == "xl/worksheets/sheet1.xml" && sheet != nil:
			err = sheet(w)
		case name == "xl/sharedStrings.xml" && sst != nil:
			err = sst(w)
		default:
			_, err = io.WriteString(w, body)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func repeat(head, item string, n int, tail string) func(io.Writer) error {
	return func(w io.Writer) error {
		chunk := strings.Repeat(item, 4096)
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		for i := 0; i < n; i += 4096 {
			if _, err := io.WriteString(w, chunk[:min(4096, n-i)*len(item)]); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, tail)
		return err
	}
}

// checkCost opens and reads path with both readers, requiring the error
// want (nil: a read without one) within 10 s and 100 MiB of heap.
func checkCost(t *testing.T, path string, want string) {
	for _, reader := range []string{ReaderFast, ReaderExcelize} {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		err := func() error {
			w, err := OpenFile(path, Options{Reader: reader})
			if err != nil {
				return err
			}
			defer w.Close()
			_, err = w.Read(t.Context(), nil, nil)
			return err
		}()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: %v to refuse or read, want under 10 s", reader, d)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; after.HeapSys > before.HeapSys+100<<20 {
			t.Errorf("%s: heap grew %d MiB (allocated %d MiB), want under 100 MiB", reader, (after.HeapSys-before.HeapSys)>>20, grown>>20)
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", reader, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrTooLarge)):
			t.Errorf("%s: error %v, want ErrTooLarge saying %q", reader, err, want)
		}
	}
}

func TestHostileSharedStrings(t *testing.T) {
	const sstHead = `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
	// 8.3M empty strings for a sheet of a few rows: 100 MB that zip to
	// 300 KB.
	t.Run("8.3M strings", func(t *testing.T) {
		checkCost(t, writeHostile(t, nil, repeat(sstHead, "<si><t/></si>", 8_300_000, "</sst>")), "times its")
	})
	// Few enough to zip within the ratio, yet more than the sheet could
	// ever refer to.
	t.Run("200k strings", func(t *testing.T) {
		checkCost(t, writeHostile(t, nil, func(w io.Writer) error {
			io.WriteString(w, sstHead)
			for i := range 200_000 {
				fmt.Fprintf(w, "<si><t>%x</t></si>", rand.Uint64()+uint64(i))
			}
			_, err := io.WriteString(w, "</sst>")
			return err
		}), "could use")
	})
}

func TestHostileEmptyRows(t *testing.T) {
	const head = `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>`
	const tail = `</sheetData></worksheet>`
	// 300 MB of <row/> in a few hundred KB of zip (the file has 3
	// GiB; the ratio refuses either from the zip's directory).
	t.Run("packed", func(t *testing.T) {
		checkCost(t, writeHostile(t, repeat(head, "<row/>", 50_000_000, tail), nil), "times its")
	})
	// Rows made hard to pack, so the ratio lets them through: the limit
	// on rows without a cell refuses them.
	t.Run("unpackable", func(t *testing.T) {
		checkCost(t, writeHostile(t, func(w io.Writer) error {
			io.WriteString(w, head)
			for range maxEmptyRows + 10 {
				fmt.Fprintf(w, `<row x="%x"/>`, rand.Uint32())
			}
			_, err := io.WriteString(w, tail)
			return err
		}, nil), "rows without a cell")
	})
}
