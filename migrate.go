package main

import (
	"context"
	"errors"
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
			{Name: "up", Usage: "apply every pending migration, and say which", Action: action(func(c *cli.Context, s *session) error {
				return reportMigrations(c, s, "applied", s.p.Migrate)
			})},
			{Name: "down", Usage: "roll the newest migration back, and say which", Action: action(func(c *cli.Context, s *session) error {
				return reportMigrations(c, s, "rolled back", s.p.MigrateDown)
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

// reportMigrations runs migrate and prints each migration whose state it
// changed, then the schema's version: "applied 5 00005_x.sql".
func reportMigrations(c *cli.Context, s *session, verb string, migrate func(context.Context) error) error {
	before, err := s.p.MigrationStatus(c.Context)
	if err != nil {
		return err
	}
	was := map[int64]bool{}
	for _, m := range before {
		was[m.Version] = m.Applied
	}
	err = migrate(c.Context)
	after, serr := s.p.MigrationStatus(c.Context)
	if serr != nil {
		return errors.Join(err, serr)
	}
	changed := 0
	for _, m := range after {
		if m.Applied != was[m.Version] {
			fmt.Fprintf(c.App.Writer, "%s %d %s\n", verb, m.Version, m.Source)
			changed++
		}
	}
	if err != nil {
		return err
	}
	v, err := s.p.SchemaVersion(c.Context)
	if err != nil {
		return err
	}
	if changed == 0 {
		fmt.Fprintf(c.App.Writer, "nothing to do: schema %s is at version %d\n", s.p.Schema(), v)
		return nil
	}
	fmt.Fprintf(c.App.Writer, "schema %s is at version %d\n", s.p.Schema(), v)
	return nil
}
