package transform

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/flate"
)

// Readers Options.Reader names.
const (
	// ReaderFast reads worksheets with transform's own decoder, falling
	// back to excelize for a sheet it is not sure of. It is the default.
	ReaderFast = "fast"
	// ReaderExcelize reads every worksheet with excelize, the reference.
	ReaderExcelize = "excelize"
)

// Bounds on what a workbook may cost, beyond its size limits.
const (
	// maxInflateRatio bounds how many bytes of XML a workbook may unzip to
	// per byte of archive, beyond inflateSlack: exports unzip 7-13 times
	// (bench/gen's workbooks), while a file of empty rows or strings
	// unzips hundreds of times. Apache POI refuses at the same ratio.
	maxInflateRatio = 100
	inflateSlack    = 16 << 20
	// minSharedRefBytes is the fewest bytes of worksheet XML a reference
	// to a shared string takes (<c t="s"><v>0</v></c> is 21): a table
	// of more strings than the sheets could refer to is no export's.
	minSharedRefBytes = 16
	// maxSheetRows is Excel's row limit: a sheet that reads on past it is
	// no workbook Excel wrote or could open.
	maxSheetRows = 1 << 20
	// maxEmptyRows bounds the rows without a cell one read of a sheet
	// visits, gaps in the row numbers included: an export has none.
	maxEmptyRows = 1 << 18
)

// openZip opens the workbook's zip for the fast reader, inflating with
// klauspost/compress, which is a third faster than compress/flate here.
func openZip(r io.ReaderAt, size int64) (*zip.Reader, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser { return flate.NewReader(r) })
	return zr, nil
}

// zipEntry returns the entry excelize would read as name: its name with
// backslashes made slashes. It reports false for none, or for several.
func zipEntry(zr *zip.Reader, name string, fold bool) (*zip.File, bool) {
	var found *zip.File
	for _, f := range zr.File {
		n := strings.ReplaceAll(f.Name, `\`, "/")
		if n == name || fold && strings.EqualFold(n, name) {
			if found != nil {
				return nil, false
			}
			found = f
		}
	}
	return found, found != nil
}

type xmlRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

type xmlWorkbookSheets struct {
	Sheets []struct {
		Name string     `xml:"name,attr"`
		Attr []xml.Attr `xml:",any,attr"`
	} `xml:"sheets>sheet"`
}

const (
	relOfficeDocument = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
	relNamespace      = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
)

// sheetParts maps each sheet name to its worksheet part, resolved as
// excelize resolves it, which it does not export. Sheets it cannot map
// for certain are left out, and excelize reads them.
func sheetParts(zr *zip.Reader) map[string]string {
	var root xmlRels
	if !unmarshalPart(zr, "_rels/.rels", &root) {
		return nil
	}
	wbPath := ""
	for _, r := range root.Rels {
		if r.Type == relOfficeDocument {
			wbPath = strings.TrimPrefix(r.Target, "/")
			break
		}
	}
	if wbPath == "" {
		return nil
	}
	var wb xmlWorkbookSheets
	var rels xmlRels
	dir, base := path.Split(wbPath)
	if !unmarshalPart(zr, wbPath, &wb) || !unmarshalPart(zr, dir+"_rels/"+base+".rels", &rels) {
		return nil
	}
	parts := make(map[string]string, len(wb.Sheets))
	for i, s := range wb.Sheets {
		// excelize finds a sheet by a case-blind name: two names that
		// differ only in case are its choice to make.
		for _, o := range wb.Sheets[:i] {
			if strings.EqualFold(o.Name, s.Name) {
				return nil
			}
		}
		id := ""
		for _, a := range s.Attr {
			if a.Name.Space == relNamespace && a.Name.Local == "id" {
				id = a.Value
			}
		}
		for _, r := range rels.Rels {
			if r.ID != id || id == "" {
				continue
			}
			p := path.Clean(path.Dir(wbPath) + "/" + r.Target)
			if strings.HasPrefix(r.Target, "/") {
				p = path.Clean(r.Target)
			}
			p = strings.TrimPrefix(p, "/")
			if strings.Contains(r.Target, `\`) {
				continue
			}
			if _, ok := zipEntry(zr, p, false); ok {
				parts[s.Name] = p
			}
		}
	}
	return parts
}

// unmarshalPart decodes a small part, reporting false when it is missing,
// big or not the XML expected.
func unmarshalPart(zr *zip.Reader, name string, v any) bool {
	f, ok := zipEntry(zr, name, false)
	if !ok || f.UncompressedSize64 > 16<<20 {
		return false
	}
	rc, err := f.Open()
	if err != nil {
		return false
	}
	defer rc.Close()
	return xml.NewDecoder(rc).Decode(v) == nil
}

// structureOnly is the workbook without the parts the fast reader reads
// itself: the worksheets it reads and the shared strings. excelize opens
// this copy, so it does not unzip those to temporary files; the entries
// are copied still compressed.
func structureOnly(zr *zip.Reader, parts map[string]string) ([]byte, error) {
	skip := map[string]bool{"xl/sharedstrings.xml": true}
	for _, p := range parts {
		skip[strings.ToLower(p)] = true
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if skip[strings.ToLower(strings.ReplaceAll(f.Name, `\`, "/"))] {
			continue
		}
		if err := copyEntry(zw, f); err != nil {
			return nil, fmt.Errorf("copy %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func copyEntry(zw *zip.Writer, f *zip.File) error {
	rc, err := f.OpenRaw()
	if err != nil {
		return err
	}
	w, err := zw.CreateRaw(&f.FileHeader)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, rc)
	return err
}
