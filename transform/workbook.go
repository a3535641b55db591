package transform

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// Errors OpenFile and OpenReader wrap, for errors.Is.
var (
	// ErrNotXLSX means the file is not an XLSX workbook: not a zip archive,
	// a legacy .xls, an encrypted workbook, or a zip without worksheets.
	ErrNotXLSX = errors.New("not an XLSX workbook")
	// ErrTooLarge means the workbook unzips to more than Options.MaxUnzipSize:
	// a zip bomb, or a workbook bigger than the limit allows.
	ErrTooLarge = errors.New("workbook too large when unzipped")
)

// Defaults for the zero Options sizes.
const (
	DefaultMaxUnzipSize = 4 << 30  // 4 GiB: a few million event rows
	DefaultMaxXMLSize   = 16 << 20 // 16 MiB: bigger sheets stream from temp files
)

// Options configure how a workbook is read.
type Options struct {
	// Tenant is copied into every Event and is part of the hashed identity.
	Tenant string
	// Columns maps a field name (as in Fields) to the workbook header that
	// holds it, overriding the built-in aliases for that field (from
	// --column NAME=HEADER). Headers compare case-, space-, "_"- and
	// "-"-insensitively.
	Columns map[string]string
	// Location is the zone of times written without one, text and Excel
	// date numbers alike; nil means UTC.
	Location *time.Location
	// DayFirst reads ambiguous slash dates like 03/04/2026 as day/month
	// (3 April). By default they are month/day, Excel's en-US reading.
	DayFirst bool
	// MaxUnzipSize bounds the workbook's total unzipped size, so a zip bomb
	// is an error instead of an outage; 0 means DefaultMaxUnzipSize.
	MaxUnzipSize int64
	// MaxXMLSize is the largest worksheet or shared-string part held in
	// memory; bigger ones are unzipped to temporary files and streamed. 0
	// means DefaultMaxXMLSize (or MaxUnzipSize, when that is smaller).
	MaxXMLSize int64
	// TmpDir is where those parts, and OpenReader's spooled copy, are
	// written; empty means os.TempDir().
	TmpDir string
}

// Workbook is an open XLSX workbook of Spark events. It is not safe for
// concurrent use.
type Workbook struct {
	f        *excelize.File
	name     string // for error messages
	opts     Options
	matcher  *headerMatcher
	layouts  []string
	date1904 bool
}

// OpenFile opens the XLSX workbook at path. The workbook is checked against
// Options.MaxUnzipSize from the zip directory before anything is unzipped.
func OpenFile(path string, opts Options) (*Workbook, error) {
	w, err := newWorkbook(path, opts)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open workbook: %w", err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("open workbook %s: %w", path, err)
	}
	if err := w.checkZip(file, fi.Size()); err != nil {
		return nil, err
	}
	return w.open()
}

// OpenReader reads an XLSX workbook from r. The bytes are spooled to a
// temporary file (excelize needs random access), which is removed before
// OpenReader returns; only parts bigger than Options.MaxXMLSize stay on disk,
// until Close.
func OpenReader(r io.Reader, opts Options) (*Workbook, error) {
	w, err := newWorkbook("workbook", opts)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(w.opts.TmpDir, "sparkevents-*.xlsx")
	if err != nil {
		return nil, fmt.Errorf("open workbook: spool: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// A zip is never much bigger than what it unzips to; the slack covers
	// the archive's own headers.
	limit := w.opts.MaxUnzipSize + 64<<20
	n, err := io.Copy(tmp, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("open workbook: spool: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("open workbook: more than %d bytes: %w", limit, ErrTooLarge)
	}
	if err := w.checkZip(tmp, n); err != nil {
		return nil, err
	}
	w.name = tmp.Name()
	w, err = w.open()
	if w != nil {
		w.name = "workbook"
	}
	return w, err
}

// newWorkbook validates opts and fills in their defaults.
func newWorkbook(name string, opts Options) (*Workbook, error) {
	m, err := newHeaderMatcher(opts.Columns)
	if err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.MaxUnzipSize < 0 || opts.MaxXMLSize < 0 {
		return nil, fmt.Errorf("open workbook %s: negative size limit", name)
	}
	if opts.MaxUnzipSize == 0 {
		opts.MaxUnzipSize = DefaultMaxUnzipSize
	}
	if opts.MaxXMLSize == 0 {
		opts.MaxXMLSize = DefaultMaxXMLSize
	}
	opts.MaxXMLSize = min(opts.MaxXMLSize, opts.MaxUnzipSize)
	return &Workbook{
		name:    name,
		opts:    opts,
		matcher: m,
		layouts: timeLayouts(opts.DayFirst),
	}, nil
}

// oleMagic starts a Compound File: a legacy .xls, or an encrypted .xlsx.
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// checkZip rejects what is not a zip archive with a clear message, and a zip
// whose declared unzipped size is over the limit before anything is unzipped.
// The declared sizes can be trusted: archive/zip fails a read that produces
// more bytes than declared.
func (w *Workbook) checkZip(r io.ReaderAt, size int64) error {
	head := make([]byte, len(oleMagic))
	if n, _ := r.ReadAt(head, 0); n == len(head) && bytes.Equal(head, oleMagic) {
		return fmt.Errorf("open workbook %s: %w: a legacy .xls or a password-protected workbook; save it as .xlsx without a password", w.name, ErrNotXLSX)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("open workbook %s: %w (%v)", w.name, ErrNotXLSX, err)
	}
	var total uint64
	hasTypes := false
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > uint64(w.opts.MaxUnzipSize) {
			return fmt.Errorf("open workbook %s: it unzips to more than %d bytes, refused as a possible zip bomb (raise the limit if it is genuine): %w", w.name, w.opts.MaxUnzipSize, ErrTooLarge)
		}
		hasTypes = hasTypes || strings.EqualFold(f.Name, "[Content_Types].xml")
	}
	if !hasTypes {
		return fmt.Errorf("open workbook %s: %w: a zip archive without [Content_Types].xml", w.name, ErrNotXLSX)
	}
	return nil
}

// open opens w.name with excelize and reads the workbook properties.
func (w *Workbook) open() (*Workbook, error) {
	f, err := excelize.OpenFile(w.name, excelize.Options{
		// Numbers, dates included, come as stored: an Excel date formatted
		// as "m/d/yy h:mm" would lose its seconds and milliseconds.
		RawCellValue:      true,
		UnzipSizeLimit:    w.opts.MaxUnzipSize,
		UnzipXMLSizeLimit: w.opts.MaxXMLSize,
		TmpDir:            w.opts.TmpDir,
	})
	if err != nil {
		if f != nil {
			f.Close()
		}
		if strings.Contains(err.Error(), "unzip size exceeds") {
			err = fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("open workbook %s: %w", w.name, err)
	}
	if len(f.GetSheetList()) == 0 {
		f.Close()
		return nil, fmt.Errorf("open workbook %s: %w: it has no worksheets", w.name, ErrNotXLSX)
	}
	props, err := f.GetWorkbookProps()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open workbook %s: read properties: %w", w.name, err)
	}
	w.date1904 = props.Date1904 != nil && *props.Date1904
	w.f = f
	return w, nil
}

// Date1904 reports whether the workbook uses the 1904 date system, in which
// Excel date numbers count from 1904-01-01.
func (w *Workbook) Date1904() bool { return w.date1904 }

// Close releases the workbook and removes its temporary files.
func (w *Workbook) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("close workbook %s: %w", w.name, err)
	}
	return nil
}
