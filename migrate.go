package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func migrateCommand() *cli.Command {
	action := func(f func(c *cli.Context, s *session) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return f(c, s)
		}
	}
	return &cli.Command{
		Name:  "migrate",
		Usage: "manage the database schema (writers migrate up on their own)",
		Subcommands: []*cli.Command{
			{Name: "up", Usage: "apply every pending migration", Action: action(func(c *cli.Context, s *session) error {
				return s.p.Migrate(c.Context)
			})},
			{Name: "down", Usage: "roll the newest migration back", Action: action(func(c *cli.Context, s *session) error {
				return s.p.MigrateDown(c.Context)
			})},
			{Name: "status", Usage: "list migrations and whether each is applied", Action: action(func(c *cli.Context, s *session) error {
				ms, err := s.p.MigrationStatus(c.Context)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tAPPLIED\tSOURCE")
				for _, m := range ms {
					applied := "pending"
					if m.Applied {
						applied = fmtTime(m.AppliedAt)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, applied, m.Source)
				}
				return tw.Flush()
			})},
			{Name: "version", Usage: "print the newest applied migration", Action: action(func(c *cli.Context, s *session) error {
				v, err := s.p.SchemaVersion(c.Context)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, v)
				return nil
			})},
		},
	}
}
