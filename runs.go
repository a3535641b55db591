package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func runsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list recent runs, newest first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "only this tenant's runs (SPARK_TENANT sets it too: --tenant '' shows every tenant's)"},
			&cli.IntFlag{Name: "limit", Value: 20, EnvVars: []string{"SPARKEVENTS_RUNS_LIMIT"}, Usage: "how many runs, newest first; 0 for all"},
			&cli.StringFlag{Name: "format", Value: "table", EnvVars: []string{"SPARKEVENTS_FORMAT"}, Usage: "table, json or csv"},
			configFlag(),
		},
		Action: runsAction,
	}
}

// runsAction lists runs as a table, JSON or CSV.
func runsAction(c *cli.Context) error {
	format := c.String("format")
	if !slices.Contains([]string{"table", "json", "csv"}, format) {
		return usageErr("unknown --format %q: table, json or csv", format)
	}
	names, err := fileTenants(c)
	if err != nil {
		return err
	}
	s, err := open(c, false)
	if err != nil {
		return err
	}
	defer s.p.Close()
	runs, err := s.p.RunsOf(c.Context, names, c.Int("limit"))
	if err != nil {
		return err
	}
	switch format {
	case "json":
		return writeRunsJSON(c.App.Writer, runs)
	case "csv":
		return writeRunsCSV(c.App.Writer, runs)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tTENANT\tSTATUS\tSTARTED\tSECONDS\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tSOURCE\tERROR")
	for _, r := range runs {
		secs := "-"
		if r.FinishedAt != nil {
			secs = fmt.Sprintf("%.1f", r.FinishedAt.Sub(r.StartedAt).Seconds())
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Kind, r.Tenant, r.Status,
			fmtTime(r.StartedAt), secs, r.Counts.Read, r.Counts.Inserted, r.Counts.Updated, r.Counts.Unchanged,
			r.Counts.Rejected, r.Source, firstLine(r.Error))
	}
	return tw.Flush()
}

// runRecordJSON is one run of runs --format json. Field names are an
// interface: add fields, do not rename them.
type runRecordJSON struct {
	ID          int64      `json:"run_id"`
	Kind        string     `json:"kind"`
	Tenant      string     `json:"tenant"`
	Status      string     `json:"status"`
	Source      string     `json:"source"`
	WindowStart *time.Time `json:"window_start"`
	WindowEnd   *time.Time `json:"window_end"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Read        int64      `json:"rows_read"`
	Inserted    int64      `json:"rows_inserted"`
	Updated     int64      `json:"rows_updated"`
	Unchanged   int64      `json:"rows_unchanged"`
	Rejected    int64      `json:"rows_rejected"`
	Error       string     `json:"error,omitempty"`
}

func writeRunsJSON(w io.Writer, runs []pipeline.RunInfo) error {
	out := make([]runRecordJSON, len(runs))
	for i, r := range runs {
		out[i] = runRecordJSON{ID: r.ID, Kind: r.Kind, Tenant: r.Tenant, Status: r.Status, Source: r.Source,
			WindowStart: utcPtr(r.WindowStart), WindowEnd: utcPtr(r.WindowEnd), StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt),
			Read: r.Counts.Read, Inserted: r.Counts.Inserted, Updated: r.Counts.Updated, Unchanged: r.Counts.Unchanged, Rejected: r.Counts.Rejected, Error: r.Error}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeRunsCSV writes the runs with a header row; the columns are those of
// runs --format json, absent times empty.
func writeRunsCSV(w io.Writer, runs []pipeline.RunInfo) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"run_id", "kind", "tenant", "status", "source", "window_start", "window_end", "started_at", "finished_at",
		"rows_read", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected", "error"})
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range runs {
		cw.Write([]string{n(r.ID), r.Kind, r.Tenant, r.Status, r.Source, t(r.WindowStart), t(r.WindowEnd), t(&r.StartedAt), t(r.FinishedAt),
			n(r.Counts.Read), n(r.Counts.Inserted), n(r.Counts.Updated), n(r.Counts.Unchanged), n(r.Counts.Rejected), r.Error})
	}
	cw.Flush()
	return cw.Error()
}
