package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func forgetCommand() *cli.Command {
	return &cli.Command{
		Name:  "forget",
		Usage: "erase one person's events, rejected rows and rollup entries (or replace their address by a pseudonym)",
		Description: `forget answers an erasure request (GDPR article 17): in one transaction it
deletes the person's events and their rows of the rollups (those of days a
prune kept too), deletes the rejected rows that hold their address, and
replaces the address by [erased] where other events' descriptions, folders
or attributes, or runs' errors, name it. With --pseudonymize their data
stay under a pseudonym instead: the address's HMAC under the key of
--hmac-key-file, as loads with that key store it. Each tenant touched gets
an audit row in etl_runs (kind forget) with counts and --reference, never
the address. It only counts unless given --yes. It waits for loads of the
tenants to finish. A later sync stores the person's events again if Spark
still has them: see the README, Privacy.

   sparkevents forget --user ana@example.com                     # what would go
   sparkevents forget --user ana@example.com --reference DSR-42 --yes
   sparkevents forget --user ana@example.com --pseudonymize --yes`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", EnvVars: []string{"SPARKEVENTS_FORGET_USER"}, Usage: "the person's e-mail address (required)"},
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARKEVENTS_FORGET_TENANT"}, Usage: "only this tenant (default: every tenant)"},
			&cli.BoolFlag{Name: "pseudonymize", EnvVars: []string{"SPARKEVENTS_FORGET_PSEUDONYMIZE"}, Usage: "replace the address by its HMAC (needs --hmac-key-file) instead of erasing"},
			&cli.StringFlag{Name: "reference", EnvVars: []string{"SPARKEVENTS_FORGET_REFERENCE"}, Usage: "recorded in the audit row: the request's ticket, never the address"},
			hmacKeyFileFlag(),
			&cli.BoolFlag{Name: "yes", Usage: "erase; without it, only count (no environment variable: each erasure is confirmed on its own)"},
		},
		Action: func(c *cli.Context) error {
			s, err := open(c, true)
			if err != nil {
				return err
			}
			defer s.p.Close()
			out, err := s.p.Forget(c.Context, pipeline.ForgetOptions{
				Tenant: c.String("tenant"), Address: c.String("user"), Pseudonymize: c.Bool("pseudonymize"),
				HMACKeyFile: c.String("hmac-key-file"), Reference: c.String("reference"), Apply: c.Bool("yes"),
			})
			if err != nil {
				return err
			}
			w := c.App.Writer
			if len(out) == 0 {
				fmt.Fprintln(w, "nothing found: no tenant holds this address")
				return nil
			}
			verb, what := "would erase", "erased"
			if c.Bool("pseudonymize") {
				verb, what = "would pseudonymize", "pseudonymized"
			}
			if c.Bool("yes") {
				verb = what
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "tenant\tevents\tmentions\trollup rows\trejects\truns\taudit run\t\n")
			for _, g := range out {
				audit := "-"
				if g.RunID != 0 {
					audit = fmt.Sprint(g.RunID)
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", g.Tenant, g.Events, g.Mentions, g.RollupRows, g.Rejects, g.Runs, audit)
			}
			tw.Flush()
			fmt.Fprintf(w, "%s: the person's events, rollup rows and rejects; their address in other events and in runs\n", verb)
			if !c.Bool("yes") {
				fmt.Fprintln(w, "dry run: nothing changed; run again with --yes")
			}
			return nil
		},
	}
}
