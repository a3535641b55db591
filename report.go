package main

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"sparkevents/analyst"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "write a self-contained HTML report (opens offline)",
		Flags: []cli.Flag{
			timeFlag("from", "30d", "SPARKEVENTS_FROM", "start"),
			timeFlag("to", "now", "SPARKEVENTS_TO", "end (exclusive)"),
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARKEVENTS_REPORT_TENANT"}, Usage: "only this tenant's events and sync health (default: every tenant)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "report.html", EnvVars: []string{"SPARKEVENTS_REPORT_OUTPUT"}, Usage: "file to write; - for stdout"},
		},
		Action: func(c *cli.Context) error {
			from, to, err := timeRange(c)
			if err != nil {
				return err
			}
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			out := c.String("output")
			if out == "-" {
				return analyst.ReportTenant(c.Context, s.p.DB(), c.String("tenant"), from, to, c.App.Writer)
			}
			// Write beside the target and rename, so a failure never
			// leaves an empty or half report where the last good one was.
			f, err := os.CreateTemp(filepath.Dir(out), ".report-*.html")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if err := analyst.ReportTenant(c.Context, s.p.DB(), c.String("tenant"), from, to, f); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Chmod(f.Name(), 0o644); err != nil {
				return err
			}
			return os.Rename(f.Name(), out)
		},
	}
}
