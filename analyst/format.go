package analyst

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// writeTable prints res as psql's aligned format does: a header, a rule,
// numbers right-aligned, NULL as nothing, and the row count.
func writeTable(w io.Writer, res result) error {
	cell := func(v *string) string {
		if v == nil {
			return ""
		}
		// One line per row, whatever the values hold.
		return strings.NewReplacer("\r", `\r`, "\n", `\n`, "\t", `\t`).Replace(*v)
	}
	widths := make([]int, len(res.columns))
	for i, c := range res.columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	cells := make([][]string, len(res.rows))
	for r, row := range res.rows {
		cells[r] = make([]string, len(row))
		for i, v := range row {
			cells[r][i] = cell(v)
			widths[i] = max(widths[i], utf8.RuneCountInString(cells[r][i]))
		}
	}
	bw := bufio.NewWriter(w)
	line := func(vals []string, header bool) {
		for i, v := range vals {
			if i > 0 {
				bw.WriteString(" | ")
			} else {
				bw.WriteString(" ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v))
			switch {
			case header: // centred, as psql does
				left := len(pad) / 2
				cell := pad[:left] + v + pad[left:]
				if i == len(vals)-1 {
					cell = strings.TrimRight(cell, " ")
				}
				bw.WriteString(cell)
			case isNumeric(res.oids[i]):
				bw.WriteString(pad + v)
			case i == len(vals)-1:
				bw.WriteString(v) // no trailing blanks
			default:
				bw.WriteString(v + pad)
			}
		}
		bw.WriteString("\n")
	}
	line(res.columns, true)
	for i, wd := range widths {
		if i > 0 {
			bw.WriteString("+")
		}
		bw.WriteString(strings.Repeat("-", wd+2))
	}
	bw.WriteString("\n")
	for _, row := range cells {
		line(row, false)
	}
	if len(res.rows) == 1 {
		bw.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(bw, "(%d rows)\n", len(res.rows))
	}
	return bw.Flush()
}

// writeCSV writes a header line, then one line per row; NULL is an empty
// field.
func writeCSV(w io.Writer, res result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(res.columns); err != nil {
		return err
	}
	rec := make([]string, len(res.columns))
	for _, row := range res.rows {
		for i, v := range row {
			rec[i] = ""
			if v != nil {
				rec[i] = *v
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeJSON writes an array with one object per row, keys in column order.
// Numbers, booleans, json and jsonb keep their JSON type; every other value
// is a string in PostgreSQL's text format.
func writeJSON(w io.Writer, res result) error {
	bw := bufio.NewWriter(w)
	keys := make([][]byte, len(res.columns))
	for i, c := range res.columns {
		keys[i], _ = json.Marshal(c)
	}
	bw.WriteString("[")
	for r, row := range res.rows {
		if r > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.Write(keys[i])
			bw.WriteString(": ")
			bw.Write(jsonValue(res.oids[i], v))
		}
		bw.WriteString("}")
	}
	if len(res.rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

func jsonValue(oid uint32, v *string) []byte {
	if v == nil {
		return []byte("null")
	}
	switch {
	case isNumeric(oid) && jsonNumber(*v):
		return []byte(*v)
	case oid == oidBool:
		if *v == "t" {
			return []byte("true")
		}
		return []byte("false")
	case (oid == oidJSON || oid == oidJSONB) && json.Valid([]byte(*v)):
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(*v)); err == nil {
			return b.Bytes()
		}
	}
	s, _ := json.Marshal(*v)
	return s
}
