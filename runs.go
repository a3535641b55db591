package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func runsCommand() *cli.Command {
	return &cli.Command{
		Name:  "runs",
		Usage: "list recent runs, newest first",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "only this tenant's runs (SPARK_TENANT sets it too: --tenant '' shows every tenant's)"},
			&cli.IntFlag{Name: "limit", Value: 20, EnvVars: []string{"SPARKEVENTS_RUNS_LIMIT"}, Usage: "how many runs, newest first; 0 for all"},
		},
		Action: func(c *cli.Context) error {
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			runs, err := s.p.Runs(c.Context, c.String("tenant"), c.Int("limit"))
			if err != nil {
				return err
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
		},
	}
}
