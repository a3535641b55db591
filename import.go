package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "load local event workbooks (.xlsx, or the .zip the Event viewer downloads)",
		ArgsUsage: "FILE...",
		Description: `Each file loads in one transaction: all its good rows, or nothing. Bad rows
are kept in etl_rejects with the reason. Importing a file again changes nothing.

   sparkevents import --tenant mytenant coherent_events_2026_03_03.xlsx
   sparkevents import --tenant mytenant --column event_time="When (UTC)" export.zip`,
		Flags: flags([]cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "tenant the events belong to (required)"},
		}, parseFlags()),
		Action: func(c *cli.Context) error {
			paths, err := positional(c, "FILE...")
			if err != nil {
				return err
			}
			if len(paths) == 0 {
				return usageErr("import needs at least one FILE")
			}
			if c.String("tenant") == "" {
				return usageErr("import needs --tenant (or SPARK_TENANT): the tenant the events belong to")
			}
			// A dry run only parses: it needs no database.
			s, err := openMaybeOffline(c, c.Bool("dry-run"))
			if err != nil {
				return err
			}
			defer s.p.Close()
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "FILE\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tRUN\t")
			err = s.p.Import(c.Context, pipeline.ImportOptions{
				Tenant: c.String("tenant"),
				Parse:  parseOptions(c),
				DryRun: c.Bool("dry-run"),
			}, paths, func(r pipeline.FileResult) {
				status := fmt.Sprint(r.RunID)
				switch {
				case r.Err != nil:
					status = "failed"
				case c.Bool("dry-run"):
					status = "dry run" // parsed only: nothing was written
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.Path, r.Counts.Read, r.Counts.Inserted,
					r.Counts.Updated, r.Counts.Unchanged, r.Counts.Rejected, status)
			})
			tw.Flush()
			return err
		},
	}
}
