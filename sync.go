package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/internal/metrics"
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
   sparkevents sync                         # every later run
   sparkevents sync --config tenants.yaml   # every tenant of the file, two at once`,
		Flags: flags(sparkFlags(), parseFlags(), []cli.Flag{
			timeFlag("since", "", "SPARKEVENTS_SINCE", "where a tenant's first sync starts"),
			durationFlag("lookback", time.Hour, "SPARKEVENTS_LOOKBACK", "re-read this much before the watermark, for events Spark logs late"),
			durationFlag("settle", time.Minute, "SPARKEVENTS_SETTLE", "leave the newest events this long to settle before exporting them"),
			&cli.BoolFlag{Name: "skip-if-locked", EnvVars: []string{"SPARKEVENTS_SKIP_IF_LOCKED"}, Usage: "exit 0 instead of 3 when another sync or backfill of the tenant is running (for cron)"},
		}, manyTenantsFlags()),
		Action: syncAction,
	}
}

// syncAction runs sync: one tenant, or the tenants of --config, several
// at once. Each tenant's summary is printed (a JSON log record under
// --log-format json); with several tenants, a last one says which failed.
// The exit code is the highest of the failed tenants'.
func syncAction(c *cli.Context) error {
	targets, err := syncTargets(c, "sync")
	if err != nil {
		return err
	}
	if n := c.Int("tenants-parallel"); n < 1 {
		return usageErr("--tenants-parallel must be at least 1")
	}
	if len(targets) > 1 {
		// One bar cannot show several tenants' windows.
		if err := c.Set("no-progress", "true"); err != nil {
			return err
		}
	}
	dry := targets[0].DryRun
	s, err := open(c, !dry)
	if err != nil {
		return err
	}
	defer s.p.Close()
	results := s.p.SyncTenants(c.Context, targets, c.Int("tenants-parallel"))
	jsonLog := c.String("log-format") == "json"
	for i, r := range results {
		if errors.Is(r.Err, pipeline.ErrLocked) && c.Bool("skip-if-locked") {
			s.log.Info("another sync or backfill of the tenant is running: skipped", "tenant", r.Tenant)
			results[i].Err = nil
			continue
		}
		switch {
		case jsonLog:
			logSummary(s.log, "sync", targets[i], r)
		case r.Err == nil || r.Summary.Windows > 0:
			printSummary(c.App.Writer, "sync", targets[i], r.Summary)
		}
	}
	merr := writeMetrics(c, s, results)
	if len(results) == 1 {
		return cmpErr(results[0].Err, merr)
	}
	return cmpErr(tenantsOutcome(c, s.log, results, jsonLog), merr)
}

// cmpErr is the sync's error, else the metrics'.
func cmpErr(syncErr, metricsErr error) error {
	if syncErr != nil {
		return syncErr
	}
	return metricsErr
}

// logSummary is a sync's summary as one log record.
func logSummary(log *slog.Logger, kind string, o pipeline.SyncOptions, r pipeline.TenantResult) {
	sum := r.Summary
	attrs := []any{"kind", kind, "tenant", r.Tenant, "ok", r.Err == nil, "dry_run", o.DryRun,
		"from", sum.From, "to", sum.To, "windows", sum.Windows, "jobs", sum.Jobs, "splits", sum.Splits,
		"read", sum.Counts.Read, "inserted", sum.Counts.Inserted, "updated", sum.Counts.Updated,
		"unchanged", sum.Counts.Unchanged, "rejected", sum.Counts.Rejected,
		"requests", sum.Requests, "retries", sum.Retries, "rate_limited", sum.RateLimited, "bytes", sum.Bytes, "seconds", r.Elapsed.Seconds()}
	if !sum.Watermark.IsZero() {
		attrs = append(attrs, "watermark", sum.Watermark)
	}
	if r.Err != nil {
		log.Error("sync failed", append(attrs, "err", r.Err)...)
		return
	}
	log.Info("sync done", attrs...)
}

// tenantsOutcome says which tenants succeeded and which failed, and
// returns an error with the highest exit code of the failed ones.
func tenantsOutcome(c *cli.Context, log *slog.Logger, results []pipeline.TenantResult, jsonLog bool) error {
	var (
		ok     []string
		failed []string
		worst  error
		code   int
	)
	reasons := map[string]string{}
	for _, r := range results {
		if r.Err == nil {
			ok = append(ok, r.Tenant)
			continue
		}
		k := exitCode(c.Context, r.Err)
		failed = append(failed, fmt.Sprintf("%s (exit %d): %v", r.Tenant, k, r.Err))
		reasons[r.Tenant] = r.Err.Error()
		if k > code {
			code, worst = k, r.Err
		}
	}
	if jsonLog {
		log.Info("tenants synced", "succeeded", ok, "failed", reasons, "tenants", len(results))
	} else {
		fmt.Fprintf(c.App.Writer, "tenants: %d succeeded", len(ok))
		if len(ok) > 0 {
			fmt.Fprintf(c.App.Writer, " (%s)", strings.Join(ok, ", "))
		}
		fmt.Fprintf(c.App.Writer, ", %d failed\n", len(failed))
		for _, f := range failed {
			fmt.Fprintf(c.App.Writer, "  FAILED %s\n", f)
		}
	}
	if worst == nil {
		return nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for t := range reasons {
			if !yield(t) {
				return
			}
		}
	})
	return tenantsFailed{fmt.Sprintf("%d of %d tenants failed: %s (each one's error is above)", len(failed), len(results), strings.Join(names, ", ")), worst}
}

// tenantsFailed names the tenants that failed, and unwraps to the error
// of the one with the highest exit code, which the run exits with.
type tenantsFailed struct {
	msg   string
	worst error
}

func (e tenantsFailed) Error() string { return e.msg }
func (e tenantsFailed) Unwrap() error { return e.worst }

// writeMetrics writes --metrics-file and pushes to --pushgateway, with the
// watermarks and last successes stored after the run.
func writeMetrics(c *cli.Context, s *session, results []pipeline.TenantResult) error {
	file, gw := c.String("metrics-file"), c.String("pushgateway")
	if file == "" && gw == "" {
		return nil
	}
	now := time.Now()
	wms := map[string]*time.Time{}
	last := map[string]time.Time{}
	// A dry run's database may hold no tables: its metrics then go without.
	if sts, err := s.p.Status(c.Context); err == nil {
		for _, st := range sts {
			wms[st.Tenant] = st.Watermark
		}
		if last, err = s.p.LastSuccesses(c.Context); err != nil {
			s.log.Warn("metrics without last successes", "err", err)
		}
	} else {
		s.log.Warn("metrics without watermarks", "err", err)
	}
	ts := make([]metrics.Tenant, len(results))
	for i, r := range results {
		ts[i] = metrics.Tenant{Name: r.Tenant, Summary: r.Summary, Err: r.Err, Elapsed: r.Elapsed, Watermark: wms[r.Tenant], LastSuccess: last[r.Tenant]}
		if r.Err == nil {
			ts[i].LastSuccess = now // an idle sync stores no run, and succeeded all the same
		}
	}
	var errs []error
	if file != "" {
		errs = append(errs, metrics.WriteTextfile(file, ts, now))
	}
	if gw != "" {
		ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
		defer cancel()
		errs = append(errs, metrics.Push(ctx, gw, ts, now, nil))
	}
	return errors.Join(errs...)
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
