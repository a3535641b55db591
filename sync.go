package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "export new events from Spark and load them (run it from cron)",
		Description: `Plans [watermark - lookback, now - settle), splits it into windows, runs one
export job per window, and commits each window with the watermark moved to its
end, so a crash never moves the watermark past events not stored. The first
sync of a tenant needs --since. A second sync of the same tenant started while
one runs exits at once with code 3.

   sparkevents sync --since 2026-01-01      # first run
   sparkevents sync                         # every later run`,
		Flags: flags(sparkFlags(), parseFlags(), []cli.Flag{
			timeFlag("since", "", "SPARKEVENTS_SINCE", "where a tenant's first sync starts"),
			durationFlag("lookback", time.Hour, "SPARKEVENTS_LOOKBACK", "re-read this much before the watermark, for events Spark logs late"),
			durationFlag("settle", time.Minute, "SPARKEVENTS_SETTLE", "leave the newest events this long to settle before exporting them"),
			&cli.BoolFlag{Name: "skip-if-locked", EnvVars: []string{"SPARKEVENTS_SKIP_IF_LOCKED"}, Usage: "exit 0 instead of 3 when another sync or backfill of the tenant is running (for cron)"},
		}),
		Action: func(c *cli.Context) error {
			o, err := syncOptions(c)
			if err != nil {
				return err
			}
			o.Lookback, o.Settle = duration(c, "lookback"), duration(c, "settle")
			if err := o.Check("sync"); err != nil {
				return err
			}
			if since := timeValue(c, "since"); since != nil {
				o.Since = since.At(time.Now())
			}
			s, err := open(c, !o.DryRun)
			if err != nil {
				return err
			}
			defer s.p.Close()
			sum, err := s.p.Sync(c.Context, o)
			if errors.Is(err, pipeline.ErrLocked) && c.Bool("skip-if-locked") {
				s.log.Info("another sync or backfill of the tenant is running: skipped", "tenant", o.Tenant)
				return nil
			}
			if err == nil || sum.Windows > 0 {
				printSummary(c.App.Writer, "sync", o, sum)
			}
			return err
		},
	}
}

func printSummary(w io.Writer, kind string, o pipeline.SyncOptions, s pipeline.Summary) {
	dry := ""
	if o.DryRun {
		dry = " (dry run: nothing written)"
	}
	fmt.Fprintf(w, "%s %s: %d windows from %s to %s%s\n", kind, o.Tenant, s.Windows, fmtTime(s.From), fmtTime(s.To), dry)
	fmt.Fprintf(w, "  read %d, inserted %d, updated %d, unchanged %d, rejected %d; %d requests, %.1f MiB downloaded\n",
		s.Counts.Read, s.Counts.Inserted, s.Counts.Updated, s.Counts.Unchanged, s.Counts.Rejected, s.Requests, float64(s.Bytes)/(1<<20))
	if !s.Watermark.IsZero() {
		fmt.Fprintf(w, "  watermark now %s\n", fmtTime(s.Watermark))
	}
}
