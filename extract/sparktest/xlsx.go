package sparktest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/xuri/excelize/v2"
)

// Title is the first row of every workbook, above a blank row and the header.
const Title = "Coherent Spark - User events"

// Headers are the fixed columns, in order; extra keys follow, sorted.
var baseHeaders = []string{"Event ID", "Timestamp", "Event Type", "User Name", "Folder ID", "Folder", "Service", "Version", "Description", "IP Address"}

// buildFiles renders a job's rows as its output files.
func (s *Server) buildFiles(created time.Time, rows []Event) ([]outFile, error) {
	stem := "coherent_events_" + created.Format("2006_01_02_T_15_04_05")
	n := s.opts.Files
	if s.opts.Dialect.oneFile() {
		n = 1 // one download_url per job
	}
	if len(rows) == 0 && s.opts.Dialect.EmptyWindow == "nofile" {
		return nil, nil
	}
	parts := split(rows, n)
	files := make([]outFile, 0, len(parts))
	for i, part := range parts {
		name := stem
		if len(parts) > 1 {
			name += fmt.Sprintf("_%d", i+1)
		}
		if s.opts.Format == "zip" {
			data, err := s.zipOf(name, part)
			if err != nil {
				return nil, err
			}
			files = append(files, outFile{name: name + ".zip", data: data})
			continue
		}
		data, err := s.Workbook(part)
		if err != nil {
			return nil, err
		}
		files = append(files, outFile{name: name + ".xlsx", data: data})
	}
	return files, nil
}

// zipOf packs rows as a ZIP of workbooks: two when there are two rows or more.
func (s *Server) zipOf(stem string, rows []Event) ([]byte, error) {
	n := 1
	if len(rows) >= 2 {
		n = 2
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, part := range split(rows, n) {
		data, err := s.Workbook(part)
		if err != nil {
			return nil, err
		}
		w, err := zw.Create(fmt.Sprintf("%s_part%d.xlsx", stem, i+1))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// split cuts rows into n nearly equal consecutive parts; it always returns at
// least one part, and no empty part unless rows is empty.
func split(rows []Event, n int) [][]Event {
	n = max(1, min(n, len(rows)))
	parts := make([][]Event, 0, n)
	for i := range n {
		parts = append(parts, rows[i*len(rows)/n:(i+1)*len(rows)/n])
	}
	return parts
}

// Workbook renders events as an XLSX the way the emulator serves it, in the
// server's Options: title row, blank row, header row, one row per event;
// no rows at all for no events under Dialect.EmptyWindow "blank".
func (s *Server) Workbook(events []Event) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Events"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	epoch := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if s.opts.Date1904 {
		on := true
		if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &on}); err != nil {
			return nil, err
		}
		epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	numFmt := "yyyy-mm-dd hh:mm:ss.000"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &numFmt})
	if err != nil {
		return nil, err
	}

	var extra []string
	for _, e := range events {
		for k := range e.Extra {
			if !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	if len(events) == 0 && s.opts.Dialect.EmptyWindow == "blank" {
		// Not even a title or header: the sheet exists and is empty.
		buf, err := f.WriteToBuffer()
		if err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	headers := baseHeaders
	if s.opts.NoIDColumn {
		headers = headers[1:]
	}
	headers = append(slices.Clone(headers), extra...)

	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	if err := sw.SetRow("A1", []any{Title}); err != nil {
		return nil, err
	}
	if err := sw.SetRow("A3", toAny(headers)); err != nil {
		return nil, err
	}
	for i, e := range events {
		var when any = e.Time.UTC().Format("2006-01-02T15:04:05.000Z")
		if s.opts.NumericTimes {
			// Exact to the millisecond, unlike float seconds of time.Sub.
			serial := float64(e.Time.Sub(epoch).Milliseconds()) / 86400000
			when = excelize.Cell{StyleID: dateStyle, Value: serial}
		}
		row := []any{}
		if !s.opts.NoIDColumn {
			row = append(row, e.ID)
		}
		row = append(row, when, e.Type, e.User, e.FolderID, e.Folder, e.Service, e.Version, e.Description, e.IP)
		for _, k := range extra {
			row = append(row, e.Extra[k])
		}
		cell, err := excelize.CoordinatesToCellName(1, i+4)
		if err != nil {
			return nil, err
		}
		if err := sw.SetRow(cell, row); err != nil {
			return nil, err
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	if s.opts.ParametersSheet {
		const params = "Filters"
		if _, err := f.NewSheet(params); err != nil {
			return nil, err
		}
		for i, row := range [][]any{{"Export parameters"}, {"Exported by", "ann@example.com"}, {"Event types", "All"}} {
			if err := f.SetSheetRow(params, fmt.Sprintf("A%d", i+1), &row); err != nil {
				return nil, err
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
