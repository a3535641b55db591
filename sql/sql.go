// Package sql is the analyst query library: one .sql file per question about
// the Spark event log, embedded so the sparkevents binary can run them.
//
// Each file runs as written with psql, in a session whose search_path names
// the tool's schema and whose time zone is UTC:
//
//	PGOPTIONS='-c search_path=sparkevents -c timezone=UTC' psql "$DATABASE_URL" -v from=2026-01-01 -f sql/daily_active_users.sql
//
// A file starts with a comment block: the question (first paragraph), then
// "Parameters:" with one "name: description" line per parameter, then
// "Example:". Then comes one psql default per parameter, which is also the
// default the Go runner uses:
//
//	\if :{?from} \else \set from '-infinity' \endif
//
// and a single SQL statement. Parameters are used only as :'name', which psql
// expands to a quoted literal and the Go runner to a bound text parameter, so
// every use casts explicitly (:'from'::timestamptz): an uncast literal would
// be typed by its context in psql but is text when bound.
package sql

import "embed"

// FS holds the query files, named after the question they answer.
//
//go:embed *.sql
var FS embed.FS
