package transform

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sheetResult is what one reader made of one sheet: its rows' cells and
// whether the read failed.
type sheetResult struct {
	rows [][]string
	err  error
}

// readCells reads every sheet of the workbook at path with reader, as the
// rows' cells and the iteration's error, the way Read iterates them.
func readCells(path, reader string) (map[string]sheetResult, int, error) {
	w, err := OpenFile(path, Options{Reader: reader})
	if err != nil {
		return nil, 0, err
	}
	defer w.Close()
	out := map[string]sheetResult{}
	for _, sheet := range w.f.GetSheetList() {
		var res sheetResult
		rows, err := w.rows(sheet)
		if err != nil {
			out[sheet] = sheetResult{err: err}
			continue
		}
		n := 0
		for rows.Next() {
			n++
			cells, err := rows.Columns()
			if err != nil {
				res.err = err
				break
			}
			res.rows = append(res.rows, cells)
		}
		if res.err == nil {
			res.err = rows.checkEnd(sheet, n)
		}
		if res.err == nil {
			res.err = rows.Error()
		}
		rows.Close()
		out[sheet] = res
	}
	return out, w.fallbacks, nil
}

// compareReaders reads path with both readers and reports where they
// differ, or nil; fallbacks is how many sheet reads the fast reader left
// to excelize.
func compareReaders(path string) (fallbacks int, err error) {
	ref, _, refErr := readCells(path, ReaderExcelize)
	fast, fallbacks, fastErr := readCells(path, ReaderFast)
	if (refErr == nil) != (fastErr == nil) {
		return fallbacks, fmt.Errorf("open: excelize %v, fast %v", refErr, fastErr)
	}
	for sheet, r := range ref {
		f := fast[sheet]
		if (r.err == nil) != (f.err == nil) || errors.Is(r.err, ErrMalformed) != errors.Is(f.err, ErrMalformed) {
			return fallbacks, fmt.Errorf("sheet %q: excelize error %v, fast %v", sheet, r.err, f.err)
		}
		if len(r.rows) != len(f.rows) {
			return fallbacks, fmt.Errorf("sheet %q: excelize %d rows, fast %d", sheet, len(r.rows), len(f.rows))
		}
		for i := range r.rows {
			if !slices.Equal(r.rows[i], f.rows[i]) {
				return fallbacks, fmt.Errorf("sheet %q row %d: excelize %q, fast %q", sheet, i+1, r.rows[i], f.rows[i])
			}
		}
	}
	return fallbacks, nil
}

func TestReadersAgreeBig(t *testing.T) {
	path := writeBigBook(t, 2000)
	if _, err := compareReaders(path); err != nil {
		t.Error(err)
	}
}

// edgeParts are a workbook written by hand, part by part, holding what a
// worksheet may: the sheet is edgeSheet unless a test gives another.
var edgeParts = map[string]string{
	"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
	"_rels/.rels": `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
	"xl/workbook.xml": `<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Events" sheetId="1" r:id="rId1"/><sheet name="Prefixed" sheetId="2" r:id="rId2"/></sheets></workbook>`,
	"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet2.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
	"xl/sharedStrings.xml": "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" +
		`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="8" uniqueCount="8">` +
		`<si><t>Timestamp</t></si><si><t xml:space="preserve"> Event Type </t></si>` +
		`<si><r><rPr><b/><sz val="11"/></rPr><t>Spark</t></r><r><t xml:space="preserve">Login</t></r></si>` +
		`<si><t>first</t><t>last wins</t></si>` +
		`<si><t>ruby</t><rPh sb="0" eb="1"><t>ルビ</t></rPh><phoneticPr fontId="1"/></si>` +
		"<si><t>line_x000D_\r\nbreak &amp; &lt;tag&gt; &#x1F600; &#233;</t></si>" +
		`<si><t><![CDATA[<cdata> & more]]><!-- a comment --></t></si>` +
		`<si/></sst>`,
	"xl/worksheets/sheet1.xml": edgeSheet,
	"xl/worksheets/sheet2.xml": `<?xml version="1.0" encoding="UTF-8"?>
<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
		`<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c></x:row>` +
		`<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>2026-01-02T03:04:05Z</x:t></x:is></x:c><x:c r="B2" t="s"><x:v>2</x:v></x:c></x:row>` +
		`</x:sheetData></x:worksheet>`,
}

const edgeSheet = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><dimension ref="A1:F9"/><sheetViews><sheetView workbookViewId="0"/></sheetViews><cols><col min="1" max="2" width="20" customWidth="1"/></cols>
<sheetData>
<row r="1" spans="1:6"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v> 1 </v></c><c r="C1" t="inlineStr"><is><t>Note</t></is></c></row>
<row r="2"><c r="A2"><v>45000.5</v></c><c r="B2" t="s"><v>2</v></c><c r="C2" t="s"><v>3</v></c><c r="D2" t="s"><v>4</v></c><c r="E2" t="s"><v>5</v></c></row>
<row r="4"><c r="A4" t="str"><v>2026-01-02 03:04:05</v></c><c t="s"><v>6</v></c><c t="s"><v>x</v></c><c t="s"><v>99</v></c><c t="s"><v>-1</v></c><c t="s"><v>7</v></c></row>
<row><c r="A5" t="inlineStr"><is><r><t>rich</t></r><r><rPr><i/></rPr><t xml:space="preserve"> run</t></r><t>plain</t></is></c><c r="C5" t="b"><v>1</v></c><c r="E5" t="e"><v>#N/A</v></c><c r="F5"><f>SUM(1,2)</f></c><c r="G5" s="3"/><c r="H5"/></row>
<row r="6"><c r="A6" t="d"><v>2026-01-02T03:04:05Z</v></c><c r="B6" t="n"><v>1.5E-3</v></c><c r="C6"><f>NOW()</f><v></v></c><c r="D6" t="inlineStr"><is><t>_x0041__x005F_x_xD800_&#xD;_xZZZZ_</t></is></c></row>
<!-- a comment between rows -->
<row r="8"><c r="B8" t="inlineStr"><is><t>tab&#9;and&#10;newline</t></is></c><c r="C8"><v>1</v><v>2</v></c><c r="D8" t="inlineStr"><is><t>a</t></is></c><c r="AB8"><v>far</v></c></row>
<row r="9"/>
<row r="10"><c r="A10" t="inlineStr"><is><t/></is></c><c r="B10" t="inlineStr"/><c r="C10" t="inlineStr"><v>v of inline</v></c></row>
</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`

// writeParts writes a workbook of parts, with sheet as its first sheet.
func writeParts(t testing.TB, dir, sheet string) string {
	t.Helper()
	path := filepath.Join(dir, "edge.xlsx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	names := slices.Sorted(maps.Keys(edgeParts))
	for _, name := range names {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		body := edgeParts[name]
		if name == "xl/worksheets/sheet1.xml" {
			body = sheet
		}
		if _, err := io.WriteString(w, body); err != nil {
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

func TestReadersAgreeEdgeWorkbook(t *testing.T) {
	path := writeParts(t, t.TempDir(), edgeSheet)
	fallbacks, err := compareReaders(path)
	if err != nil {
		t.Fatal(err)
	}
	// All of it is plain XML the fast reader reads itself.
	if fallbacks != 0 {
		t.Errorf("the fast reader left %d sheet reads to excelize", fallbacks)
	}
	// And through Read, events and rejects alike.
	readBook(t, path, Options{})
}

// FuzzSheetReaders mutates the edge workbook's sheet: the fast reader
// must read it as excelize does, or leave it to excelize.
func FuzzSheetReaders(f *testing.F) {
	f.Add(edgeSheet)
	f.Add(edgeParts["xl/worksheets/sheet2.xml"])
	f.Add(strings.Replace(edgeSheet, "</sheetData>", "", 1))
	f.Add(strings.Replace(edgeSheet, "Note", "No\x01te", 1))
	f.Add(strings.Replace(edgeSheet, "&amp;", "&nbsp;", 1))
	f.Add(strings.Replace(edgeSheet, `<row r="4">`, `<row r="3000000">`, 1))
	f.Add(strings.Replace(edgeSheet, `<row r="8">`, `<row r="2">`, 1))
	f.Add(strings.Replace(edgeSheet, `</row>`, `</row><c r="Z1"><v>stray</v></c>`, 1))
	f.Add(strings.Replace(edgeSheet, `s="3"`, `s="x"`, 1))
	f.Add(edgeSheet[:len(edgeSheet)/2])
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, sheet string) {
		path := writeParts(t, dir, sheet)
		if _, err := compareReaders(path); err != nil {
			t.Fatalf("%v\nsheet: %q", err, sheet)
		}
	})
}
