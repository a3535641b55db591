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

	"sparkevents/internal/zipdir"
)

// Errors OpenFile and OpenReader wrap, for errors.Is.
var (
	// ErrNotXLSX means the file is not an XLSX workbook: not a zip archive,
	// a legacy .xls, an encrypted workbook, or a zip without worksheets.
	ErrNotXLSX = errors.New("not an XLSX workbook")
	// ErrTooLarge means the workbook unzips to more than Options.MaxUnzipSize,
	// or has a part that would be held in memory over Options.MaxXMLSize, or
	// more shared strings than MaxUnzipSize allows: a zip bomb, or a workbook
	// bigger than the limits allow.
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
	// MaxXMLSize is the largest part held in memory: bigger worksheets and
	// shared strings are unzipped to temporary files and streamed, and a
	// workbook with any other part bigger is refused. 0 means
	// DefaultMaxXMLSize (or MaxUnzipSize, when that is smaller).
	MaxXMLSize int64
	// TmpDir is where those parts, and OpenReader's spooled copy, are
	// written; empty means os.TempDir(). The fast reader unzips nothing
	// to it: only a sheet it leaves to excelize, and every sheet with
	// ReaderExcelize, takes temporary disk, at most the workbook's
	// unzipped size, which is at most 100 times the file's size (plus 16
	// MiB) and MaxUnzipSize.
	TmpDir string
	// HMACKey, when set, stores user_name and ip_address as keyed
	// pseudonyms (pseudo.Of), in events and in rejects' raw rows alike:
	// the key stays in the process, the address never reaches the
	// database.
	HMACKey []byte
	// Reader is ReaderFast (the default, also for "") or ReaderExcelize.
	Reader string
}

// Workbook is an open XLSX workbook of Spark events. It is not safe for
// concurrent use.
type Workbook struct {
	// f is the workbook's structure (sheet list, properties). With the
	// fast reader it is opened without the parts that reader reads.
	f       *excelize.File
	name    string // for error messages
	path    string // the file excelize opens
	spooled bool   // path is OpenReader's copy, removed at Close
	zf      *os.File
	zr      *zip.Reader
	parts   map[string]string // sheet -> worksheet part, for the fast reader
	sst     []string          // shared strings, for the fast reader
	ref     *excelize.File    // the whole workbook in excelize, once a sheet needs it
	// fallbacks counts the sheet reads the fast reader left to excelize.
	fallbacks int
	opts      Options
	matcher   *headerMatcher
	layouts   []string
	date1904  bool
}

// OpenFile opens the XLSX workbook at path. The workbook is checked against
// the Options size limits (see checkZip) before excelize unzips anything.
func OpenFile(path string, opts Options) (*Workbook, error) {
	w, err := newWorkbook(path, opts)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open workbook: %w", err)
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("open workbook %s: %w", path, err)
	}
	if err := w.checkZip(file, fi.Size()); err != nil {
		file.Close()
		return nil, err
	}
	w.path, w.zf = path, file
	return w.open(fi.Size())
}

// OpenReader reads an XLSX workbook from r. The bytes are spooled to a
// temporary file (excelize needs random access), which is removed at
// Close, with the parts excelize unzipped to temporary files.
func OpenReader(r io.Reader, opts Options) (*Workbook, error) {
	w, err := newWorkbook("workbook", opts)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(w.opts.TmpDir, "sparkevents-*.xlsx")
	if err != nil {
		return nil, fmt.Errorf("open workbook: spool: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
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
	w.path, w.zf, w.spooled = tmp.Name(), tmp, true
	w, err = w.open(n)
	ok = err == nil
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
	switch opts.Reader {
	case "":
		opts.Reader = ReaderFast
	case ReaderFast, ReaderExcelize:
	default:
		return nil, fmt.Errorf("open workbook %s: reader %q: want %q or %q", name, opts.Reader, ReaderFast, ReaderExcelize)
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
// that would take too much disk or memory to open, before anything is
// unzipped. The declared sizes can be trusted: archive/zip fails a read that
// produces more bytes than declared.
//
// The total does not bound memory: excelize unzips a worksheet bigger than
// MaxXMLSize to a temporary file and streams it, but reads every other part
// whole into memory. So no other part may be bigger, and the parts read
// whole may total inMemoryParts times MaxXMLSize. Big shared strings are
// spilled to a temporary file too, yet excelize then builds an index of
// about 128 bytes per string, which a part of empty strings ("<si/>", 5
// bytes each) would make 25 times its size: so that part is bounded by the
// number of strings it holds.
func (w *Workbook) checkZip(r io.ReaderAt, size int64) error {
	head := make([]byte, len(oleMagic))
	if n, _ := r.ReadAt(head, 0); n == len(head) && bytes.Equal(head, oleMagic) {
		return fmt.Errorf("open workbook %s: %w: a legacy .xls or a password-protected workbook; save it as .xlsx without a password", w.name, ErrNotXLSX)
	}
	// Counted before archive/zip reads every entry into memory.
	if n, err := zipdir.Entries(r, size); err == nil && n > maxParts {
		return fmt.Errorf("open workbook %s: it has %d parts, more than the %d a workbook is allowed, refused as a possible zip bomb: %w", w.name, n, maxParts, ErrTooLarge)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("open workbook %s: %w (%v)", w.name, ErrNotXLSX, err)
	}
	var (
		total    uint64
		packed   uint64 // compressed
		sheets   uint64 // unzipped worksheet bytes
		inMemory uint64 // of the parts excelize reads whole
		hasTypes bool
		strs     []*zip.File // shared-string parts too big to be held in memory
	)
	maxInMemory := uint64(w.opts.MaxXMLSize) * inMemoryParts
	for _, f := range zr.File {
		total += f.UncompressedSize64
		packed += f.CompressedSize64
		if total > uint64(w.opts.MaxUnzipSize) {
			return fmt.Errorf("open workbook %s: it unzips to more than %d bytes, refused as a possible zip bomb (raise the limit if it is genuine): %w", w.name, w.opts.MaxUnzipSize, ErrTooLarge)
		}
		hasTypes = hasTypes || strings.EqualFold(f.Name, "[Content_Types].xml")
		// Named as excelize matches them when it decides what to spill.
		name := strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))
		spills := strings.HasPrefix(name, "xl/worksheets/sheet") && strings.HasSuffix(name, ".xml") ||
			name == "xl/sharedstrings.xml"
		if strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml") {
			sheets += f.UncompressedSize64
		}
		if name == "xl/sharedstrings.xml" {
			strs = append(strs, f)
		}
		switch big := f.UncompressedSize64 > uint64(w.opts.MaxXMLSize); {
		case big && spills:
		case big:
			return fmt.Errorf("open workbook %s: its part %s unzips to %d bytes, over the %d bytes allowed for a part that is read into memory (only worksheets and shared strings may be bigger), refused as a possible zip bomb; %s: %w",
				w.name, f.Name, f.UncompressedSize64, w.opts.MaxXMLSize, splitAdvice, ErrTooLarge)
		default:
			// Many parts each under the limit add up: a few hundred
			// would fill the memory as one big part would.
			if inMemory += f.UncompressedSize64; inMemory > maxInMemory {
				return fmt.Errorf("open workbook %s: its parts that are read into memory (all but worksheets and shared strings over %d bytes) unzip to more than %d bytes, refused as a possible zip bomb; %s: %w",
					w.name, w.opts.MaxXMLSize, maxInMemory, splitAdvice, ErrTooLarge)
			}
		}
	}
	if !hasTypes {
		return fmt.Errorf("open workbook %s: %w: a zip archive without [Content_Types].xml", w.name, ErrNotXLSX)
	}
	// What a workbook costs to read grows with what it unzips to, so
	// that is bounded by what the file carries.
	if total > maxInflateRatio*packed+inflateSlack {
		return fmt.Errorf("open workbook %s: it unzips to %d bytes, %d times its %d compressed bytes, more than the %d times an export does (beyond %d MiB), refused as a possible zip bomb: %w",
			w.name, total, total/max(packed, 1), packed, maxInflateRatio, inflateSlack>>20, ErrTooLarge)
	}
	for _, f := range strs {
		if err := w.checkSharedStrings(f, sheets); err != nil {
			return err
		}
	}
	return nil
}

// maxParts bounds a workbook's parts: a sheet takes two or three, and
// archive/zip holds a few hundred bytes per part before they can be
// counted otherwise.
const maxParts = 10000

// inMemoryParts is how many times Options.MaxXMLSize the parts excelize
// holds in memory may total: 256 MiB at the default, room for a dozen
// sheets of 40,000 rows each beside the workbook's small parts.
const inMemoryParts = 16

// splitAdvice tells what to do with a genuine workbook refused for what it
// would hold in memory.
const splitAdvice = "if the workbook is genuine, copy its event sheets into new workbooks, a few sheets each, without images, pivot tables or other attachments, and import those"

// sharedStringBytes is how many bytes of Options.MaxUnzipSize allow one
// shared string: 8 Mi strings at the default 4 GiB, an index of about 1 GiB.
// The benchmark's workbook of distinct descriptions (bench/gen -distinct)
// has one new string per 466 unzipped bytes, so it reaches the total limit
// before this one.
const sharedStringBytes = 512

// checkSharedStrings refuses a shared-strings part holding more strings
// than sharedStringBytes allows, or more than the worksheets, of
// sheetBytes unzipped, could refer to. It reads the part once, which
// costs a fraction of a second for a million distinct strings.
func (w *Workbook) checkSharedStrings(f *zip.File, sheetBytes uint64) error {
	refs := int64(sheetBytes/minSharedRefBytes) + 1024
	limit := w.opts.MaxUnzipSize / sharedStringBytes
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("open workbook %s: %s: %w", w.name, f.Name, err)
	}
	defer rc.Close()
	n, err := countElements(rc, "si", min(limit, refs))
	if err != nil {
		return fmt.Errorf("open workbook %s: %s: %w", w.name, f.Name, err)
	}
	if n > limit {
		return fmt.Errorf("open workbook %s: its part %s holds more than %d shared strings (one per %d bytes of the %d-byte unzip limit), which excelize would index in memory, refused as a possible zip bomb (raise the limit if it is genuine): %w",
			w.name, f.Name, limit, sharedStringBytes, w.opts.MaxUnzipSize, ErrTooLarge)
	}
	if n > refs {
		return fmt.Errorf("open workbook %s: its part %s holds more than %d shared strings, more than its worksheets of %d bytes could use (one per %d bytes), refused as a possible zip bomb: %w",
			w.name, f.Name, refs, sheetBytes, minSharedRefBytes, ErrTooLarge)
	}
	return nil
}

// countElements counts the start tags of elements named local, with any
// namespace prefix, in the XML read from r, stopping once the count is over
// limit. It scans bytes instead of decoding, which would take as long as
// excelize's own pass: a tag inside a comment or CDATA section is counted
// too, so the count can only be too high, never too low.
func countElements(r io.Reader, local string, limit int64) (int64, error) {
	var (
		n      int64
		buf    = make([]byte, 64<<10)
		inName bool // after "<", in the element's name
		start  bool // right after "<"
		// The name since "<" or its last ":", up to len(local)+1 bytes:
		// enough to tell local from a longer name.
		tail = make([]byte, 0, len(local)+1)
	)
	for {
		m, err := r.Read(buf)
		b := buf[:m]
		for len(b) > 0 {
			if !inName {
				i := bytes.IndexByte(b, '<')
				if i < 0 {
					break
				}
				b = b[i+1:]
				inName, start, tail = true, true, tail[:0]
				continue
			}
			c := b[0]
			b = b[1:]
			switch {
			case start && (c == '/' || c == '!' || c == '?'):
				inName = false // an end tag, a comment, CDATA or a directive
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == '>':
				if string(tail) == local {
					if n++; n > limit {
						return n, nil
					}
				}
				inName = false
			case c == ':':
				tail = tail[:0]
			case len(tail) <= len(local):
				tail = append(tail, c)
			}
			start = false
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// open opens the workbook with excelize and reads its properties. With
// the fast reader, excelize opens a copy without the parts that reader
// reads, so it unzips none of them; a sheet the fast reader leaves to
// excelize opens the whole workbook then.
func (w *Workbook) open(size int64) (_ *Workbook, err error) {
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.opts.Reader == ReaderFast {
		if err := w.openFast(size); err != nil {
			return nil, err
		}
	}
	if w.f == nil {
		if w.f, err = w.reference(); err != nil {
			return nil, err
		}
	}
	if len(w.f.GetSheetList()) == 0 {
		return nil, fmt.Errorf("open workbook %s: %w: it has no worksheets", w.name, ErrNotXLSX)
	}
	props, err := w.f.GetWorkbookProps()
	if err != nil {
		return nil, fmt.Errorf("open workbook %s: read properties: %w", w.name, err)
	}
	w.date1904 = props.Date1904 != nil && *props.Date1904
	return w, nil
}

// openFast prepares the fast reader: the sheets' parts, the shared
// strings and excelize on the rest. A workbook it is not sure of is left
// to excelize whole.
func (w *Workbook) openFast(size int64) error {
	zr, err := openZip(w.zf, size)
	if err != nil {
		return fmt.Errorf("open workbook %s: %w (%v)", w.name, ErrNotXLSX, err)
	}
	parts := sheetParts(zr)
	if len(parts) == 0 {
		return nil
	}
	if f, ok := zipEntry(zr, "xl/sharedStrings.xml", true); ok {
		sst, err := loadSharedStrings(f)
		if errors.Is(err, errUnsure) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("open workbook %s: %s: %w", w.name, f.Name, err)
		}
		w.sst = sst
	} else if _, dup := zipEntry(zr, "xl/sharedStrings.xml", false); dup {
		return nil
	}
	rest, err := structureOnly(zr, parts)
	if err != nil {
		return fmt.Errorf("open workbook %s: %w", w.name, err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(rest), w.excelizeOptions())
	if err != nil {
		return w.excelizeErr(f, err)
	}
	w.f, w.zr, w.parts = f, zr, parts
	return nil
}

func (w *Workbook) excelizeOptions() excelize.Options {
	return excelize.Options{
		// Numbers, dates included, come as stored: an Excel date formatted
		// as "m/d/yy h:mm" would lose its seconds and milliseconds.
		RawCellValue:      true,
		UnzipSizeLimit:    w.opts.MaxUnzipSize,
		UnzipXMLSizeLimit: w.opts.MaxXMLSize,
		TmpDir:            w.opts.TmpDir,
	}
}

func (w *Workbook) excelizeErr(f *excelize.File, err error) error {
	if f != nil {
		f.Close()
	}
	if strings.Contains(err.Error(), "unzip size exceeds") {
		err = fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return fmt.Errorf("open workbook %s: %w", w.name, err)
}

// reference returns the whole workbook opened by excelize, opening it on
// first use.
func (w *Workbook) reference() (*excelize.File, error) {
	if w.ref != nil {
		return w.ref, nil
	}
	f, err := excelize.OpenFile(w.path, w.excelizeOptions())
	if err != nil {
		return nil, w.excelizeErr(f, err)
	}
	w.ref = f
	return f, nil
}

// rows opens a sheet's rows with the reader it takes, under the limits
// on rows.
func (w *Workbook) rows(sheet string) (sheetRows, error) {
	var rows sheetRows
	if part, ok := w.parts[sheet]; ok {
		fr, err := w.openFastRows(sheet, part)
		if err != nil {
			return nil, err
		}
		rows = fr
	} else {
		ref, err := w.reference()
		if err != nil {
			return nil, err
		}
		er, err := ref.Rows(sheet)
		if err != nil {
			return nil, fmt.Errorf("sheet %q: %w", sheet, err)
		}
		rows = excelRows{er}
	}
	return &limitRows{sheetRows: rows, sheet: sheet}, nil
}

// limitRows refuses a sheet that reads on past Excel's last row, or
// holds more than maxEmptyRows rows without a cell: a few bytes of XML
// each that a zip packs a thousandfold, and excelize's iteration visits
// each gap between row numbers as a row.
type limitRows struct {
	sheetRows
	sheet       string
	rows, empty int
	err         error
}

func (r *limitRows) Next() bool {
	if r.err != nil || !r.sheetRows.Next() {
		return false
	}
	if r.rows++; r.rows > maxSheetRows {
		r.err = fmt.Errorf("sheet %q has more than %d rows, Excel's limit: %w", r.sheet, maxSheetRows, ErrTooLarge)
		return false
	}
	return true
}

func (r *limitRows) Columns() ([]string, error) {
	cells, err := r.sheetRows.Columns()
	if err == nil && len(cells) == 0 {
		if r.empty++; r.empty > maxEmptyRows {
			r.err = fmt.Errorf("sheet %q has more than %d rows without a cell, refused as a possible zip bomb: %w", r.sheet, maxEmptyRows, ErrTooLarge)
			return nil, r.err
		}
	}
	return cells, err
}

func (r *limitRows) Error() error {
	if r.err != nil {
		return r.err
	}
	return r.sheetRows.Error()
}

func (r *limitRows) checkEnd(sheet string, lastRow int) error {
	if r.err != nil {
		return nil // reported by the caller
	}
	return r.sheetRows.checkEnd(sheet, lastRow)
}

// Date1904 reports whether the workbook uses the 1904 date system, in which
// Excel date numbers count from 1904-01-01.
func (w *Workbook) Date1904() bool { return w.date1904 }

// Close releases the workbook and removes its temporary files.
func (w *Workbook) Close() error {
	var errs []error
	if w.f != nil {
		errs = append(errs, w.f.Close())
	}
	if w.ref != nil && w.ref != w.f {
		errs = append(errs, w.ref.Close())
	}
	if w.zf != nil {
		errs = append(errs, w.zf.Close())
		if w.spooled {
			errs = append(errs, os.Remove(w.path))
		}
	}
	w.f, w.ref, w.zf, w.zr, w.parts = nil, nil, nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close workbook %s: %w", w.name, err)
	}
	return nil
}
