// Command gen writes a synthetic Spark events workbook for the benchmark:
// a header and N rows of ten columns, nine mapped fields and one extra
// attribute, with no Event ID column, so every row is identified by its
// content hash as most exports are.
//
//	go run ./bench/gen -rows 1000000 -strings shared -times number -o events.xlsx -csv events.csv
//
// The sheet XML is written directly with archive/zip, as large exporters do:
// building a million-row workbook through excelize would take longer than
// reading it. -strings chooses how text cells are stored: "shared" (t="s",
// an index into xl/sharedStrings.xml, as Excel and openpyxl write) or
// "inline" (t="inlineStr", as streaming writers such as POI's SXSSF do).
// -times chooses Excel date numbers with milliseconds and a date format, or
// ISO 8601 text. Descriptions come from a bounded pool (templated, like
// Spark's), so the shared-strings table stays the size a real one would;
// -distinct makes each one unique instead (a request number appended), as a
// column of IDs would, so that table grows with the rows.
//
// -ids puts an Event ID column first, as exports that carry Spark's IDs
// do: each row gets a UUID-shaped ID derived from its row number, so the
// same -rows give the same IDs whatever the other options. -change P then
// edits P percent of the rows (every (100/P)th, spread over the whole
// sheet): their Description gets " (edited)" appended, a non-key column
// that no index covers. With -ids such a row is the same event with new
// data, which a re-import must update; without -ids its content hash
// changes, so it would be a new event beside the old one.
//
// -csv also writes the same rows as CSV, in the column order of
// spark_events, for the server floor (psql \copy).
package main

import (
	"archive/zip"
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"

	"time"
)

var header = []string{"Timestamp", "Event Type", "User Name", "Folder ID", "Folder Name",
	"Service Name", "Service Version", "Description", "IP Address", "Source"}

var eventTypes = []string{"SparkLogin", "PublishEngine", "DownloadEngine", "EditProduct",
	"AddPermission", "UpdateEngine", "ServiceActivated", "DownloadProductDocument"}

func main() {
	rows := flag.Int("rows", 100_000, "data rows")
	stringsMode := flag.String("strings", "shared", "text cells: shared or inline")
	timesMode := flag.String("times", "number", "event times: number (Excel date numbers) or text (ISO 8601)")
	out := flag.String("o", "events.xlsx", "workbook to write")
	csvOut := flag.String("csv", "", "also write the rows as CSV here")
	distinct := flag.Bool("distinct", false, "make every description unique, so the shared-strings table grows with the rows")
	ids := flag.Bool("ids", false, "write an Event ID column first")
	change := flag.Int("change", 0, "edit the description of this percentage of the rows (0-100)")
	flag.Parse()
	if *change < 0 || *change > 100 {
		log.Fatalf("-change %d: want a percentage, 0 to 100", *change)
	}
	if *stringsMode != "shared" && *stringsMode != "inline" {
		log.Fatalf("-strings %q: want shared or inline", *stringsMode)
	}
	if *timesMode != "number" && *timesMode != "text" {
		log.Fatalf("-times %q: want number or text", *timesMode)
	}
	o := options{shared: *stringsMode == "shared", numeric: *timesMode == "number", distinct: *distinct, ids: *ids, change: *change}
	if err := write(*out, *csvOut, *rows, o); err != nil {
		log.Fatal(err)
	}
}

// row is one generated event, as cell text; time is kept as a time.
type row struct {
	t      time.Time
	fields [9]string // header[1:]
}

// generator produces the same rows for the same n, whatever the options,
// but for the request number -distinct appends to each description.
type generator struct {
	rng      *rand.Rand
	start    time.Time
	distinct bool // descriptions unique per row
}

func (g *generator) row(i int, r *row) {
	// About 30 events a minute over the export's window, at millisecond
	// resolution, in time order as exports are.
	r.t = g.start.Add(time.Duration(i)*2*time.Second + time.Duration(g.rng.IntN(1000))*time.Millisecond)
	user := g.rng.IntN(500)
	folder := g.rng.IntN(200)
	service := g.rng.IntN(1000)
	typ := g.rng.IntN(len(eventTypes))
	r.fields = [9]string{
		eventTypes[typ],
		"User" + strconv.Itoa(user) + "@Example.com",
		fmt.Sprintf("%08x-5f82-49d1-8da8-d689f6ab163f", folder),
		"Folder " + strconv.Itoa(folder),
		"Service" + strconv.Itoa(service),
		strconv.Itoa(1+g.rng.IntN(3)) + "." + strconv.Itoa(g.rng.IntN(20)) + ".0",
		eventTypes[typ] + " on service Service" + strconv.Itoa(service) + " completed",
		"10.0." + strconv.Itoa(user/256) + "." + strconv.Itoa(user%256),
		[]string{"UI", "API", "SDK"}[g.rng.IntN(3)],
	}
	if g.distinct {
		r.fields[6] += ", request " + strconv.Itoa(i)
	}
}

// options are how write lays the rows out; see the package comment.
type options struct {
	shared, numeric, distinct, ids bool
	change                         int // percentage of rows edited
}

// eventID is row i's Event ID with -ids: UUID-shaped and scattered, as
// Spark's are, so a chunk's IDs are not a narrow key range.
func eventID(i int) string {
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(x>>32), uint16(x>>16), uint16(x)&0xfff, i>>36&0xfff, i&0xffffffffffff)
}

// edited reports whether row i is edited by -change pct.
func edited(i, pct int) bool {
	return pct > 0 && i*pct/100 != (i+1)*pct/100
}

func write(path, csvPath string, n int, o options) error {
	shared, numeric, distinct := o.shared, o.numeric, o.distinct
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(bufio.NewWriterSize(f, 1<<20))
	for _, p := range staticParts(shared) {
		w, err := zw.Create(p.name)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, p.body); err != nil {
			return err
		}
	}

	var cw *csv.Writer
	if csvPath != "" {
		cf, err := os.Create(csvPath)
		if err != nil {
			return err
		}
		defer cf.Close()
		bw := bufio.NewWriterSize(cf, 1<<20)
		defer bw.Flush()
		cw = csv.NewWriter(bw)
		defer cw.Flush()
	}

	sst := newStringTable()
	sw, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(sw, 1<<16)
	w.WriteString(xmlHeader + `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	text := func(ref string, s string) {
		if shared {
			fmt.Fprintf(w, `<c r="%s" t="s"><v>%d</v></c>`, ref, sst.index(s))
		} else {
			fmt.Fprintf(w, `<c r="%s" t="inlineStr"><is><t>`, ref)
			xmlEscape(w, s)
			w.WriteString(`</t></is></c>`)
		}
	}
	cols := header
	if o.ids {
		cols = append([]string{"Event ID"}, header...)
	}
	w.WriteString(`<row r="1">`)
	for c, h := range cols {
		text(cellRef(c, 1), h)
	}
	w.WriteString(`</row>`)

	g := &generator{rng: rand.New(rand.NewPCG(1, 2)), start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), distinct: distinct}
	var r row
	rec := make([]string, 14)
	for i := range n {
		g.row(i, &r)
		if edited(i, o.change) {
			r.fields[6] += " (edited)"
		}
		rn := i + 2
		fmt.Fprintf(w, `<row r="%d">`, rn)
		col, id := 0, "row-"+strconv.Itoa(i)
		if o.ids {
			id = eventID(i)
			text(cellRef(col, rn), id)
			col++
		}
		if numeric {
			fmt.Fprintf(w, `<c r="%s" s="1"><v>%s</v></c>`, cellRef(col, rn), strconv.FormatFloat(excelSerial(r.t), 'f', -1, 64))
		} else {
			text(cellRef(col, rn), r.t.Format("2006-01-02T15:04:05.000Z"))
		}
		for c, s := range r.fields {
			text(cellRef(col+c+1, rn), s)
		}
		w.WriteString(`</row>`)
		if cw != nil {
			// spark_events column order: tenant, event_id, event_time,
			// event_type, user_name, folder_id, folder_name, service_name,
			// service_version, description, ip_address, attributes,
			// first_run_id, last_run_id.
			rec = append(rec[:0], "bench", id, r.t.Format(time.RFC3339Nano))
			rec = append(rec, r.fields[:8]...)
			rec = append(rec, `{"Source":"`+r.fields[8]+`"}`, "1", "1")
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	w.WriteString(`</sheetData></worksheet>`)
	if err := w.Flush(); err != nil {
		return err
	}
	if shared {
		if err := sst.write(zw); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return nil
}

// excelSerial is t as an Excel 1900-system date number, at millisecond
// precision.
func excelSerial(t time.Time) float64 {
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	ms := t.Sub(epoch).Milliseconds()
	return float64(ms) / 86_400_000
}

func cellRef(col, row int) string {
	return string(rune('A'+col)) + strconv.Itoa(row)
}

func xmlEscape(w *bufio.Writer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '&':
			w.WriteString("&amp;")
		default:
			w.WriteByte(c)
		}
	}
}

type stringTable struct {
	idx   map[string]int
	items []string
	count int
}

func newStringTable() *stringTable { return &stringTable{idx: map[string]int{}} }

func (t *stringTable) index(s string) int {
	t.count++
	if i, ok := t.idx[s]; ok {
		return i
	}
	t.idx[s] = len(t.items)
	t.items = append(t.items, s)
	return len(t.items) - 1
}

func (t *stringTable) write(zw *zip.Writer) error {
	zf, err := zw.Create("xl/sharedStrings.xml")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(zf, 1<<16)
	fmt.Fprintf(w, xmlHeader+`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, t.count, len(t.items))
	for _, s := range t.items {
		w.WriteString("<si><t>")
		xmlEscape(w, s)
		w.WriteString("</t></si>")
	}
	w.WriteString("</sst>")
	return w.Flush()
}

type part struct{ name, body string }

// staticParts are the workbook's fixed parts. The styles part gives style 1
// a date-time format, so Excel shows the date numbers as times.
func staticParts(sharedStrings bool) []part {
	sstType, sstRel := "", ""
	if sharedStrings {
		sstType = `<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>`
		sstRel = `<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>`
	}
	return []part{
		{"[Content_Types].xml", xmlHeader + `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
			sstType + `</Types>`},
		{"_rels/.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>` +
			`</Relationships>`},
		{"xl/workbook.xml", xmlHeader + `<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			`<sheets><sheet name="Events" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", xmlHeader + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>` +
			sstRel + `</Relationships>`},
		{"xl/styles.xml", xmlHeader + `<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">` +
			`<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss.000"/></numFmts>` +
			`<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>` +
			`<fills count="1"><fill><patternFill patternType="none"/></fill></fills>` +
			`<borders count="1"><border/></borders>` +
			`<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>` +
			`<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>` +
			`<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>` +
			`</styleSheet>`},
	}
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
