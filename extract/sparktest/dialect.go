package sparktest

import "fmt"

// Dialect makes the emulator strict where Spark's documentation disagrees
// with itself (spark-events-api.md, section 4), so that a test can catch a
// client that speaks only one of the plausible forms. The zero Dialect is
// lenient: it reads both spellings of every key, as the emulator always did.
type Dialect struct {
	Name string // a label for tests, e.g. "seed-sample"

	// PageSizeKey is the only page size key read: "pageSize", "page_size",
	// or "none" (neither: only Options.PageSize, the hidden cap, limits
	// the rows). "" reads pageSize, else page_size.
	PageSizeKey string
	// FolderColumn is the folder search column: "folderId" or "folder_id".
	// Set, it makes every search column outside the documented list,
	// the other folder spelling included, a 400 "unknown search column".
	// "" accepts both spellings.
	FolderColumn string
	// EventTypes is the only form of the event_types value accepted:
	// "array" (a JSON array) or "string" (a JSON-encoded string holding
	// one, as Spark's sample sends it); the other form is a 400. "" accepts
	// both.
	EventTypes string
	// Status is the shape of a status answer: "files" (default: Spark's
	// sample, outputs.files[].file), "download_url" (a top-level
	// download_url, as the prose of Spark's page says; one file per job),
	// or "response_data" (the SDKs' history download job: a top-level
	// "status":"Success" for the call, and response_data {job_id, status,
	// progress 0-100, download_url}; one file per job).
	Status string
	// ErrorKey is where a failed job (Faults.FailJobs) puts its message:
	// "error" (default: a string, with status "Failed") or "errors" (an
	// array of {"message": ...} objects, with status "completed" and no
	// file, as the ImpEx results of Spark's SDKs report).
	ErrorKey string
	// EmptyWindow is the answer for a job without rows: "header" (default:
	// a workbook with the title and header rows only), "blank" (a workbook
	// whose sheet is entirely blank, not even a header), or "nofile"
	// (Success listing no file).
	EmptyWindow string
	// SecretPaths serves files at
	// {FileURL}/docstore/api/v1/documents/versions/tokens/{secret}/{file},
	// where the secret path segment is the credential the file host checks
	// (a wrong or missing one is a 403), as entitystore links are.
	SecretPaths bool
}

// Dialects returns the plausible dialects of a real tenant, one per
// combination worth testing, so that a test can run against every one.
// Each is strict in every topic.
func Dialects() []Dialect {
	return []Dialect{
		// Everything as Spark's sample request and answer show it.
		{Name: "seed-sample", PageSizeKey: "page_size", FolderColumn: "folder_id", EventTypes: "string", Status: "files", ErrorKey: "error", EmptyWindow: "header"},
		// Everything as the table and prose of Spark's page say it.
		{Name: "seed-table", PageSizeKey: "pageSize", FolderColumn: "folderId", EventTypes: "array", Status: "download_url", ErrorKey: "error", EmptyWindow: "blank"},
		// The SDKs' history download job: response_data, progress, errors.
		{Name: "sdk-response-data", PageSizeKey: "pageSize", FolderColumn: "folderId", EventTypes: "array", Status: "response_data", ErrorKey: "errors", EmptyWindow: "nofile"},
		// File links on entitystore whose path holds a credential, and a
		// server that reads no page size at all.
		{Name: "entitystore-links", PageSizeKey: "none", FolderColumn: "folder_id", EventTypes: "string", Status: "files", ErrorKey: "errors", EmptyWindow: "blank", SecretPaths: true},
		// The sample's body, answered as the SDKs' jobs answer.
		{Name: "sample-body-sdk-answer", PageSizeKey: "page_size", FolderColumn: "folder_id", EventTypes: "string", Status: "response_data", ErrorKey: "error", EmptyWindow: "header", SecretPaths: true},
		// The table's body, answered as the sample answers.
		{Name: "table-body-sample-answer", PageSizeKey: "pageSize", FolderColumn: "folderId", EventTypes: "array", Status: "files", ErrorKey: "errors", EmptyWindow: "header"},
	}
}

// check panics on a value no field knows: a typo in a test would
// otherwise make a lenient emulator pass for a strict one.
func (d Dialect) check() {
	for _, f := range []struct {
		name, v string
		ok      []string
	}{
		{"PageSizeKey", d.PageSizeKey, []string{"", "pageSize", "page_size", "none"}},
		{"FolderColumn", d.FolderColumn, []string{"", "folderId", "folder_id"}},
		{"EventTypes", d.EventTypes, []string{"", "array", "string"}},
		{"Status", d.Status, []string{"", "files", "download_url", "response_data"}},
		{"ErrorKey", d.ErrorKey, []string{"", "error", "errors"}},
		{"EmptyWindow", d.EmptyWindow, []string{"", "header", "blank", "nofile"}},
	} {
		known := false
		for _, v := range f.ok {
			known = known || v == f.v
		}
		if !known {
			panic(fmt.Sprintf("sparktest: Dialect.%s %q is none of %q", f.name, f.v, f.ok))
		}
	}
}

// oneFile reports whether a job's answer can name one file only.
func (d Dialect) oneFile() bool { return d.Status == "download_url" || d.Status == "response_data" }
