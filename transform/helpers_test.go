package transform

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xuri/excelize/v2"
)

// testSheet is a sheet to generate: rows[i] is row i+1; a nil row is left
// blank.
type testSheet struct {
	name string
	rows [][]any
}

// writeBook generates a workbook in a temporary directory and returns its path.
func writeBook(t testing.TB, date1904 bool, sheets ...testSheet) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if date1904 {
		on := true
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &on}); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(s.name); err != nil {
			t.Fatal(err)
		}
		for r, row := range s.rows {
			if row == nil {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(s.name, cell, &row); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "book.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeBigBook streams n generated event rows under a header with the
// StreamWriter, as a large export would be written.
func writeBigBook(t testing.TB, n int) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	header := []any{"Event ID", "Timestamp", "Event Type", "User Name", "Folder ID", "Folder Name",
		"Service Name", "Service Version", "Description", "IP Address", "Region", "Client"}
	if err := sw.SetRow("A1", header); err != nil {
		t.Fatal(err)
	}
	types := []string{"SparkLogin", "PublishEngine", "DownloadEngine", "EditProduct"}
	row := make([]any, len(header))
	for i := range n {
		row[0] = ""
		if i%2 == 0 {
			row[0] = fmt.Sprintf("evt-%08d", i)
		}
		row[1] = 45000 + float64(i)/1440.0 + 0.000123
		row[2] = types[i%len(types)]
		row[3] = fmt.Sprintf("User%d@Example.com", i%977)
		row[4] = fmt.Sprintf("8bc193d8-5f82-49d1-8da8-%012d", i%31)
		row[5] = fmt.Sprintf("Folder %d", i%31)
		row[6] = fmt.Sprintf("Service%d", i%97)
		row[7] = fmt.Sprintf("1.%d.0", i%7)
		row[8] = fmt.Sprintf("Published \"Service%d\" version 1.%d.0 from the folder", i%97, i%7)
		row[9] = fmt.Sprintf("10.0.%d.%d", i%256, i%199)
		row[10] = "eu-west"
		row[11] = "Spark UI"
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.xlsx")
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

type readResult struct {
	events  []Event
	rejects []Reject
	stats   Stats
	err     error
}

// readBook opens and reads path, keeping copies of every event and reject.
// It fails the test if opening fails.
//
// With the default reader it reads path with excelize too, and fails the
// test unless both readers made the same cells, events, rejects and
// stats: every workbook a test reads is one of the differential test's.
func readBook(t testing.TB, path string, opts Options) readResult {
	t.Helper()
	res := readWith(t, path, opts)
	if opts.Reader != "" {
		return res
	}
	opts.Reader = ReaderExcelize
	ref := readWith(t, path, opts)
	if (res.err == nil) != (ref.err == nil) || errors.Is(res.err, ErrMalformed) != errors.Is(ref.err, ErrMalformed) ||
		!reflect.DeepEqual(res.events, ref.events) || !reflect.DeepEqual(res.rejects, ref.rejects) || !reflect.DeepEqual(res.stats, ref.stats) {
		t.Errorf("the fast reader and excelize disagree on %s:\nfast     %+v\nexcelize %+v", path, res, ref)
	}
	if _, err := compareReaders(path); err != nil {
		t.Errorf("the fast reader and excelize disagree on %s: %v", path, err)
	}
	return res
}

func readWith(t testing.TB, path string, opts Options) readResult {
	t.Helper()
	w, err := OpenFile(path, opts)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var res readResult
	res.stats, res.err = w.Read(context.Background(),
		func(e *Event) error { res.events = append(res.events, *e); return nil },
		func(r *Reject) error { res.rejects = append(res.rejects, *r); return nil })
	return res
}

// mustRead is readBook that also fails the test when Read fails.
func mustRead(t testing.TB, path string, opts Options) readResult {
	t.Helper()
	res := readBook(t, path, opts)
	if res.err != nil {
		t.Fatalf("Read: %v", res.err)
	}
	headerless := 0
	for _, r := range res.rejects {
		if r.NoHeader {
			headerless++
		}
	}
	if s := res.stats; s.Rows != s.Events+s.Rejects || s.Events != len(res.events) ||
		s.Rejects != len(res.rejects)-headerless || s.HeaderlessRows != headerless {
		t.Fatalf("stats %+v do not add up with %d events and %d rejects, %d of them NoHeader", s, len(res.events), len(res.rejects), headerless)
	}
	return res
}

// zipOf writes a zip archive holding one file and returns its path.
func zipOf(t testing.TB, dir, name, content string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "zip.xlsx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// addZipPart adds the part name, with the content read from r, to the zip at
// path, streaming it so that a test can add a part of any size.
func addZipPart(t testing.TB, path, name string, r io.Reader) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := os.CreateTemp(filepath.Dir(path), "zip-*.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := zip.NewWriter(out)
	for _, e := range zr.File {
		if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(out.Name(), path); err != nil {
		t.Fatal(err)
	}
}
