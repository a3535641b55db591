// Package migrations holds the goose SQL migrations of the sparkevents
// schema, embedded so the binary can migrate a database on its own.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
