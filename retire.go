package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func retireCommand() *cli.Command {
	return &cli.Command{
		Name:  "retire",
		Usage: "forget a tenant: its watermark, runs, rejects and what was learned of its Spark (with --events, its events)",
		Description: `A tenant that is gone, or a name mistyped once (SPARK_TENANT=nope sync), keeps
its runs, and status --max-lag goes on failing for it. retire forgets it.
It only counts what it would delete unless given --yes; its events stay
unless given --events. It waits for no sync: a tenant whose sync is running
exits 3. What it deleted is logged (at warn).

   sparkevents retire --tenant nope           # what would go
   sparkevents retire --tenant nope --yes     # forget it
   sparkevents retire --tenant old --events --yes`,
		Flags: []cli.Flag{
			// Not SPARK_TENANT: a tenant is forgotten only when named, never
			// because a cron sync's env file names it. The variables are
			// retire's own.
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARKEVENTS_RETIRE_TENANT"}, Usage: "the tenant to forget (required)"},
			&cli.BoolFlag{Name: "events", EnvVars: []string{"SPARKEVENTS_RETIRE_EVENTS"}, Usage: "delete its events too"},
			&cli.BoolFlag{Name: "yes", Usage: "delete; without it, only count (no environment variable: each deletion is confirmed on its own)"},
		},
		Action: func(c *cli.Context) error {
			tenant := c.String("tenant")
			if tenant == "" {
				return usageErr("retire needs --tenant: the tenant to forget")
			}
			s, err := open(c, true)
			if err != nil {
				return err
			}
			defer s.p.Close()
			r, err := s.p.Retire(c.Context, tenant, c.Bool("events"), c.Bool("yes"))
			if err != nil {
				return err
			}
			verb := "would delete"
			if r.Applied {
				verb = "deleted"
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "tenant %s: %s\t\n", tenant, verb)
			for _, row := range []struct {
				what string
				n    int64
			}{{"watermark", r.Watermarks}, {"runs", r.Runs}, {"rejects", r.Rejects}, {"spark profile", r.Profiles}, {"events", r.Events}, {"rollup rows kept past their events", r.RollupRows}} {
				fmt.Fprintf(tw, "%d\t %s\n", row.n, row.what)
			}
			tw.Flush()
			switch {
			case r.EventsKept > 0:
				fmt.Fprintf(c.App.Writer, "its %d events stay (--events deletes them)\n", r.EventsKept)
			}
			if !r.Applied {
				fmt.Fprintln(c.App.Writer, "dry run: nothing deleted; run again with --yes to delete")
			}
			return nil
		},
	}
}
