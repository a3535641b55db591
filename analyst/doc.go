// Package analyst runs the analyst query library, grants BI read access, and
// renders the HTML report.
//
// The query library is package sparkevents/sql: one file per question, each
// runnable with psql as written. RunQuery runs the same files through pgx,
// turning their psql variables into bound parameters, inside a read-only
// transaction in UTC, so the answers match what psql prints.
//
// GrantReader gives a BI role (Metabase, Grafana, Superset, psql) read access
// to the tool's schema and nothing more. Report renders one self-contained
// HTML file, with inline SVG charts and no external resource, that opens
// offline.
//
// To look at a rendered report, this writes a screenshot of it taken by
// headless Chromium (Debian package chromium) from a generated dataset:
//
//	REPORT_SCREENSHOT=/tmp/report.png go test ./analyst -run TestReportInChromium
package analyst
