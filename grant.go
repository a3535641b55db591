package main

import (
	"github.com/urfave/cli/v2"

	"sparkevents/analyst"
)

func grantReaderCommand() *cli.Command {
	return &cli.Command{
		Name:      "grant-reader",
		Usage:     "let a BI role read the schema's tables and views (now and future), nothing more",
		ArgsUsage: "ROLE",
		Description: `The role must exist:

   psql -c "CREATE ROLE metabase LOGIN PASSWORD '...'"
   sparkevents grant-reader metabase`,
		Action: func(c *cli.Context) error {
			args, err := positional(c, "ROLE")
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErr("grant-reader needs exactly one ROLE")
			}
			s, err := open(c, true)
			if err != nil {
				return err
			}
			defer s.p.Close()
			return analyst.GrantReader(c.Context, s.p.DB(), s.p.Schema(), args[0])
		},
	}
}
