package transform

import (
	"archive/zip"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// sheetRows iterates a sheet's rows as excelize's Rows does: Next visits
// every row number, gaps included, and Columns returns the row's cells as
// excelize returns them with RawCellValue.
type sheetRows interface {
	Next() bool
	Columns() ([]string, error)
	// checkEnd, once Next has returned false, reports a sheet whose XML
	// broke off as ErrMalformed near row lastRow.
	checkEnd(sheet string, lastRow int) error
	Error() error
	Close() error
}

// excelRows is excelize's iterator.
type excelRows struct{ *excelize.Rows }

func (r excelRows) Columns() ([]string, error) { return r.Rows.Columns() }

func (r excelRows) checkEnd(sheet string, lastRow int) error { return checkEnd(r.Rows, sheet, lastRow) }

// fastRows reads a worksheet part with xmlScanner. It hands out only rows
// it read whole and is sure of; at the first thing it is not sure of it
// opens the sheet with excelize, skips the rows already handed out and
// reads on with it, so the rows are excelize's either way.
type fastRows struct {
	w     *Workbook
	sheet string
	rc    io.ReadCloser
	sc    *xmlScanner
	sst   []string

	seekRow, curRow int      // as excelize's Rows counts them
	cells           []string // of curRow
	inData, done    bool     // inside <sheetData>; past it
	atEnd           bool     // at </sheetData>, with rows still to hand out
	nextNum         int      // the number of the row whose start tag was read
	width           int      // cells in the last row, for the next one's capacity
	buf             []byte

	ref *excelRows // excelize's rows, after a fall back
	err error      // of the fall back
}

func (w *Workbook) openFastRows(sheet, part string) (*fastRows, error) {
	f, _ := zipEntry(w.zr, part, false)
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("sheet %q: %w", sheet, err)
	}
	return &fastRows{w: w, sheet: sheet, rc: rc, sc: newXMLScanner(rc), sst: w.sst}, nil
}

func (r *fastRows) Next() bool {
	if r.ref != nil {
		return r.ref.Next()
	}
	if r.err != nil {
		return false
	}
	r.seekRow++
	if r.curRow >= r.seekRow {
		return true
	}
	if r.done {
		return false
	}
	ok, err := r.readRow()
	if err != nil {
		return r.fallBack(r.seekRow-1) && r.ref.Next()
	}
	return ok
}

// fallBack opens the sheet with excelize and skips the delivered rows on
// it, reporting whether it could.
func (r *fastRows) fallBack(delivered int) bool {
	r.w.fallbacks++
	ref, err := r.w.reference()
	if err == nil {
		var rows *excelize.Rows
		if rows, err = ref.Rows(r.sheet); err == nil {
			r.ref = &excelRows{rows}
		}
	}
	if err != nil {
		r.err = fmt.Errorf("sheet %q: %w", r.sheet, err)
		return false
	}
	for range delivered {
		if !r.ref.Next() {
			return false // the error, if any, shows in checkEnd
		}
	}
	return true
}

func (r *fastRows) Columns() ([]string, error) {
	if r.ref != nil {
		return r.ref.Columns()
	}
	if r.curRow > r.seekRow {
		return nil, nil
	}
	return r.cells, nil
}

func (r *fastRows) Error() error {
	if r.ref != nil {
		return r.ref.Error()
	}
	return r.err
}

func (r *fastRows) Close() error {
	err := r.rc.Close()
	if r.ref != nil {
		if e := r.ref.Close(); e != nil {
			err = e
		}
	}
	return err
}

// checkEnd reads the rest of the part, which must be well formed; where
// it is not, or not surely, excelize's reading decides.
func (r *fastRows) checkEnd(sheet string, lastRow int) error {
	if r.ref == nil && r.err == nil {
		if r.finish() == nil {
			return nil
		}
		// Next returned false at row seekRow: every row before it was
		// handed out.
		if !r.fallBack(r.seekRow-1) || r.ref.Next() {
			if err := r.Error(); err != nil {
				return nil // reported by the caller
			}
			if r.ref != nil {
				if err := r.ref.checkEnd(sheet, lastRow); err != nil {
					return err
				}
			}
			return fmt.Errorf("sheet %q: %w near row %d: the fast reader and excelize disagree; import with --reader excelize", sheet, ErrMalformed, lastRow)
		}
	}
	if r.ref != nil {
		return r.ref.checkEnd(sheet, lastRow)
	}
	return nil
}

// finish checks the XML after the last row read.
func (r *fastRows) finish() error {
	for {
		typ, err := r.sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.checkText(typ); err != nil {
			return err
		}
	}
}

// checkText checks a text event's entities, whose text is not kept.
func (r *fastRows) checkText(typ uint8) error {
	if typ != evText {
		return nil
	}
	var ok bool
	if r.buf, ok = appendText(r.buf[:0], r.sc.text); !ok {
		return errUnsure
	}
	return nil
}

// readRow reads the next <row> element, or reports false at the end of
// <sheetData>. It reads on to the start of the row after, since
// excelize's Columns does: a bad row number there is an error of this
// row's Columns, so the row is excelize's to hand out.
func (r *fastRows) readRow() (bool, error) {
	if !r.inData {
		if err := r.toSheetData(); err != nil {
			return false, err
		}
		if r.done {
			return false, nil
		}
		r.inData = true
		if err := r.toNextRow(0); err != nil {
			return false, err
		}
	}
	if r.atEnd {
		r.done = true
		return false, nil
	}
	num := r.nextNum
	cells, err := r.row()
	if err != nil {
		return false, err
	}
	if err := r.toNextRow(num); err != nil {
		return false, err
	}
	r.curRow, r.cells, r.width = num, cells, len(cells)
	return true, nil
}

// toSheetData reads to the start of <sheetData>, or sets done at the end
// of a sheet without one.
func (r *fastRows) toSheetData() error {
	s := r.sc
	for {
		typ, err := s.next()
		if err == io.EOF {
			r.done = true
			return nil
		}
		if err != nil {
			return err
		}
		if err := r.checkText(typ); err != nil {
			return err
		}
		if typ == evStart {
			switch string(s.local) {
			case "sheetData":
				return nil
			case "row", "c":
				return errUnsure // excelize would read it as one
			}
		}
	}
}

// toNextRow reads to the start of the row after row prev, setting its
// number, or to the end of <sheetData>, setting atEnd.
func (r *fastRows) toNextRow(prev int) error {
	s := r.sc
	for {
		typ, err := s.next()
		if err != nil {
			return errUnsure
		}
		switch typ {
		case evText:
			if err := r.checkText(typ); err != nil {
				return err
			}
		case evEnd:
			if string(s.local) != "sheetData" {
				return errUnsure
			}
			r.atEnd = true
			return nil
		case evStart:
			if string(s.local) != "row" {
				return errUnsure
			}
			r.nextNum = prev + 1
			if v, ok := s.attr("r"); ok {
				n, err := strconv.Atoi(string(v))
				if err != nil || n < 0 || n > excelize.TotalRows || n != 0 && n <= prev {
					return errUnsure
				}
				if n != 0 {
					r.nextNum = n
				}
			}
			return nil
		default:
			return errUnsure
		}
	}
}

// row reads the cells of the <row> element just started.
func (r *fastRows) row() ([]string, error) {
	s := r.sc
	cells := make([]string, 0, r.width)
	depth := s.depth()
	col := 0
	for {
		typ, err := s.next()
		if err != nil {
			return nil, errUnsure
		}
		switch {
		case typ == evEnd && s.depth() < depth:
			return cells, nil
		case typ == evStart && string(s.local) == "c":
			if cells, col, err = r.cell(cells, col); err != nil {
				return nil, err
			}
		case typ == evText:
			if err := r.checkText(typ); err != nil {
				return nil, err
			}
		default:
			return nil, errUnsure
		}
	}
}

// cell reads one <c> element, just started, into cells as excelize's
// rowXMLHandler does: col counts cells without a reference, and a cell
// with no value and no formula adds nothing, so trailing ones are dropped.
func (r *fastRows) cell(cells []string, col int) ([]string, int, error) {
	s := r.sc
	col++
	ref, t, ok := cellAttrs(s)
	if !ok {
		return nil, 0, errUnsure
	}
	// The attributes are gosax's buffer, which the next event may reuse.
	typ := cellString
	switch string(t) {
	case "s":
		typ = cellShared
	case "inlineStr":
		typ = cellInline
	}
	if len(ref) > 0 {
		if col, ok = cellColumn(ref); !ok {
			return nil, 0, errUnsure
		}
	}
	var (
		v          []byte
		hasF, isIS bool
		is         string
	)
	depth := s.depth()
	for {
		t, err := s.next()
		if err != nil {
			return nil, 0, errUnsure
		}
		if t == evEnd && s.depth() < depth {
			break
		}
		switch {
		case t == evText:
			if err := r.checkText(t); err != nil {
				return nil, 0, err
			}
		case t != evStart:
			return nil, 0, errUnsure
		case string(s.local) == "v":
			if v, err = r.content(v[:0]); err != nil {
				return nil, 0, err
			}
		case string(s.local) == "f":
			hasF = true
			if err := s.skip(); err != nil {
				return nil, 0, err
			}
		case string(s.local) == "is" && !isIS:
			isIS = true
			if is, err = r.richText(); err != nil {
				return nil, 0, err
			}
		default:
			return nil, 0, errUnsure
		}
	}
	// getValueFrom with raw values.
	var val string
	switch typ {
	case cellShared:
		if len(v) > 0 {
			i, _ := strconv.Atoi(strings.TrimSpace(string(v)))
			if i >= 0 && i < len(r.sst) {
				val = r.sst[i]
			}
		}
	case cellInline:
		if isIS {
			val = is
		} else {
			val = string(v)
		}
	default:
		val = string(v)
	}
	if val != "" || hasF {
		for range col - len(cells) - 1 {
			cells = append(cells, "")
		}
		cells = append(cells, val)
	}
	return cells, col, nil
}

// Cell types, as getValueFrom tells them apart with raw values.
const (
	cellString = iota // any other: its <v> as it is
	cellShared
	cellInline
)

// cellAttrs returns a cell's r and t attributes, checking s as excelize
// parses it (a bad s drops the cell's value there).
func cellAttrs(s *xmlScanner) (ref, typ []byte, ok bool) {
	for b := s.attrs; ; {
		var name, v []byte
		name, v, b = nextAttr(b)
		if name == nil {
			return ref, typ, true
		}
		if i := strings.IndexByte(string(name), ':'); i > 0 && i < len(name)-1 && strings.Count(string(name), ":") == 1 {
			name = name[i+1:]
		}
		switch string(name) {
		case "r":
			ref = v
		case "t":
			typ = v
		case "s":
			if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
				return nil, nil, false
			}
		}
	}
}

// cellColumn returns the 1-based column of a cell reference such as
// "AB12", as excelize.CellNameToCoordinates reads it.
func cellColumn(ref []byte) (int, bool) {
	col, i := 0, 0
	for ; i < len(ref) && i < 3 && ref[i] >= 'A' && ref[i] <= 'Z'; i++ {
		col = col*26 + int(ref[i]-'A'+1)
	}
	row := 0
	j := i
	for ; j < len(ref) && j-i < 7 && ref[j] >= '0' && ref[j] <= '9'; j++ {
		row = row*10 + int(ref[j]-'0')
	}
	if i > 0 && j == len(ref) && j > i && ref[i] != '0' && col <= excelize.MaxColumns && row <= excelize.TotalRows {
		return col, true
	}
	c, _, err := excelize.CellNameToCoordinates(string(ref))
	return c, err == nil
}

// content reads the text of an element just started that holds text
// only, into dst.
func (r *fastRows) content(dst []byte) ([]byte, error) {
	s := r.sc
	depth := s.depth()
	for {
		t, err := s.next()
		if err != nil {
			return nil, errUnsure
		}
		switch {
		case t == evEnd && s.depth() < depth:
			return dst, nil
		case t == evText:
			var ok bool
			if dst, ok = appendText(dst, s.text); !ok {
				return nil, errUnsure
			}
		case t == evCData && strings.IndexByte(string(s.text), '\r') < 0:
			dst = append(dst, s.text...)
		default:
			return nil, errUnsure
		}
	}
}

// richText reads an <is> or <si> element, just started, as excelize's
// xlsxSI.String: the text of its <t> (the last one, as encoding/xml
// decodes several into one field), then that of each run, phonetic runs
// left out, with _xHHHH_ escapes decoded.
func (r *fastRows) richText() (string, error) {
	s := r.sc
	var t, runs []byte
	depth := s.depth()
	for {
		typ, err := s.next()
		if err != nil {
			return "", errUnsure
		}
		switch {
		case typ == evEnd && s.depth() < depth:
			if len(t)+len(runs) == 0 {
				return "", nil
			}
			return bstrUnmarshal(string(t) + string(runs)), nil
		case typ == evText:
			if err := r.checkText(typ); err != nil {
				return "", err
			}
		case typ != evStart:
			return "", errUnsure
		case string(s.local) == "t":
			if t, err = r.content(t[:0]); err != nil {
				return "", err
			}
		case string(s.local) == "r":
			if runs, err = r.run(runs); err != nil {
				return "", err
			}
		case string(s.local) == "rPh" || string(s.local) == "phoneticPr":
			if err := s.skip(); err != nil {
				return "", err
			}
		default:
			return "", errUnsure
		}
	}
}

// run appends the text of a rich-text run, just started, to dst.
func (r *fastRows) run(dst []byte) ([]byte, error) {
	s := r.sc
	var t []byte
	depth := s.depth()
	for {
		typ, err := s.next()
		if err != nil {
			return nil, errUnsure
		}
		switch {
		case typ == evEnd && s.depth() < depth:
			return append(dst, t...), nil
		case typ == evText:
			if err := r.checkText(typ); err != nil {
				return nil, err
			}
		case typ != evStart:
			return nil, errUnsure
		case string(s.local) == "t":
			if t, err = r.content(t[:0]); err != nil {
				return nil, err
			}
		case string(s.local) == "rPr":
			if err := s.skip(); err != nil {
				return nil, err
			}
		default:
			return nil, errUnsure
		}
	}
}

// bstrUnmarshal decodes the _xHHHH_ escapes of s as excelize does: an
// escape of a surrogate, which Go's strconv.Unquote refuses, is dropped.
func bstrUnmarshal(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 32); err == nil && isHex4(s[i+2:i+6]) {
				if r := rune(n); r < 0xD800 || r > 0xDFFF {
					b.WriteRune(r)
				}
				i += 7
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isHex4(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// loadSharedStrings reads the shared strings as excelize's xlsxSI.String
// gives them, or reports errUnsure for a table it is not sure of; the
// workbook is then read by excelize alone.
func loadSharedStrings(f *zip.File) ([]string, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := &fastRows{sc: newXMLScanner(rc)}
	s := r.sc
	var sst []string
	for {
		typ, err := s.next()
		if err == io.EOF {
			return sst, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case typ == evText:
			if err := r.checkText(typ); err != nil {
				return nil, err
			}
		case typ == evStart && s.depth() == 1:
			// The namespace the decoder excelize uses expects.
			ns, _ := s.attr("xmlns")
			if string(s.name) != "sst" || string(ns) != "http://schemas.openxmlformats.org/spreadsheetml/2006/main" {
				return nil, errUnsure
			}
		case typ == evStart && s.depth() == 2 && string(s.local) == "si":
			v, err := r.richText()
			if err != nil {
				return nil, err
			}
			sst = append(sst, v)
		case typ == evStart:
			if err := s.skip(); err != nil {
				return nil, err
			}
		case typ == evEnd:
		default:
			return nil, errUnsure
		}
	}
}

// CountCells reads every row of every sheet with the workbook's reader and
// only counts them: the benchmark's measure of a reader alone.
func (w *Workbook) CountCells() (rows, cells int, err error) {
	for _, sheet := range w.f.GetSheetList() {
		r, err := w.rows(sheet)
		if err != nil {
			return rows, cells, err
		}
		n := 0
		for r.Next() {
			n++
			c, err := r.Columns()
			if err != nil {
				r.Close()
				return rows, cells, err
			}
			rows++
			cells += len(c)
		}
		err = r.checkEnd(sheet, n)
		if err == nil {
			err = closeRows(r, sheet, n)
		}
		if err != nil {
			return rows, cells, err
		}
	}
	return rows, cells, nil
}
