package transform

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"sparkevents/internal/ziptest"
)

func TestOpenPartLimits(t *testing.T) {
	// A 1 MiB unzip limit allows 1 MiB / sharedStringBytes = 2048 shared
	// strings; parts other than worksheets may have 64 KiB.
	const maxXML = 64 << 10
	opts := Options{MaxUnzipSize: 1 << 20, MaxXMLSize: maxXML}
	small := func(t *testing.T) string {
		return writeBook(t, false, testSheet{"Events", [][]any{{"Timestamp", "Event Type"}, {"2026-01-02", "SparkLogin"}}})
	}
	// withStrings puts extra <si> elements, as written by item, into the
	// shared strings after the workbook's own.
	withStrings := func(item string, n int) func(t *testing.T) string {
		return func(t *testing.T) string {
			path := small(t)
			ziptest.Rewrite(t, path, func(name string, b []byte) []byte {
				if name != "xl/sharedStrings.xml" {
					return b
				}
				b = bytes.Replace(b, []byte("<sst "), []byte(`<sst xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" `), 1)
				return bytes.Replace(b, []byte("</sst>"), []byte(strings.Repeat(item, n)+"</sst>"), 1)
			})
			return path
		}
	}
	// manyParts adds n parts of the part limit each, which excelize would
	// all hold in memory.
	manyParts := func(pattern string, n int) func(t *testing.T) string {
		return func(t *testing.T) string {
			path := small(t)
			for i := range n {
				addZipPart(t, path, fmt.Sprintf(pattern, i+2), io.LimitReader(zeros{}, maxXML))
			}
			return path
		}
	}
	tests := []struct {
		name     string
		book     func(t *testing.T) string
		opts     *Options // when not opts
		wantErr  []string // substrings of an ErrTooLarge error; nil: opens
		wantRows int
	}{
		{
			name: "an image over the part limit",
			book: func(t *testing.T) string {
				path := small(t)
				addZipPart(t, path, "xl/media/image1.bin", io.LimitReader(zeros{}, maxXML+1))
				return path
			},
			wantErr: []string{"xl/media/image1.bin", "65537 bytes", "over the 65536 bytes", "zip bomb", "copy its event sheets into new workbooks"},
		},
		{
			name: "more parts than a workbook may have",
			book: func(t *testing.T) string {
				path := small(t)
				zr, err := zip.OpenReader(path)
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				var buf bytes.Buffer
				zw := zip.NewWriter(&buf)
				for _, e := range zr.File {
					if err := zw.Copy(e); err != nil {
						t.Fatal(err)
					}
				}
				for i := range maxParts {
					if _, err := zw.Create(fmt.Sprintf("xl/media/empty%d.bin", i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantErr: []string{"parts, more than the 10000 a workbook is allowed", "zip bomb"},
		},
		{
			name: "an image at the part limit",
			book: func(t *testing.T) string {
				path := small(t)
				addZipPart(t, path, "xl/media/image1.bin", io.LimitReader(zeros{}, maxXML))
				return path
			},
			wantRows: 1,
		},
		{
			name: "a worksheet over the part limit is streamed",
			book: func(t *testing.T) string {
				rows := [][]any{{"Timestamp", "Event Type"}}
				for range 3000 {
					rows = append(rows, []any{"2026-01-02", "SparkLogin"})
				}
				return writeBook(t, false, testSheet{"Events", rows})
			},
			wantRows: 3000,
		},
		{
			name: "shared strings over the part limit with few strings",
			book: func(t *testing.T) string {
				rows := [][]any{{"Timestamp", "Event Type", "Description"}}
				for i := range 100 {
					rows = append(rows, []any{"2026-01-02", "SparkLogin", strings.Repeat(string(rune('a'+i%26)), 1000+i)})
				}
				return writeBook(t, false, testSheet{"Events", rows})
			},
			wantRows: 100,
		},
		{
			name:    "shared strings over the part limit with too many strings",
			book:    withStrings("<si/>", 15000),
			wantErr: []string{"xl/sharedStrings.xml", "more than 1058 shared strings", "could use", "zip bomb"},
		},
		{
			name:    "too many strings with a namespace prefix",
			book:    withStrings("<x:si><x:t/></x:si>", 4000),
			wantErr: []string{"xl/sharedStrings.xml", "more than 1058 shared strings"},
		},
		{
			// 16 parts of the limit, 1 MiB, and the workbook's own.
			name:    "images under the part limit adding up",
			book:    manyParts("xl/media/image%d.bin", 16),
			opts:    &Options{MaxUnzipSize: 4 << 20, MaxXMLSize: maxXML},
			wantErr: []string{"parts that are read into memory", "more than 1048576 bytes", "zip bomb"},
		},
		{
			name:    "worksheets under the part limit adding up",
			book:    manyParts("xl/worksheets/sheet%d.xml", 16),
			opts:    &Options{MaxUnzipSize: 4 << 20, MaxXMLSize: maxXML},
			wantErr: []string{"parts that are read into memory", "more than 1048576 bytes"},
		},
		{
			name:     "images under the part limit within the total",
			book:     manyParts("xl/media/image%d.bin", 15),
			opts:     &Options{MaxUnzipSize: 4 << 20, MaxXMLSize: maxXML},
			wantRows: 1,
		},
		{
			// Under the part limit the strings are decoded in memory,
			// which that limit bounds: they are not counted.
			// Read whole, a part of 10000 strings would be 40 KiB.
			name:     "many strings under the part limit",
			book:     withStrings("<si/>", 1000),
			wantRows: 1,
		},
		{
			// A sheet of 546 bytes can refer to 34 strings, and a
			// workbook is allowed 1024 more.
			name:    "more strings than the sheets could use",
			book:    withStrings("<si/>", 1100),
			wantErr: []string{"xl/sharedStrings.xml", "more than 1058 shared strings", "worksheets of 546 bytes could use", "zip bomb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := opts
			if tt.opts != nil {
				opts = *tt.opts
			}
			path := tt.book(t)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, open := range []struct {
				name string
				fn   func() (*Workbook, error)
			}{
				{"OpenFile", func() (*Workbook, error) { return OpenFile(path, opts) }},
				{"OpenReader", func() (*Workbook, error) { return OpenReader(f, opts) }},
			} {
				w, err := open.fn()
				if tt.wantErr != nil {
					if !errors.Is(err, ErrTooLarge) {
						t.Fatalf("%s: %v, want ErrTooLarge", open.name, err)
					}
					for _, s := range tt.wantErr {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("%s: error %q does not say %q", open.name, err, s)
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", open.name, err)
				}
				st, err := w.Read(context.Background(), nil, nil)
				w.Close()
				if err != nil || st.Events != tt.wantRows {
					t.Errorf("%s: Read %+v, %v; want %d events", open.name, st, err, tt.wantRows)
				}
			}
		})
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestCountElements(t *testing.T) {
	tests := []struct {
		name  string
		xml   string
		limit int64
		want  int64
	}{
		{"plain", `<sst><si><t>a</t></si><si/><si></si></sst>`, 100, 3},
		{"prefixed", `<x:sst><x:si><x:t>a</x:t></x:si><long-prefix:si/></x:sst>`, 100, 2},
		{"attributes and spaces", "<si a=\"1\"/><si\n/><si\t></si>", 100, 3},
		{"other names", `<s/><sis/><xsi/><s:i/><si:x/><rPh/>`, 100, 0},
		{"end tags and text", `</si><t>si &lt;si&gt;</t>`, 100, 0},
		// A count too high only refuses a crafted workbook early.
		{"inside a comment counts", `<!-- <si/> -->`, 100, 1},
		{"stops over the limit", strings.Repeat("<si/>", 10), 3, 4},
		{"cut off in a name", `<si/><si`, 100, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.xml), iotest.OneByteReader(strings.NewReader(tt.xml))} {
				got, err := countElements(r, "si", tt.limit)
				if err != nil || got != tt.want {
					t.Errorf("countElements(%q) = %d, %v; want %d", tt.xml, got, err, tt.want)
				}
			}
		})
	}
	if _, err := countElements(iotest.ErrReader(io.ErrUnexpectedEOF), "si", 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error: got %v", err)
	}
}
