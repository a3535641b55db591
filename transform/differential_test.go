package transform

import (
	"errors"
	"fmt"
	"slices"
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
