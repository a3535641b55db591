// Package metrics turns what a sync run did into Prometheus metrics, for
// node_exporter's textfile collector (WriteTextfile) or a Pushgateway
// (Push). A sync is a batch job, not a server: every metric is a gauge (or,
// for export-job latency, a histogram) describing the tenant's last run,
// labelled with its tenant. Alert on sparkevents_sync_success == 0, on
// time() - sparkevents_sync_last_success_timestamp_seconds, or on
// sparkevents_watermark_lag_seconds.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"sparkevents/pipeline"
)

// Tenant is one tenant's run.
type Tenant struct {
	Name    string
	Summary pipeline.Summary
	Err     error // nil when the sync succeeded
	Elapsed time.Duration
	// Watermark is the tenant's stored watermark after the run, nil when
	// it has none; LastSuccess is when its newest successful sync ended,
	// zero when none did.
	Watermark   *time.Time
	LastSuccess time.Time
}

// Job is the Pushgateway job the metrics are pushed under.
const Job = "sparkevents"

// LatencyBuckets are the export-job latency histogram's bounds, in
// seconds: a job takes seconds when Spark is idle, and up to --job-timeout.
var LatencyBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800}

// registry holds t's metrics, each with a tenant label when labelled (a
// Pushgateway's grouping key carries the tenant instead).
func registry(t Tenant, now time.Time, labelled bool) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	var cl prometheus.Labels
	if labelled {
		cl = prometheus.Labels{"tenant": t.Name}
	}
	gauge := func(name, help string, v float64) error {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: cl})
		g.Set(v)
		return reg.Register(g)
	}
	s := t.Summary
	ok := 0.0
	if t.Err == nil {
		ok = 1
	}
	gauges := []struct {
		name, help string
		v          float64
	}{
		{"sparkevents_sync_success", "1 when the tenant's last sync succeeded, 0 when it failed.", ok},
		{"sparkevents_sync_timestamp_seconds", "When the tenant's last sync ended, in Unix seconds.", unix(now)},
		{"sparkevents_sync_duration_seconds", "How long the tenant's last sync took.", t.Elapsed.Seconds()},
		{"sparkevents_sync_windows", "Windows the last sync committed, halves of split windows included.", float64(s.Windows)},
		{"sparkevents_sync_split_windows", "Windows of the last sync whose export may have been cut short, fetched again in halves.", float64(s.Splits)},
		{"sparkevents_sync_export_jobs", "Export jobs the last sync ran.", float64(s.Jobs)},
		{"sparkevents_sync_downloaded_bytes", "Bytes the last sync downloaded.", float64(s.Bytes)},
		{"sparkevents_sync_requests", "HTTP requests the last sync made to Spark, retries and token requests included.", float64(s.Requests)},
		{"sparkevents_sync_retries", "Requests the last sync sent again after a network error, a transient answer (408, 5xx) or one cut short.", float64(s.Retries)},
		{"sparkevents_sync_rate_limited", "Answers of Spark that asked the last sync to slow down (429, or 503 with Retry-After), waited out.", float64(s.RateLimited)},
	}
	if !t.LastSuccess.IsZero() {
		gauges = append(gauges, struct {
			name, help string
			v          float64
		}{"sparkevents_sync_last_success_timestamp_seconds", "When the tenant's newest successful sync ended, in Unix seconds.", unix(t.LastSuccess)})
	}
	if t.Watermark != nil {
		gauges = append(gauges, []struct {
			name, help string
			v          float64
		}{
			{"sparkevents_watermark_timestamp_seconds", "The tenant's watermark: every event before it is stored, in Unix seconds.", unix(*t.Watermark)},
			{"sparkevents_watermark_lag_seconds", "How far the tenant's watermark is behind the end of the last sync.", now.Sub(*t.Watermark).Seconds()},
		}...)
	}
	for _, g := range gauges {
		if err := gauge(g.name, g.help, g.v); err != nil {
			return nil, err
		}
	}
	rows := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sparkevents_sync_rows", Help: "Rows of the last sync's exports by what became of them: read, inserted, updated, unchanged, rejected.", ConstLabels: cl}, []string{"outcome"})
	for outcome, n := range map[string]int64{"read": s.Counts.Read, "inserted": s.Counts.Inserted, "updated": s.Counts.Updated, "unchanged": s.Counts.Unchanged, "rejected": s.Counts.Rejected} {
		rows.WithLabelValues(outcome).Set(float64(n))
	}
	lat := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sparkevents_sync_export_job_seconds", Help: "Export jobs of the last sync, from submission to their files downloaded.", Buckets: LatencyBuckets, ConstLabels: cl})
	for _, d := range s.JobLatencies {
		lat.Observe(d.Seconds())
	}
	for _, c := range []prometheus.Collector{rows, lat} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Gatherer holds every tenant's metrics, each labelled with its tenant.
func Gatherer(ts []Tenant, now time.Time) (prometheus.Gatherer, error) {
	var gs prometheus.Gatherers
	for _, t := range ts {
		reg, err := registry(t, now, true)
		if err != nil {
			return nil, err
		}
		gs = append(gs, reg)
	}
	return gs, nil
}

// WriteTextfile writes the tenants' metrics to path in the text format
// node_exporter's textfile collector reads (name it *.prom), atomically: a
// temporary file beside it, renamed over it.
func WriteTextfile(path string, ts []Tenant, now time.Time) error {
	g, err := Gatherer(ts, now)
	if err != nil {
		return err
	}
	if err := prometheus.WriteToTextfile(path, g); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return nil
}

// Push sends each tenant's metrics to the Pushgateway at url, under job
// Job and a grouping key of its tenant: a tenant's push replaces its own
// last one and leaves other tenants', pushed by other runs, alone. client
// nil is http.DefaultClient.
func Push(ctx context.Context, url string, ts []Tenant, now time.Time, client *http.Client) error {
	for _, t := range ts {
		reg, err := registry(t, now, false)
		if err != nil {
			return err
		}
		p := push.New(url, Job).Grouping("tenant", t.Name).Gatherer(reg)
		if client != nil {
			p = p.Client(client)
		}
		if err := p.PushContext(ctx); err != nil {
			return fmt.Errorf("push metrics of tenant %s: %w", t.Name, err)
		}
	}
	return nil
}
