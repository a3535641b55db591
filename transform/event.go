// Package transform turns Spark event workbooks (XLSX) into normalized, typed
// event records, streaming rows so memory does not grow with the file. Rows
// that cannot become an event are returned as rejects with a reason.
package transform

import (
	"encoding/json"
	"time"
)

// Event is one normalized Spark user event: the record every other step of
// the pipeline shares.
type Event struct {
	Tenant  string
	EventID string // the workbook's ID, or a stable content hash when it has none
	// HashedID reports that EventID is the content hash: it includes
	// EventTime, so two events with the same hashed ID have the same time.
	HashedID       bool
	EventTime      time.Time
	EventType      string
	UserName       string
	FolderID       string
	FolderName     string
	ServiceName    string
	ServiceVersion string
	Description    string
	IPAddress      string
	// Attributes is a JSON object of every workbook column that maps to no
	// field, keyed by its header; nil when there are none.
	Attributes json.RawMessage
}

// Reject is a workbook row that could not become an Event.
type Reject struct {
	Sheet  string
	Row    int             // 1-based row number in the sheet, as Excel shows it
	Raw    json.RawMessage // the row as a JSON object keyed by header
	Reason string          // names the column and the value at fault
	// NoHeader marks a row of a sheet without an event header row, beside
	// a sheet with one: it may be an event under headers Read does not
	// know, or a pivot, a note, the export's parameters. Such rows are
	// handed over so they are kept, but they count in Stats.HeaderlessRows,
	// not in Rows or Rejects, so that a sheet Spark adds to every export
	// neither fails a reject limit nor passes for a window of bad rows.
	NoHeader bool
}
