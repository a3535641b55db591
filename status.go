package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"sparkevents/pipeline"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show each tenant's watermark, lag, last run, rows and recent rejects; with --max-lag, a health check",
		Description: `LAG is how far behind now the tenant's watermark is: every event before the
watermark is stored. It grows by the time since the last successful sync,
plus --settle. With --max-lag, status is a health check for monitoring or
cron: after the table it exits 7 and says why when a tenant that has run a
sync (or the --tenant given) lags by more than that, or has no watermark
because its syncs have all failed, or when no tenant was ever synced. A
first sync still running is not a failure. Lags are measured with this
host's clock.

   sparkevents status --max-lag 1h                  # alert when a 15-minute cron sync stops working
   sparkevents status --tenant acme --format json   # for scripts`,
		Flags: []cli.Flag{
			// Not SPARK_TENANT: the env file of a cron sync sets it, and the
			// health check beside it must still check every tenant.
			&cli.StringFlag{Name: "tenant", EnvVars: []string{"SPARKEVENTS_STATUS_TENANT"}, Usage: "only this tenant (default: every tenant)"},
			durationFlag("max-lag", 0, "SPARKEVENTS_MAX_LAG", "exit 7 when a synced tenant's watermark is older than this (e.g. 1h), or a tenant's syncs have all failed; 0 checks nothing"),
			&cli.StringFlag{Name: "format", Value: "table", EnvVars: []string{"SPARKEVENTS_FORMAT"}, Usage: "table or json"},
			configFlag(),
		},
		Action: func(c *cli.Context) error {
			maxLag, format := duration(c, "max-lag"), c.String("format")
			if maxLag < 0 {
				return usageErr("--max-lag %s is negative", maxLag)
			}
			if format != "table" && format != "json" {
				return usageErr("unknown --format %q: table or json", format)
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
			all, err := s.p.Status(c.Context)
			if err != nil {
				return err
			}
			// A tenant the database has never heard of is a typo, or a
			// tenant not synced yet: under --max-lag the health check
			// says so (exit 7), else it is a usage error (exit 2).
			if tenant := c.String("tenant"); tenant != "" && maxLag == 0 && !slices.ContainsFunc(all, func(st pipeline.TenantStatus) bool { return st.Tenant == tenant }) {
				var known []string
				for _, st := range all {
					known = append(known, st.Tenant)
				}
				if len(known) == 0 {
					return usageErr("no tenant %q in schema %s: it holds no tenant yet", tenant, s.p.Schema())
				}
				return usageErr("no tenant %q in schema %s; it has: %s", tenant, s.p.Schema(), strings.Join(known, ", "))
			}
			sts := statusOfTenants(all, names)
			now := time.Now()
			if format == "json" {
				err = writeStatusJSON(c.App.Writer, sts, now)
			} else {
				err = writeStatusTable(c.App.Writer, sts, now)
			}
			if err != nil || maxLag == 0 {
				return err
			}
			return checkLagOf(sts, names, maxLag, now)
		},
	}
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

// writeStatusTable prints one line per tenant, for people.
func writeStatusTable(w io.Writer, sts []pipeline.TenantStatus, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tWATERMARK\tLAG\tEVENTS\tLAST EVENT\tLAST SYNC\tLAST RUN\tSTATUS\tREJECTS 24H\tEXPORT CAP")
	for _, st := range sts {
		wm, lag, last, sync, run, status := "-", "-", "-", "-", "-", "-"
		if st.Watermark != nil {
			wm = fmtTime(*st.Watermark)
			lag = now.Sub(*st.Watermark).Round(time.Second).String()
		}
		if st.LastEvent != nil {
			last = fmtTime(*st.LastEvent)
		}
		// A backfill or an import after it must not hide a failing cron sync.
		if st.LastSync != nil {
			sync = st.LastSync.Status + " " + fmtTime(st.LastSync.StartedAt)
		}
		if st.LastRun != nil {
			run = fmt.Sprintf("%d %s %s", st.LastRun.ID, st.LastRun.Kind, fmtTime(st.LastRun.StartedAt))
			status = st.LastRun.Status
			if st.LastRun.Error != "" {
				status += ": " + firstLine(st.LastRun.Error)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", st.Tenant, wm, lag, st.Events, last, sync, run, status, st.RejectsLastDay, exportCap(st.Spark))
	}
	return tw.Flush()
}

// exportCap says in a few words what is known of how Spark caps the
// tenant's exports.
func exportCap(p *pipeline.Profile) string {
	switch {
	case p == nil:
		return "-"
	case p.CapRows > 0:
		return fmt.Sprintf("%d rows (learned)", p.CapRows)
	case p.HonoursPageSize != nil && *p.HonoursPageSize:
		return fmt.Sprintf("the page size; >= %d rows", p.MaxRows)
	}
	return fmt.Sprintf("none seen; >= %d rows", p.MaxRows)
}

// statusJSON is one tenant of status --format json. Field names are part of
// the interface scripts rely on: add fields, do not rename them.
type statusJSON struct {
	Tenant         string     `json:"tenant"`
	Watermark      *time.Time `json:"watermark"`
	LagSeconds     *float64   `json:"lag_seconds"`
	Events         int64      `json:"events"`
	LastEvent      *time.Time `json:"last_event"`
	LastSync       *runJSON   `json:"last_sync"`
	LastRun        *runJSON   `json:"last_run"`
	RejectsLastDay int64      `json:"rejects_24h"`
	Spark          *sparkJSON `json:"spark"`
}

// sparkJSON is what syncs learned about a tenant's Spark.
type sparkJSON struct {
	HonoursPageSize *bool      `json:"honours_page_size"`
	CapRows         *int       `json:"cap_rows"`
	MaxRows         int        `json:"max_rows"`
	EventTypes      string     `json:"event_types_form,omitempty"`
	OneJob          bool       `json:"one_job"`
	UpdatedAt       time.Time  `json:"updated_at"`
	ProvenAt        *time.Time `json:"proven_at"` // when a probe last measured the cap; a sync probes again a week on
}

type runJSON struct {
	ID         int64      `json:"run_id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error,omitempty"`
}

// writeStatusJSON prints the tenants as one indented JSON array, for
// scripts; times are UTC and absent ones null.
func writeStatusJSON(w io.Writer, sts []pipeline.TenantStatus, now time.Time) error {
	run := func(r *pipeline.RunInfo) *runJSON {
		if r == nil {
			return nil
		}
		return &runJSON{ID: r.ID, Kind: r.Kind, Status: r.Status, StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt), Error: r.Error}
	}
	out := make([]statusJSON, 0, len(sts))
	for _, st := range sts {
		j := statusJSON{Tenant: st.Tenant, Watermark: utcPtr(st.Watermark), Events: st.Events, LastEvent: utcPtr(st.LastEvent),
			LastSync: run(st.LastSync), LastRun: run(st.LastRun), RejectsLastDay: st.RejectsLastDay}
		if p := st.Spark; p != nil {
			j.Spark = &sparkJSON{HonoursPageSize: p.HonoursPageSize, MaxRows: p.MaxRows, EventTypes: p.EventTypes, OneJob: p.OneJob, UpdatedAt: p.UpdatedAt.UTC()}
			if p.CapRows > 0 {
				j.Spark.CapRows = &p.CapRows
			}
			if !p.ProvenAt.IsZero() {
				j.Spark.ProvenAt = utcPtr(&p.ProvenAt)
			}
		}
		if st.Watermark != nil {
			lag := now.Sub(*st.Watermark).Round(time.Second).Seconds()
			j.LagSeconds = &lag
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
