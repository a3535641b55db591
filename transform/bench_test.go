package transform

import (
	"context"
	"testing"

	"github.com/xuri/excelize/v2"
)

const benchRows = 50_000

// benchPath generates the benchmark workbook once per benchmark.
func benchPath(b *testing.B) string {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	return writeBigBook(b, benchRows)
}

// BenchmarkRead measures Read over 50,000 generated rows. Compare with
// BenchmarkRowsBaseline, the bare excelize iteration it is built on: the
// difference is the cost of this package.
func BenchmarkRead(b *testing.B) {
	path := benchPath(b)
	b.ReportAllocs()
	for b.Loop() {
		w, err := OpenFile(path, Options{Tenant: "acme"})
		if err != nil {
			b.Fatal(err)
		}
		st, err := w.Read(context.Background(), func(*Event) error { return nil }, func(*Reject) error { return nil })
		if err != nil || st.Events != benchRows {
			b.Fatalf("Read: %+v, %v", st, err)
		}
		w.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}

func BenchmarkRowsBaseline(b *testing.B) {
	path := benchPath(b)
	b.ReportAllocs()
	for b.Loop() {
		f, err := excelize.OpenFile(path, excelize.Options{RawCellValue: true, UnzipXMLSizeLimit: DefaultMaxXMLSize})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := f.Rows("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Columns(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		f.Close()
		if n != benchRows+1 {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}
