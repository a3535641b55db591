package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/internal/config"
	"sparkevents/internal/when"
	"sparkevents/pipeline"
)

func pruneCommand() *cli.Command {
	return &cli.Command{
		Name:  "prune",
		Usage: "delete a tenant's events, rollup rows, runs and rejects past their retention",
		Description: `prune deletes the events of whole UTC days older than --older-than (or a
tenant's retention: in the config file), a few thousand at a time, each
batch its own short transaction: a sync of the tenant beside it waits for
one batch at most (bench/README.md: prune beside a sync). The rollups
follow the events unless --rollups-older-than keeps them longer; the runs
and their rejects go after --runs-older-than (default twice the events'
retention). What it deleted is recorded as a run of kind prune (see runs);
--dry-run only counts.

   sparkevents prune --tenant acme --older-than 400d --dry-run
   sparkevents prune --tenant acme --older-than 400d --rollups-older-than 1100d
   sparkevents prune --config tenants.yaml      # each tenant's retention:`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARK_TENANT"}, Usage: "the tenant to prune (with --config: only this one of the file)"},
			configFlag(),
			durationFlag("older-than", 0, "SPARKEVENTS_RETENTION", "delete events older than this (whole UTC days); overrides the file's retention"),
			durationFlag("rollups-older-than", 0, "SPARKEVENTS_ROLLUPS_RETENTION", "delete rollup rows older than this, at least --older-than (default: with their events)"),
			durationFlag("runs-older-than", 0, "SPARKEVENTS_RUNS_RETENTION", "delete runs and their rejects older than this (default: twice --older-than)"),
			&cli.IntFlag{Name: "batch-rows", Value: pipeline.PruneBatchRows, EnvVars: []string{"SPARKEVENTS_PRUNE_BATCH_ROWS"}, Usage: "events deleted per transaction"},
			&cli.BoolFlag{Name: "dry-run", EnvVars: []string{"SPARKEVENTS_DRY_RUN"}, Usage: "only count what would be deleted"},
		},
		Action: pruneAction,
	}
}

// pruneTarget is one tenant's retention, from the flags over the file.
type pruneTarget struct {
	tenant string
	ret    config.Retention
}

func pruneTargets(c *cli.Context) ([]pruneTarget, error) {
	flagRet := config.Retention{Events: duration(c, "older-than"), Rollups: duration(c, "rollups-older-than"), Runs: duration(c, "runs-older-than")}
	f, err := readConfig(c)
	if err != nil {
		return nil, err
	}
	tenant := c.String("tenant")
	if f == nil {
		if tenant == "" {
			return nil, usageErr("prune needs --tenant (SPARK_TENANT), or --config for the tenants of a file")
		}
		return []pruneTarget{{tenant, flagRet}}, nil
	}
	names := f.Names()
	if tenant != "" {
		names = []string{tenant}
	}
	var out []pruneTarget
	for _, n := range names {
		r, ok := f.Retention(n)
		if !ok {
			return nil, usageErr("no tenant %q in %s (it has %s)", n, f.Path, strings.Join(f.Names(), ", "))
		}
		for _, o := range []struct {
			flag string
			v    time.Duration
			dst  *time.Duration
		}{{"older-than", flagRet.Events, &r.Events}, {"rollups-older-than", flagRet.Rollups, &r.Rollups}, {"runs-older-than", flagRet.Runs, &r.Runs}} {
			if c.IsSet(o.flag) {
				*o.dst = o.v
			}
		}
		out = append(out, pruneTarget{n, r})
	}
	return out, nil
}

// prune turns a retention into the cutoffs of a prune at now.
func (t pruneTarget) prune(now time.Time) (pipeline.Prune, error) {
	r := t.ret
	switch {
	case r.Events < 0 || r.Rollups < 0 || r.Runs < 0:
		return pipeline.Prune{}, usageErr("tenant %s: retentions must not be negative", t.tenant)
	case r.Events == 0 && r.Runs == 0 && r.Rollups == 0:
		return pipeline.Prune{}, usageErr("tenant %s: no retention: give --older-than (or --runs-older-than), or retention: in the config file", t.tenant)
	case r.Rollups != 0 && r.Events != 0 && r.Rollups < r.Events:
		return pipeline.Prune{}, usageErr("tenant %s: --rollups-older-than %s is shorter than --older-than %s: the rollups may outlive their events, not the reverse", t.tenant, when.FormatDuration(r.Rollups), when.FormatDuration(r.Events))
	case r.Rollups != 0 && r.Events == 0:
		return pipeline.Prune{}, usageErr("tenant %s: --rollups-older-than needs --older-than", t.tenant)
	}
	if r.Runs == 0 && r.Events > 0 {
		r.Runs = 2 * r.Events
	}
	p := pipeline.Prune{Tenant: t.tenant}
	at := func(d time.Duration) time.Time {
		if d == 0 {
			return time.Time{}
		}
		return now.Add(-d)
	}
	p.Events, p.Rollups, p.Runs = at(r.Events), at(r.Rollups), at(r.Runs)
	var cmd []string
	for _, s := range []struct {
		flag string
		d    time.Duration
	}{{"older-than", r.Events}, {"rollups-older-than", r.Rollups}, {"runs-older-than", r.Runs}} {
		if s.d != 0 {
			cmd = append(cmd, "--"+s.flag+" "+when.FormatDuration(s.d))
		}
	}
	p.Command = "prune " + strings.Join(cmd, " ")
	return p, nil
}

func pruneAction(c *cli.Context) error {
	targets, err := pruneTargets(c)
	if err != nil {
		return err
	}
	now := time.Now()
	var prunes []pipeline.Prune
	for _, t := range targets {
		if t.ret == (config.Retention{}) && c.String("config") != "" && c.String("tenant") == "" {
			fmt.Fprintf(c.App.Writer, "tenant %s: no retention set, kept\n", t.tenant)
			continue
		}
		p, err := t.prune(now)
		if err != nil {
			return err
		}
		p.BatchRows, p.Apply = c.Int("batch-rows"), !c.Bool("dry-run")
		prunes = append(prunes, p)
	}
	s, err := open(c, true)
	if err != nil {
		return err
	}
	defer s.p.Close()
	for _, p := range prunes {
		r, err := s.p.Prune(c.Context, p)
		if err != nil {
			return err
		}
		printPruned(c, r)
	}
	return nil
}

func printPruned(c *cli.Context, r pipeline.Pruned) {
	w := c.App.Writer
	verb := "would delete"
	if r.Applied {
		verb = "deleted"
	}
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	fmt.Fprintf(w, "tenant %s: %s\n", r.Tenant, verb)
	if !r.EventsBefore.IsZero() {
		fmt.Fprintf(w, "  %d events before %s\n", r.Events, day(r.EventsBefore))
	}
	if !r.RollupsBefore.IsZero() {
		fmt.Fprintf(w, "  %d rollup rows of days before %s\n", r.RollupRows, day(r.RollupsBefore))
		if r.RollupsKept {
			fmt.Fprintf(w, "  (the rollups of %s to %s stay: they keep counting the events deleted)\n", day(r.RollupsBefore), day(r.EventsBefore.AddDate(0, 0, -1)))
		}
	}
	if !r.RunsBefore.IsZero() {
		fmt.Fprintf(w, "  %d runs and %d rejects started before %s\n", r.Runs, r.Rejects, day(r.RunsBefore))
	}
	if r.Applied {
		fmt.Fprintf(w, "  in %d transactions, the longest %s; recorded as run %d\n", r.Batches, r.LongestBatch.Round(time.Millisecond), r.RunID)
	} else {
		fmt.Fprintln(w, "dry run: nothing deleted")
	}
}
