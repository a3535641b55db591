package main

// The file of many tenants (--config), and what a sync reports: a summary
// per tenant, as text or as a JSON log record, and metrics.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/internal/config"
	"sparkevents/internal/metrics"
	"sparkevents/pipeline"
)

// configFlag is the file of many tenants, for sync, status, runs and doctor.
var configFlag = &cli.StringFlag{Name: "config", EnvVars: []string{"SPARKEVENTS_CONFIG"}, Usage: "a YAML file of connections and tenants (see the README: many tenants); without --tenant, every tenant of it"}

// manyTenantsFlags are sync's flags for a config file and for metrics.
var manyTenantsFlags = []cli.Flag{
	configFlag,
	&cli.IntFlag{Name: "tenants-parallel", Value: 2, EnvVars: []string{"SPARKEVENTS_TENANTS_PARALLEL"}, Usage: "with --config, how many tenants sync at once"},
	&cli.StringFlag{Name: "metrics-file", EnvVars: []string{"SPARKEVENTS_METRICS_FILE"}, Usage: "write the run's metrics here, in node_exporter's textfile format (name it *.prom)"},
	&cli.StringFlag{Name: "pushgateway", EnvVars: []string{"SPARKEVENTS_PUSHGATEWAY"}, Usage: "push the run's metrics to this Prometheus Pushgateway URL, one group per tenant"},
}

// readConfig reads --config, nil when none is given.
func readConfig(c *cli.Context) (*config.File, error) {
	if c.String("config") == "" {
		return nil, nil
	}
	return config.Read(c.String("config"))
}

// fileTenants are the tenants a reading command covers: --tenant if given,
// else those of --config; nil means every tenant in the database.
func fileTenants(c *cli.Context) ([]string, error) {
	if t := c.String("tenant"); t != "" {
		return []string{t}, nil
	}
	f, err := readConfig(c)
	if f == nil || err != nil {
		return nil, err
	}
	return f.Names(), nil
}

// syncTargets are the options of each tenant a sync or doctor runs: one
// from the flags, or with --config those of the file's tenants (only
// --tenant's when given), the flags given overriding the file.
func syncTargets(c *cli.Context, kind string) ([]pipeline.SyncOptions, error) {
	base := flagSyncOptions(c)
	now := time.Now()
	if kind == "sync" {
		base.Lookback, base.Settle = c.Duration("lookback"), c.Duration("settle")
		if s := c.String("since"); s != "" {
			t, err := pipeline.ParseTime(s, now)
			if err != nil {
				return nil, fmt.Errorf("--since: %w", err)
			}
			base.Since = t
		}
	}
	f, err := readConfig(c)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return []pipeline.SyncOptions{base}, checkTarget(base, kind, "")
	}
	var pick []string
	if base.Tenant != "" {
		pick = []string{base.Tenant}
	}
	// A variable set to nothing (SPARK_TOKEN= in an env file) sets nothing.
	isSet := func(name string) bool {
		v, isString := c.Value(name).(string)
		return c.IsSet(name) && (!isString || v != "")
	}
	opts, err := f.SyncOptions(config.Overrides{Base: base, IsSet: isSet, Tenants: pick, Now: now})
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := checkTarget(o, kind, f.Path); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

func checkTarget(o pipeline.SyncOptions, kind, file string) error {
	err := checkSyncOptions(o)
	if err == nil && kind == "sync" {
		err = o.Check("sync")
	}
	if err != nil && file != "" {
		return fmt.Errorf("tenant %s of %s: %w", o.Tenant, file, err)
	}
	return err
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
		"requests", sum.Requests, "bytes", sum.Bytes, "seconds", r.Elapsed.Seconds()}
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

// statusOfTenants keeps the tenants named (all when none is), with an
// empty line for a named tenant the database does not know.
func statusOfTenants(all []pipeline.TenantStatus, names []string) []pipeline.TenantStatus {
	if names == nil {
		return all
	}
	var out []pipeline.TenantStatus
	for _, n := range names {
		i := slices.IndexFunc(all, func(st pipeline.TenantStatus) bool { return st.Tenant == n })
		if i >= 0 {
			out = append(out, all[i])
		} else {
			out = append(out, pipeline.TenantStatus{Tenant: n})
		}
	}
	return out
}

// checkLagOf is status --max-lag over the tenants named, each checked as
// --tenant checks one; none named checks every synced tenant.
func checkLagOf(sts []pipeline.TenantStatus, names []string, maxLag time.Duration, now time.Time) error {
	if names == nil {
		return pipeline.CheckLag(sts, "", maxLag, now)
	}
	var stale []string
	for _, n := range names {
		if err := pipeline.CheckLag(sts, n, maxLag, now); err != nil {
			stale = append(stale, strings.TrimPrefix(err.Error(), pipeline.ErrStale.Error()+": "))
		}
	}
	if len(stale) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", pipeline.ErrStale, strings.Join(stale, "; "))
}

// runsAction lists runs as a table, JSON or CSV.
func runsAction(c *cli.Context) error {
	format := c.String("format")
	if !slices.Contains([]string{"table", "json", "csv"}, format) {
		return usageErr("unknown --format %q: table, json or csv", format)
	}
	names, err := fileTenants(c)
	if err != nil {
		return err
	}
	s, err := open(c, false)
	if err != nil {
		return err
	}
	defer s.p.Close()
	runs, err := s.p.RunsOf(c.Context, names, c.Int("limit"))
	if err != nil {
		return err
	}
	switch format {
	case "json":
		return writeRunsJSON(c.App.Writer, runs)
	case "csv":
		return writeRunsCSV(c.App.Writer, runs)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tKIND\tTENANT\tSTATUS\tSTARTED\tSECONDS\tREAD\tINSERTED\tUPDATED\tUNCHANGED\tREJECTED\tSOURCE\tERROR")
	for _, r := range runs {
		secs := "-"
		if r.FinishedAt != nil {
			secs = fmt.Sprintf("%.1f", r.FinishedAt.Sub(r.StartedAt).Seconds())
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Kind, r.Tenant, r.Status,
			fmtTime(r.StartedAt), secs, r.Counts.Read, r.Counts.Inserted, r.Counts.Updated, r.Counts.Unchanged,
			r.Counts.Rejected, r.Source, firstLine(r.Error))
	}
	return tw.Flush()
}

// runRecordJSON is one run of runs --format json. Field names are an
// interface: add fields, do not rename them.
type runRecordJSON struct {
	ID          int64      `json:"run_id"`
	Kind        string     `json:"kind"`
	Tenant      string     `json:"tenant"`
	Status      string     `json:"status"`
	Source      string     `json:"source"`
	WindowStart *time.Time `json:"window_start"`
	WindowEnd   *time.Time `json:"window_end"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Read        int64      `json:"rows_read"`
	Inserted    int64      `json:"rows_inserted"`
	Updated     int64      `json:"rows_updated"`
	Unchanged   int64      `json:"rows_unchanged"`
	Rejected    int64      `json:"rows_rejected"`
	Error       string     `json:"error,omitempty"`
}

func writeRunsJSON(w io.Writer, runs []pipeline.RunInfo) error {
	out := make([]runRecordJSON, len(runs))
	for i, r := range runs {
		out[i] = runRecordJSON{ID: r.ID, Kind: r.Kind, Tenant: r.Tenant, Status: r.Status, Source: r.Source,
			WindowStart: utcPtr(r.WindowStart), WindowEnd: utcPtr(r.WindowEnd), StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt),
			Read: r.Counts.Read, Inserted: r.Counts.Inserted, Updated: r.Counts.Updated, Unchanged: r.Counts.Unchanged, Rejected: r.Counts.Rejected, Error: r.Error}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeRunsCSV writes the runs with a header row; the columns are those of
// runs --format json, absent times empty.
func writeRunsCSV(w io.Writer, runs []pipeline.RunInfo) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"run_id", "kind", "tenant", "status", "source", "window_start", "window_end", "started_at", "finished_at",
		"rows_read", "rows_inserted", "rows_updated", "rows_unchanged", "rows_rejected", "error"})
	t := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range runs {
		cw.Write([]string{n(r.ID), r.Kind, r.Tenant, r.Status, r.Source, t(r.WindowStart), t(r.WindowEnd), t(&r.StartedAt), t(r.FinishedAt),
			n(r.Counts.Read), n(r.Counts.Inserted), n(r.Counts.Updated), n(r.Counts.Unchanged), n(r.Counts.Rejected), r.Error})
	}
	cw.Flush()
	return cw.Error()
}
