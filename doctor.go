package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check the database, the token, the tenant and one tiny export end to end, before a first sync",
		Description: `Runs what a sync needs, in order, and says for each step what was found and
what to do when it failed:

   database   reachable, schema migrated
   token      a static token, or client credentials at the token URL
   tenant     Spark takes an export job for --tenant at --spark-url
   export     the job finishes (polled until --job-timeout)
   download   from which host, XLSX or ZIP, how long
   header     which column maps to which field, which are kept as attributes
   times      sub-second or not, and inside the window asked for (else a zone)
   page size  whether Spark stops at the page size asked for
   filters    which form of event_types Spark takes

The export covers the last --window (default 24h) with a page size of 2.
What doctor learns of the tenant's Spark is stored (unless --dry-run), so the
first sync uses it. Exit 0 only when a sync would work; otherwise the code of
the first failed step (5 Spark, 6 database, 4 workbook, 2 usage).

   sparkevents doctor                    # with SPARK_URL, SPARK_TENANT, a token, DATABASE_URL set
   sparkevents doctor --format json      # for scripts
   sparkevents doctor --config tenants.yaml   # each tenant of the file in turn`,
		Flags: flags(sparkFlags(), parseFlags(), []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", EnvVars: []string{"SPARKEVENTS_FORMAT"}, Usage: "table or json"},
			configFlag(),
		}),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "table" && format != "json" {
				return usageErr("unknown --format %q: table or json", format)
			}
			targets, err := syncTargets(c, "doctor")
			if err != nil {
				return err
			}
			s, err := newSession(c)
			if err != nil {
				return err
			}
			dbURL, err := databaseURL(c)
			if err != nil {
				return err
			}
			cfg := pipeline.Config{DatabaseURL: dbURL, Schema: c.String("schema"), Logger: s.log}
			// A database that cannot be reached is one failed check: the
			// Spark checks still run.
			p, err := pipeline.Open(c.Context, cfg)
			if err != nil {
				s.log.Warn("database unreachable", "err", err)
				p = pipeline.Offline(cfg)
			}
			defer p.Close()
			if c.String("config") != "" {
				return doctorTenants(c, p, targets, format)
			}
			o := targets[0]
			o.Now = time.Now
			checks := p.Doctor(c.Context, o)
			if format == "json" {
				err = writeDoctorJSON(c.App.Writer, checks)
			} else {
				err = writeDoctor(c.App.Writer, checks)
			}
			if err != nil {
				return err
			}
			if err := pipeline.FirstFailure(checks); err != nil {
				return fmt.Errorf("doctor: %w", err)
			}
			return nil
		},
	}
}

// doctorTenants runs doctor for each tenant of --config in turn, under a
// heading of its name (in JSON, an array of reports with a tenant each),
// and fails with the highest exit code of the tenants that fail.
func doctorTenants(c *cli.Context, p *pipeline.Pipeline, targets []pipeline.SyncOptions, format string) error {
	type report struct {
		Tenant string           `json:"tenant"`
		OK     bool             `json:"ok"`
		Checks []pipeline.Check `json:"checks"`
	}
	var (
		reports []report
		worst   error
		code    int
		failed  []string
	)
	for i, o := range targets {
		o.Now = time.Now
		checks := p.Doctor(c.Context, o)
		err := pipeline.FirstFailure(checks)
		reports = append(reports, report{o.Tenant, err == nil, checks})
		if format != "json" {
			if i > 0 {
				fmt.Fprintln(c.App.Writer)
			}
			fmt.Fprintf(c.App.Writer, "tenant %s\n", o.Tenant)
			if err := writeDoctor(c.App.Writer, checks); err != nil {
				return err
			}
		}
		if err != nil {
			failed = append(failed, o.Tenant)
			if k := exitCode(c.Context, err); k > code {
				code, worst = k, err
			}
		}
	}
	if format == "json" {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	}
	if worst != nil {
		return fmt.Errorf("doctor: %d of %d tenants would fail (%s): %w", len(failed), len(targets), strings.Join(failed, ", "), worst)
	}
	return nil
}

// writeDoctor prints the checklist, one step a line, with what to do under
// a failed one.
func writeDoctor(w io.Writer, checks []pipeline.Check) error {
	for _, c := range checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		if _, err := fmt.Fprintf(w, "%s %-10s %s\n", mark, c.Name, c.Detail); err != nil {
			return err
		}
		if !c.OK && c.Fix != "" {
			fmt.Fprintf(w, "     %-10s -> %s\n", "", c.Fix)
		}
	}
	if err := pipeline.FirstFailure(checks); err != nil {
		_, err := fmt.Fprintln(w, "a sync would fail: fix the first FAIL above and run doctor again")
		return err
	}
	_, err := fmt.Fprintln(w, "a sync would work")
	return err
}

func writeDoctorJSON(w io.Writer, checks []pipeline.Check) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool             `json:"ok"`
		Checks []pipeline.Check `json:"checks"`
	}{pipeline.FirstFailure(checks) == nil, checks})
}
