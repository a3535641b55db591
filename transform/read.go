package transform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/xuri/excelize/v2"

	"sparkevents/internal/pseudo"
)

// headerScanRows is how many non-empty rows may stand above the header (a
// title, notes, filters) before a sheet is judged to hold no events.
const headerScanRows = 20

// ErrNoHeader is wrapped by Read when no sheet of the workbook has a header
// row that names both an event time and an event type column.
var ErrNoHeader = errors.New("no event header row")

// Stats counts what Read saw.
type Stats struct {
	Sheets  int // sheets with an event header row
	Rows    int // data rows: below the header, not blank; Rows == Events + Rejects
	Events  int
	Rejects int
	// HeaderlessRows are the non-blank rows of sheets without an event
	// header row, each handed to reject with NoHeader set.
	HeaderlessRows int
	// SkippedSheets are the sheets without an event header row in their
	// first rows (a cover sheet, a pivot, notes, or events under headers
	// that need --column), in workbook order. No events are read from them.
	SkippedSheets []string
	// Layouts say how each sheet with a header mapped its columns.
	Layouts []Layout
}

// Read streams every data row of every event sheet, in workbook order, to
// event when it makes an Event and to reject when it does not; no row is
// dropped silently (blank rows, which hold nothing, are skipped). A sheet is
// an event sheet when one of its first 20 non-empty rows is a header naming
// both an event time and an event type column; Read fails with ErrNoHeader
// when no sheet is one, unless every sheet is blank (no non-empty cell):
// such a workbook, the export of a quiet window, reads as no events, with
// Stats.Sheets 0 and every sheet skipped. When some sheet is an event
// sheet, every non-empty row of the others goes to reject with NoHeader
// set, since it may be an event under a header Read does not know; only a
// sheet without a row of two non-empty cells, which no mapping can make an
// event of, is skipped without one.
//
// Cells are cleaned (NUL bytes and invalid UTF-8 removed, space trimmed);
// a user name that is an e-mail address is lower-cased; event types are kept
// whatever they are. A row is rejected when its time is empty or unparsable
// or its type is empty; Reject.Reason names the field and the value, e.g.
// `event_time: cannot parse "31/31/2020" as a time`. Columns mapping to no
// field go into Event.Attributes, keyed by header ("column G" for a column
// without one). Cells are read as Excel stores them, so a date in an extra
// column appears as its serial number. When event_time is found under
// "Date" or "Event Date" beside a "Time" column (and not named with
// --column), the two make the time: the day from the first, the time of
// day from the second, which is then no attribute. A date cell that holds
// a time of day of its own is read alone; otherwise a row whose time of
// day is empty or unparsable is rejected.
//
// EventID is the row's Event ID column value when it has one, else "h:",
// the event's UTC time and 32 hex digits of a SHA-256 over the tenant, the
// normalized fields and the non-empty attributes ordered by header, as in
// "h:20260102T030405.678000Z:1f0e…". The same event therefore gets the
// same ID when downloaded again, whatever the column order and whether its
// time was written as text or as an Excel number; but any changed value (a
// corrected description, a new extra column) gives a new ID.
//
// The callbacks are called one at a time and in row order, but on a
// goroutine of Read's own: the excelize iteration, which bounds the speed
// of an import, keeps the calling goroutine to itself.
//
// The *Event and *Reject are reused after the callback returns: callers copy
// what they keep. A copy of the struct is enough, the byte slices in it are
// never reused. An error returned by a callback stops Read and is returned,
// wrapped with the sheet and row; so is ctx's error when it is canceled.
func (w *Workbook) Read(ctx context.Context, event func(*Event) error, reject func(*Reject) error) (Stats, error) {
	var st Stats
	if w.f == nil {
		return st, fmt.Errorf("read workbook %s: closed", w.name)
	}
	r := rowReader{w: w, event: event, reject: reject, st: &st}
	sheets := w.f.GetSheetList()
	// A sheet without a header comes before the event sheet as often as
	// after it, so whether its rows are rejects is known first.
	anyHeader, err := r.hasEventSheet(sheets)
	if err != nil {
		return st, fmt.Errorf("read workbook %s: %w", w.name, err)
	}
	var seen []string // what headerless sheets look like, for the error
	blank := true     // every sheet read so far has no non-empty cell
	for _, sheet := range sheets {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("read workbook %s: %w", w.name, err)
		}
		found, firstRows, err := r.readSheet(ctx, sheet, anyHeader)
		if err != nil {
			return st, fmt.Errorf("read workbook %s: %w", w.name, err)
		}
		if !found {
			st.SkippedSheets = append(st.SkippedSheets, sheet)
			if firstRows == "" {
				firstRows = fmt.Sprintf("sheet %q is empty", sheet)
			} else {
				blank = false
			}
			seen = append(seen, firstRows)
		}
	}
	// A quiet window may export a workbook without a single cell: that is
	// no events, not a layout Read does not know.
	if st.Sheets == 0 && !blank {
		return st, fmt.Errorf("read workbook %s: %w: %s; %s; %s; name the columns with --column event_time=HEADER --column event_type=HEADER",
			w.name, ErrNoHeader, strings.Join(seen, "; "),
			"event_time is one of "+w.matcher.wanted(fieldEventTime),
			"event_type is one of "+w.matcher.wanted(fieldEventType))
	}
	return st, nil
}

// rowReader holds the state of one Read, reused from row to row.
type rowReader struct {
	w      *Workbook
	event  func(*Event) error
	reject func(*Reject) error
	st     *Stats

	ev    Event
	rej   Reject
	buf   []byte // JSON being built
	canon []byte // canonical form being hashed
	id    []byte // hash ID being built; a stack array would escape through AppendFormat
	kvs   []keyValue
	reps  repeatCounter
}

// repeatCounter counts the rows of one event time that hash alike, so
// that identical rows, which are distinct events (two downloads of one
// service by one user in the same millisecond, or in the same day of a
// sheet that gives only dates), each keep an ID of their own. Exports come
// in time order, so a run of equal times holds them all; the count starts
// again whenever the time changes, which keeps it small.
type repeatCounter struct {
	t    time.Time
	few  []sumCount       // while the run is short
	many map[[32]byte]int // once it is long: a day of date-only events
}

type sumCount struct {
	sum [32]byte
	n   int
}

// next returns how many rows before this one, since the event time was
// last other than t, hashed to sum.
func (c *repeatCounter) next(t time.Time, sum [32]byte) int {
	if !t.Equal(c.t) {
		c.t, c.few, c.many = t, c.few[:0], nil
	}
	if c.many != nil {
		k := c.many[sum]
		c.many[sum] = k + 1
		return k
	}
	for i := range c.few {
		if c.few[i].sum == sum {
			c.few[i].n++
			return c.few[i].n - 1
		}
	}
	if len(c.few) < 32 {
		c.few = append(c.few, sumCount{sum, 1})
		return 0
	}
	c.many = make(map[[32]byte]int, 2*len(c.few))
	for _, f := range c.few {
		c.many[f.sum] = f.n
	}
	c.many[sum] = 1
	return 0
}

// sheetPlan is how the columns of one sheet map, worked out once from its
// header row.
type sheetPlan struct {
	sheet   string
	cols    [numFields]int // column index of each field, or -1
	keys    []string       // per header column: its JSON key (header, or "column X")
	jsonKey [][]byte       // per header column: `"key":` as JSON
	isAttr  []bool         // per header column: maps to no field
	sorted  []int          // attribute columns ordered by key, for the hash
	times   timeParser
	// clock is the column of a separate time of day that completes the
	// event_time column, a date, or -1 (see headerMatcher.clockColumn).
	clock int
	// noHeader, when set, is the reason every row of a sheet without a
	// header row is rejected with.
	noHeader string
}

type keyValue struct{ key, value string }

// headerScan is what the top of a sheet, searched for its header row,
// holds.
type headerScan struct {
	rowNum    int      // the last row read: the header, or where the search stopped
	ended     bool     // the sheet ended before the search did
	header    []string // the header row's cells, or nil when none was found
	cols      [numFields]int
	widest    []string // the widest row read, for the error when no sheet has a header
	widestRow int
}

// scanHeader reads the rows of a sheet until its header row, its
// headerScanRows-th non-empty row or its end.
func (r *rowReader) scanHeader(rows sheetRows, sheet string) (headerScan, error) {
	var hs headerScan
	// Next visits every row number, gaps included (they come back empty), so
	// counting calls gives the row number Excel shows.
	for nonEmpty := 0; nonEmpty < headerScanRows; {
		if !rows.Next() {
			hs.ended = true
			return hs, rows.checkEnd(sheet, hs.rowNum)
		}
		hs.rowNum++
		cells, err := rows.Columns()
		if err != nil {
			return hs, fmt.Errorf("sheet %q row %d: %w", sheet, hs.rowNum, err)
		}
		if cleanCells(cells) {
			continue
		}
		if cols, ok := r.w.matcher.mapRow(cells); ok {
			hs.header, hs.cols = cells, cols
			return hs, nil
		}
		if countNonEmpty(cells) > countNonEmpty(hs.widest) {
			hs.widest, hs.widestRow = slices.Clone(cells), hs.rowNum
		}
		nonEmpty++
	}
	return hs, nil
}

// hasEventSheet reports whether any of sheets has an event header row. It
// stops at the first that has, which is nearly always the first sheet.
func (r *rowReader) hasEventSheet(sheets []string) (bool, error) {
	for _, sheet := range sheets {
		rows, err := r.w.rows(sheet)
		if err != nil {
			return false, fmt.Errorf("sheet %q: %w", sheet, err)
		}
		hs, err := r.scanHeader(rows, sheet)
		rows.Close()
		if err != nil {
			return false, err
		}
		if hs.header != nil {
			return true, nil
		}
	}
	return false, nil
}

// readSheet reads one sheet. found reports whether it has a header; when it
// has not, its rows are rejected if rejectHeaderless is set and it has a
// row that could be an event, and firstRows describes its widest early row
// for the error message, or is empty when the sheet is blank.
func (r *rowReader) readSheet(ctx context.Context, sheet string, rejectHeaderless bool) (found bool, firstRows string, err error) {
	rows, err := r.w.rows(sheet)
	if err != nil {
		return false, "", fmt.Errorf("sheet %q: %w", sheet, err)
	}
	defer rows.Close()
	hs, err := r.scanHeader(rows, sheet)
	if err != nil {
		return false, "", err
	}
	if hs.header != nil {
		r.st.Sheets++
		plan := r.w.newSheetPlan(sheet, hs.header, hs.cols)
		r.st.Layouts = append(r.st.Layouts, plan.layout(hs.rowNum, hs.header))
		if err := r.readData(ctx, plan, rows, hs.rowNum); err != nil {
			return true, "", err
		}
		return true, "", closeRows(rows, sheet, hs.rowNum)
	}
	if rejectHeaderless {
		data, err := hasDataRow(rows, sheet, hs)
		if err != nil {
			return false, "", err
		}
		if data {
			if err := r.rejectSheet(ctx, sheet); err != nil {
				return false, "", err
			}
		}
	}
	if err := closeRows(rows, sheet, hs.rowNum); err != nil {
		return false, "", err
	}
	if hs.widest == nil {
		return false, "", nil // no header and no non-empty row: blank
	}
	var quoted []string
	for _, c := range hs.widest {
		if c != "" {
			quoted = append(quoted, strconv.Quote(c))
		}
	}
	return false, fmt.Sprintf("sheet %q has no header row (its row %d has %s)", sheet, hs.widestRow, strings.Join(quoted, ", ")), nil
}

// closeRows closes rows, reporting an iteration error as at row rowNum, or
// at no row when rowNum is 0.
func closeRows(rows sheetRows, sheet string, rowNum int) error {
	if err := rows.Error(); err != nil {
		if rowNum == 0 {
			return fmt.Errorf("sheet %q: %w", sheet, err)
		}
		return fmt.Errorf("sheet %q row %d: %w", sheet, rowNum, err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sheet %q: %w", sheet, err)
	}
	return nil
}

// hasDataRow reports whether a sheet without a header, read as far as hs
// says, has a row of at least two non-empty cells: an event needs a time and
// a type, so a sheet of one-cell rows (a title, notes) holds none under any
// mapping. It reads on from where the header search stopped, only as far as
// the first such row.
func hasDataRow(rows sheetRows, sheet string, hs headerScan) (bool, error) {
	if countNonEmpty(hs.widest) >= 2 {
		return true, nil
	}
	if hs.ended {
		return false, nil
	}
	rowNum := hs.rowNum
	for rows.Next() {
		rowNum++
		cells, err := rows.Columns()
		if err != nil {
			return false, fmt.Errorf("sheet %q row %d: %w", sheet, rowNum, err)
		}
		cleanCells(cells)
		if countNonEmpty(cells) >= 2 {
			return true, nil
		}
	}
	return false, rows.checkEnd(sheet, rowNum)
}

// rejectSheet hands every non-empty row of a sheet without a header row to
// reject, with NoHeader set, reading the sheet again from the top. The rows
// go through readData like any sheet's, so they are delivered as other
// rejects are, and counted in Stats.HeaderlessRows.
func (r *rowReader) rejectSheet(ctx context.Context, sheet string) error {
	rows, err := r.w.rows(sheet)
	if err != nil {
		return fmt.Errorf("sheet %q: %w", sheet, err)
	}
	defer rows.Close()
	p := &sheetPlan{
		sheet: sheet,
		clock: -1,
		noHeader: fmt.Sprintf("the sheet has no header row with event_time and event_type columns in its first %d non-empty rows: "+
			"map its headers with --column event_time=HEADER --column event_type=HEADER, or delete the sheet if it holds no events", headerScanRows),
	}
	for f := range p.cols {
		p.cols[f] = -1
	}
	if err := r.readData(ctx, p, rows, 0); err != nil {
		return err
	}
	return closeRows(rows, sheet, 0)
}

// ErrMalformed is wrapped by Read when a sheet's XML breaks off before its
// end, for instance at a control character a writer failed to escape.
var ErrMalformed = errors.New("malformed worksheet XML")

// checkEnd tells a sheet that ended from one whose XML broke off near row
// lastRow. excelize's Rows.Next takes an XML syntax error for the end of
// the sheet, which would drop every later row without a word (its
// maintainers keep it so: qax-os/excelize#53). So once Next returns false
// this reads on with the same decoder: a sheet that really ended has only
// its closing elements left, a broken one returns the syntax error again.
func checkEnd(rows *excelize.Rows, sheet string, lastRow int) error {
	if err := rows.Error(); err != nil {
		return nil // reported by the caller, with its own message
	}
	dec := rowsDecoder(rows)
	if dec == nil {
		return nil
	}
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sheet %q: %w near row %d (%v): rows from there on may be missing, so none are loaded; fix the sheet or export it again", sheet, ErrMalformed, lastRow, err)
		}
	}
}

// rowsDecoder returns the XML decoder behind rows, which excelize does not
// export, or nil if a later excelize has none by that name; the malformed
// sheet test then fails, so an upgrade cannot turn the check off unseen.
func rowsDecoder(rows *excelize.Rows) *xml.Decoder {
	f := reflect.ValueOf(rows).Elem().FieldByName("decoder")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*xml.Decoder]() {
		return nil
	}
	return *(**xml.Decoder)(unsafe.Pointer(f.UnsafeAddr()))
}

// cleanCells cleans cells in place and reports whether all are empty.
func cleanCells(cells []string) (blank bool) {
	blank = true
	for i, c := range cells {
		c = cleanText(c)
		cells[i] = c
		blank = blank && c == ""
	}
	return blank
}

// rowBatch is data rows on their way from the parser to the converter.
// Next visits every row number, so they are consecutive: cells[i] is row
// first+i.
type rowBatch struct {
	first int        // Excel row number of cells[0]
	cells [][]string // as excelize returned them, not yet cleaned
}

const (
	// rowBatchSize rows go to the converter at a time: enough that a
	// channel handoff costs nothing per row.
	rowBatchSize = 256
	// rowBatchesAhead bounds how far the parser runs ahead of the
	// converter.
	rowBatchesAhead = 4
)

// readData reads the data rows below the header at row headerRow. The
// excelize iteration bounds an import, so it runs alone on this goroutine,
// and a second one cleans and converts the rows and calls the callbacks:
// on two cores that takes the conversion off the critical path. The
// callbacks are still called one at a time, in row order.
func (r *rowReader) readData(ctx context.Context, p *sheetPlan, rows sheetRows, headerRow int) error {
	in := make(chan rowBatch, rowBatchesAhead)
	free := make(chan rowBatch, rowBatchesAhead+2)
	done := make(chan struct{})
	var convErr error // the converter's, set before done is closed
	go func() {
		defer close(done)
		convErr = r.convert(ctx, p, in, free)
	}()

	newBatch := func() rowBatch {
		select {
		case b := <-free:
			return rowBatch{cells: b.cells[:0]}
		default:
			return rowBatch{cells: make([][]string, 0, rowBatchSize)}
		}
	}
	// send hands b to the converter, or reports false when it has stopped.
	send := func(b rowBatch) bool {
		select {
		case in <- b:
			return true
		case <-done:
			return false
		}
	}
	var parseErr error
	b := newBatch()
	for rowNum := headerRow; ; {
		if !rows.Next() {
			if parseErr = rows.checkEnd(p.sheet, rowNum); parseErr != nil {
				// excelize returned the row the XML broke in, the last
				// one read, cut short as if whole: it is no row to
				// convert or reject.
				if n := len(b.cells); n > 0 {
					b.cells = b.cells[:n-1]
				}
			}
			break
		}
		rowNum++
		if rowNum%1024 == 0 {
			if parseErr = ctx.Err(); parseErr != nil {
				break
			}
		}
		cells, err := rows.Columns()
		if err != nil {
			parseErr = fmt.Errorf("sheet %q row %d: %w", p.sheet, rowNum, err)
			break
		}
		if len(b.cells) == 0 {
			b.first = rowNum
		}
		b.cells = append(b.cells, cells)
		if len(b.cells) == rowBatchSize {
			if !send(b) {
				break
			}
			b = newBatch()
		}
	}
	// The rows before a parse error are delivered too, as they were
	// before the converter had its own goroutine.
	if len(b.cells) > 0 {
		send(b)
	}
	close(in)
	<-done
	// A sheet that broke off fails as such, whatever its last rows made
	// the converter do; otherwise the converter's error comes first: it
	// stopped the parse.
	if errors.Is(parseErr, ErrMalformed) {
		return parseErr
	}
	if convErr != nil {
		return convErr
	}
	return parseErr
}

// convert turns the batches from in into events and rejects until in is
// closed, a callback fails or ctx is canceled, and hands the emptied
// batches back on free.
func (r *rowReader) convert(ctx context.Context, p *sheetPlan, in <-chan rowBatch, free chan<- rowBatch) error {
	for b := range in {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, cells := range b.cells {
			if cleanCells(cells) {
				continue
			}
			if p.noHeader == "" {
				r.st.Rows++
			}
			if err := r.row(p, b.first+i, cells); err != nil {
				return fmt.Errorf("sheet %q row %d: %w", p.sheet, b.first+i, err)
			}
		}
		clear(b.cells)
		select {
		case free <- b:
		default:
		}
	}
	return nil
}

func countNonEmpty(cells []string) int {
	n := 0
	for _, c := range cells {
		if c != "" {
			n++
		}
	}
	return n
}

// newSheetPlan works out the column mapping of a sheet from its header row.
func (w *Workbook) newSheetPlan(sheet string, header []string, cols [numFields]int) *sheetPlan {
	p := &sheetPlan{
		sheet:   sheet,
		cols:    cols,
		keys:    make([]string, len(header)),
		jsonKey: make([][]byte, len(header)),
		isAttr:  make([]bool, len(header)),
		times:   timeParser{layouts: w.layouts, date1904: w.date1904, loc: w.opts.Location},
		clock:   w.matcher.clockColumn(header, cols),
	}
	// A time column headed "... (UTC)" says what zone its times are in,
	// which beats --source-timezone's guess for the whole export.
	_, utc := cutUTCHeader(header[cols[fieldEventTime]])
	if p.clock >= 0 {
		_, clockUTC := cutUTCHeader(header[p.clock])
		utc = utc || clockUTC
	}
	if utc {
		p.times.loc = time.UTC
	}
	mapped := make([]bool, len(header))
	for _, i := range cols {
		if i >= 0 {
			mapped[i] = true
		}
	}
	// The time of day is part of event_time, so it is no attribute; nor is
	// it hashed twice. Sheets without one keep the attributes, and so the
	// hash IDs, they always had.
	if p.clock >= 0 {
		mapped[p.clock] = true
	}
	used := make(map[string]bool, len(header))
	for i, h := range header {
		key := h
		if key == "" {
			key = columnKey(i)
		}
		if used[key] {
			// Two columns with one header: both are kept, the second under
			// a key that names its column.
			key = key + " (" + columnKey(i) + ")"
		}
		used[key] = true
		p.keys[i] = key
		p.jsonKey[i] = append(appendJSONString(nil, key), ':')
		p.isAttr[i] = !mapped[i]
		if p.isAttr[i] {
			p.sorted = append(p.sorted, i)
		}
	}
	slices.SortFunc(p.sorted, func(a, b int) int { return strings.Compare(p.keys[a], p.keys[b]) })
	return p
}

// Layout is how one sheet's columns map to event fields.
type Layout struct {
	Sheet     string
	HeaderRow int               // 1-based
	Fields    map[string]string // field name (as --column takes it) -> its header
	// Extra are the headers that map to no field: their cells are kept in
	// the event's attributes.
	Extra []string
	// UTC says times without a zone are read as UTC: the time column's
	// header says so ("Timestamp (UTC)"), or the source time zone is UTC.
	UTC bool
}

func (p *sheetPlan) layout(headerRow int, header []string) Layout {
	l := Layout{Sheet: p.sheet, HeaderRow: headerRow, Fields: map[string]string{}, UTC: p.times.loc == time.UTC}
	for f, i := range p.cols {
		if i >= 0 {
			l.Fields[fieldNames[f]] = header[i]
		}
	}
	for _, i := range p.sorted {
		l.Extra = append(l.Extra, p.keys[i])
	}
	return l
}

// columnKey names a column that has no header by its letter.
func columnKey(i int) string {
	name, _ := excelize.ColumnNumberToName(i + 1)
	return "column " + name
}

// key returns the JSON key of column i, which may lie right of the header.
func (p *sheetPlan) key(i int) string {
	if i < len(p.keys) {
		return p.keys[i]
	}
	return columnKey(i)
}

func (p *sheetPlan) value(cells []string, f field) string {
	if i := p.cols[f]; i >= 0 && i < len(cells) {
		return cells[i]
	}
	return ""
}

// row turns the cleaned cells of one data row into an event or a reject.
func (r *rowReader) row(p *sheetPlan, rowNum int, cells []string) error {
	if p.noHeader != "" {
		return r.rejectRow(p, rowNum, cells, p.noHeader)
	}
	var reasons []string
	var t time.Time
	if s := p.value(cells, fieldEventTime); s == "" {
		reasons = append(reasons, "event_time: empty")
	} else if parsed, err := p.parseTime(cells, s); err != nil {
		reasons = append(reasons, "event_time: "+err.Error())
	} else {
		t = parsed
	}
	typ := p.value(cells, fieldEventType)
	if typ == "" {
		reasons = append(reasons, "event_type: empty")
	}
	if reasons != nil {
		return r.rejectRow(p, rowNum, cells, strings.Join(reasons, "; "))
	}

	e := &r.ev
	*e = Event{
		Tenant:         r.w.opts.Tenant,
		EventTime:      t,
		EventType:      typ,
		UserName:       normalizeUser(p.value(cells, fieldUserName)),
		FolderID:       p.value(cells, fieldFolderID),
		FolderName:     p.value(cells, fieldFolderName),
		ServiceName:    p.value(cells, fieldServiceName),
		ServiceVersion: p.value(cells, fieldServiceVersion),
		Description:    p.value(cells, fieldDescription),
		IPAddress:      p.value(cells, fieldIPAddress),
	}
	e.Attributes = r.attributes(p, cells)
	if id := p.value(cells, fieldEventID); id != "" {
		e.EventID = id
	} else {
		e.EventID, e.HashedID = r.hashID(p, cells), true
	}
	if k := r.w.opts.HMACKey; k != nil {
		// After the ID: an event keeps its ID with or without a key, so a
		// load with the key replaces the addresses of events stored
		// without one instead of storing them again.
		e.UserName, e.IPAddress = pseudo.Of(k, e.UserName), pseudo.Of(k, e.IPAddress)
	}
	r.st.Events++
	if r.event == nil {
		return nil
	}
	return r.event(e)
}

// parseTime reads s, the event_time cell of a row, with the row's separate
// time of day if the sheet has one.
func (p *sheetPlan) parseTime(cells []string, s string) (time.Time, error) {
	if p.clock < 0 {
		return p.times.parse(s)
	}
	clock := ""
	if p.clock < len(cells) {
		clock = cells[p.clock]
	}
	return p.times.parseDateClock(s, clock, p.keys[p.clock])
}

// rejectRow counts the row as rejected, or as a row of a sheet without a
// header, and hands it to the reject callback.
func (r *rowReader) rejectRow(p *sheetPlan, rowNum int, cells []string, reason string) error {
	if p.noHeader != "" {
		r.st.HeaderlessRows++
	} else {
		r.st.Rejects++
	}
	if k := r.w.opts.HMACKey; k != nil && p.noHeader == "" {
		if i := p.cols[fieldUserName]; i >= 0 && i < len(cells) {
			cells[i] = pseudo.Of(k, normalizeUser(cells[i]))
		}
		if i := p.cols[fieldIPAddress]; i >= 0 && i < len(cells) {
			cells[i] = pseudo.Of(k, cells[i])
		}
	}
	r.rej = Reject{Sheet: p.sheet, Row: rowNum, Raw: r.rawJSON(p, cells), Reason: reason, NoHeader: p.noHeader != ""}
	if r.reject == nil {
		return nil
	}
	return r.reject(&r.rej)
}

// attributes builds the JSON object of the row's non-empty unmapped cells in
// column order, or nil when there are none. It is built in a reused buffer and
// copied out once, so the result can be kept.
func (r *rowReader) attributes(p *sheetPlan, cells []string) []byte {
	b := append(r.buf[:0], '{')
	for i, c := range cells {
		if c == "" || (i < len(p.isAttr) && !p.isAttr[i]) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		if i < len(p.jsonKey) {
			b = append(b, p.jsonKey[i]...)
		} else {
			b = append(appendJSONString(b, columnKey(i)), ':')
		}
		b = appendJSONString(b, c)
	}
	r.buf = b
	if len(b) == 1 {
		return nil
	}
	return bytes.Clone(append(b, '}'))
}

// rawJSON is the whole row as a JSON object keyed by header, for a reject.
// Header columns are all present, empty or not, so the reason's column shows.
func (r *rowReader) rawJSON(p *sheetPlan, cells []string) []byte {
	b := append(r.buf[:0], '{')
	n := max(len(cells), len(p.keys))
	for i := range n {
		c := ""
		if i < len(cells) {
			c = cells[i]
		}
		if i >= len(p.keys) && c == "" {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, p.key(i)), ':')
		b = appendJSONString(b, c)
	}
	r.buf = b
	return bytes.Clone(append(b, '}'))
}

// A hash ID is hashIDPrefix, the event's UTC time to the microsecond in
// the hashIDTime layout, and 32 hex digits of the hash. The time leads so
// that IDs sort by time: an export comes in time order, so its new keys go
// to the right edge of the primary key index instead of all over it, which
// cut PostgreSQL's work per inserted row by a third (bench/README.md). The
// time is part of the hashed content, so it adds no identity of its own.
// migrations/00003_time_ordered_hash_ids.sql rewrites IDs of the earlier
// layout, "h:" and the 32 hex digits alone, and must build the same time.
const (
	hashIDPrefix = "h:"
	hashIDTime   = "20060102T150405.000000Z:"
)

// hashID identifies an event that has no ID column value by a hash of its
// normalized content: the tenant, every field but event_id, and the non-empty
// attributes ordered by header. Column order does not matter, and an empty
// attribute counts as an absent one, so the same event downloaded again
// hashes the same. Any change to a field's value (a corrected description, a
// renamed extra column) makes a different ID, and the loader then stores it
// as a new event.
//
// Each part is length-prefixed so that no two rows can run together into the
// same bytes; the leading "v1" names this layout, so a future change to it
// is a deliberate one.
//
// A row identical to k earlier rows of the same event time (k > 0) is
// another event, not the same one again: its content is hashed followed by
// "#" and k as a last part, which no row's content alone can end in. The
// first of identical rows keeps the ID it always had, and a later download
// of the same rows numbers them alike, so loads stay idempotent.
func (r *rowReader) hashID(p *sheetPlan, cells []string) string {
	e := &r.ev
	b := append(r.canon[:0], "v1"...)
	b = appendPart(b, e.Tenant)
	// Fixed width, so no length prefix is needed.
	utc := e.EventTime.UTC()
	b = utc.AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	for _, s := range [...]string{e.EventType, e.UserName, e.FolderID, e.FolderName,
		e.ServiceName, e.ServiceVersion, e.Description, e.IPAddress} {
		b = appendPart(b, s)
	}
	if len(cells) <= len(p.keys) {
		for _, i := range p.sorted {
			if i < len(cells) && cells[i] != "" {
				b = appendPart(appendPart(b, p.keys[i]), cells[i])
			}
		}
	} else {
		// Cells right of the header: rare, so sort them in with the rest here.
		kvs := r.kvs[:0]
		for i, c := range cells {
			if c != "" && (i >= len(p.isAttr) || p.isAttr[i]) {
				kvs = append(kvs, keyValue{p.key(i), c})
			}
		}
		slices.SortFunc(kvs, func(a, b keyValue) int { return strings.Compare(a.key, b.key) })
		for _, kv := range kvs {
			b = appendPart(appendPart(b, kv.key), kv.value)
		}
		r.kvs = kvs
	}
	sum := sha256.Sum256(b)
	if k := r.reps.next(utc, sum); k > 0 {
		b = appendPart(append(b, '#'), strconv.Itoa(k))
		sum = sha256.Sum256(b)
	}
	r.canon = b
	id := append(r.id[:0], hashIDPrefix...)
	id = utc.AppendFormat(id, hashIDTime)
	id = hex.AppendEncode(id, sum[:16])
	r.id = id
	return string(id)
}

func appendPart(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// normalizeUser lower-cases a user name that is an e-mail address, since
// mail systems treat those case-insensitively and Spark is not consistent.
// Other user names are kept as they are.
func normalizeUser(s string) string {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.IndexByte(s[at+1:], '@') >= 0 ||
		strings.ContainsAny(s, " \t") || !strings.Contains(s[at+1:], ".") {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
	}
	return s
}
