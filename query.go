package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

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
				return writeQueryList(c.App.Writer, qs, listWidth)
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

// listWidth is what the list of queries fits in: a terminal of 100
// columns, or a wide one beside another.
const listWidth = 100

// writeQueryList prints the library as a table of NAME and QUESTION,
// each question wrapped beside its name, with the parameters under it
// (--param NAME=..., the default in parentheses), every line at most
// width runes.
func writeQueryList(w io.Writer, qs []analyst.Query, width int) error {
	nameWidth := len("NAME")
	for _, q := range qs {
		nameWidth = max(nameWidth, utf8.RuneCountInString(q.Name))
	}
	nameWidth += 2
	textWidth := max(width-nameWidth, 20)
	pad := strings.Repeat(" ", nameWidth)
	fmt.Fprintf(w, "%-*s%s\n", nameWidth, "NAME", "QUESTION (and --param NAME=VALUE; the default in parentheses)")
	for _, q := range qs {
		var ps []string
		for _, p := range q.Params {
			d := p.Default
			if d == "" {
				d = "''"
			}
			ps = append(ps, p.Name+" ("+d+")")
		}
		lines := wrap(q.Question, textWidth)
		if len(ps) > 0 {
			lines = append(lines, wrap("params: "+strings.Join(ps, ", "), textWidth)...)
		}
		for i, l := range lines {
			if i == 0 {
				fmt.Fprintf(w, "%-*s%s\n", nameWidth, q.Name, l)
			} else {
				fmt.Fprintf(w, "%s%s\n", pad, l)
			}
		}
	}
	_, err := fmt.Fprintf(w, "\nsparkevents query [--param NAME=VALUE ...] [--format table|csv|json] NAME\n")
	return err
}

// wrap breaks text into lines of at most width runes, at spaces (a word
// longer than width is cut).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		for utf8.RuneCountInString(word) > width {
			if line != "" {
				lines, line = append(lines, line), ""
			}
			r := []rune(word)
			lines, word = append(lines, string(r[:width])), string(r[width:])
		}
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines, line = append(lines, line), word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
