package main

import (
	"github.com/urfave/cli/v2"
)

func backfillCommand() *cli.Command {
	return &cli.Command{
		Name:  "backfill",
		Usage: "export and load a past range of events, leaving the watermark alone",
		Description: `Runs the same windows as sync over [--from, --to). Events already stored are
left unchanged, so a backfill over loaded history is safe and cheap. Windows
commit one by one, in order: a backfill that fails or is interrupted keeps
the windows before the one that failed, and its error gives the --from to go
on from.

   sparkevents backfill --from 2025-01-01 --to 2025-07-01 --parallel 4

--event-type, --user, --service and --folder-id narrow the export; only a
backfill takes them, since a sync moves the tenant's watermark past what a
filter would leave out.`,
		Flags: flags(sparkFlags(), filterFlags(), parseFlags(), []cli.Flag{
			timeFlag("from", "", "SPARKEVENTS_FROM", "start of the range (required)"),
			timeFlag("to", "now", "SPARKEVENTS_TO", "end of the range (exclusive)"),
		}),
		Action: func(c *cli.Context) error {
			o, err := syncOptions(c)
			if err != nil {
				return err
			}
			if err := o.Check("backfill"); err != nil {
				return err
			}
			from, to, err := timeRange(c)
			if err != nil {
				return err
			}
			s, err := open(c, !o.DryRun)
			if err != nil {
				return err
			}
			defer s.p.Close()
			sum, err := s.p.Backfill(c.Context, o, from, to)
			if err == nil || sum.Windows > 0 {
				printSummary(c.App.Writer, "backfill", o, sum)
			}
			return err
		},
	}
}
