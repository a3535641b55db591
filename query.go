package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"sparkevents/analyst"
)

// knownQuery fails with a usage error that lists the library when name is not in it.
func knownQuery(name string) error {
	qs, err := analyst.Queries()
	if err != nil {
		return err
	}
	var names []string
	for _, q := range qs {
		if q.Name == name {
			return nil
		}
		names = append(names, q.Name)
	}
	return usageErr("no query %q; the library has: %s", name, strings.Join(names, ", "))
}

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "run a query of the analyst library (alone: list them)",
		ArgsUsage: "[NAME]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "param", EnvVars: []string{"SPARKEVENTS_PARAM"}, Usage: "query parameter NAME=VALUE (repeatable)"},
			&cli.StringFlag{Name: "format", Value: "table", EnvVars: []string{"SPARKEVENTS_FORMAT"}, Usage: "table, csv or json"},
		},
		Action: func(c *cli.Context) error {
			args, err := positional(c, "NAME")
			if err != nil {
				return err
			}
			if len(args) == 0 {
				qs, err := analyst.Queries()
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
				for _, q := range qs {
					var ps []string
					for _, p := range q.Params {
						ps = append(ps, p.Name+"="+p.Default)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", q.Name, q.Question, strings.Join(ps, " "))
				}
				return tw.Flush()
			}
			params := map[string]string{}
			for _, kv := range c.StringSlice("param") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageErr("--param %q: want NAME=VALUE", kv)
				}
				params[k] = v
			}
			if err := knownQuery(args[0]); err != nil {
				return err
			}
			s, err := open(c, false)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return analyst.RunQuery(c.Context, s.p.DB(), args[0], params, c.String("format"), c.App.Writer)
		},
	}
}
