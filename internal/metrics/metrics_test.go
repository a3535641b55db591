package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"sparkevents/load"
	"sparkevents/pipeline"
)

var now = time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)

func tenants() []Tenant {
	wm := now.Add(-90 * time.Second)
	return []Tenant{
		{Name: "acme", Elapsed: 3 * time.Second, Watermark: &wm, LastSuccess: now,
			Summary: pipeline.Summary{Windows: 3, Jobs: 4, Splits: 1, Bytes: 2048, Requests: 17, Retries: 3, RateLimited: 5,
				Counts:       load.Counts{Read: 10, Inserted: 7, Updated: 2, Unchanged: 1, Rejected: 1},
				JobLatencies: []time.Duration{2 * time.Second, 20 * time.Second, 40 * time.Second, 400 * time.Second}}},
		{Name: "beta", Err: errors.New("spark: 401"), Elapsed: time.Second},
	}
}

// parse reads a text exposition into metric families by name.
func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value is the metric of mf whose labels include want, or fails.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s with labels %v", name, want)
	return nil
}

func TestTextfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparkevents.prom")
	if err := os.WriteFile(path, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteTextfile(path, tenants(), now); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("the folder holds %d files, want the metrics file alone", len(ents))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mfs := parse(t, f)
	acme := map[string]string{"tenant": "acme"}
	checks := []struct {
		name string
		want float64
	}{
		{"sparkevents_sync_success", 1}, {"sparkevents_sync_windows", 3}, {"sparkevents_sync_export_jobs", 4},
		{"sparkevents_sync_split_windows", 1}, {"sparkevents_sync_downloaded_bytes", 2048}, {"sparkevents_sync_requests", 17}, {"sparkevents_sync_retries", 3}, {"sparkevents_sync_rate_limited", 5},
		{"sparkevents_sync_duration_seconds", 3}, {"sparkevents_watermark_lag_seconds", 90},
		{"sparkevents_sync_last_success_timestamp_seconds", float64(now.Unix())},
	}
	for _, c := range checks {
		if got := value(t, mfs, c.name, acme).GetGauge().GetValue(); got != c.want {
			t.Errorf("%s{tenant=acme} = %v, want %v", c.name, got, c.want)
		}
	}
	for outcome, want := range map[string]float64{"read": 10, "inserted": 7, "updated": 2, "unchanged": 1, "rejected": 1} {
		if got := value(t, mfs, "sparkevents_sync_rows", map[string]string{"tenant": "acme", "outcome": outcome}).GetGauge().GetValue(); got != want {
			t.Errorf("rows %s = %v, want %v", outcome, got, want)
		}
	}
	h := value(t, mfs, "sparkevents_sync_export_job_seconds", acme).GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 462 {
		t.Errorf("latency histogram: %d jobs summing %vs, want 4 and 462s", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 30 && b.GetCumulativeCount() != 2 {
			t.Errorf("jobs within 30s: %d, want 2", b.GetCumulativeCount())
		}
	}
	beta := map[string]string{"tenant": "beta"}
	if got := value(t, mfs, "sparkevents_sync_success", beta).GetGauge().GetValue(); got != 0 {
		t.Errorf("beta's success = %v, want 0", got)
	}
	for _, m := range mfs["sparkevents_watermark_lag_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetValue() == "beta" {
				t.Error("beta has no watermark, yet a lag")
			}
		}
	}
}

func TestPushGroupsByTenant(t *testing.T) {
	var (
		mu     sync.Mutex
		pushed = map[string]map[string]*dto.MetricFamily{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			t.Errorf("%s %s, want PUT", r.Method, r.URL.Path)
		}
		mfs := map[string]*dto.MetricFamily{}
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Error(err)
				}
				break
			}
			mfs[mf.GetName()] = &mf
		}
		mu.Lock()
		pushed[r.URL.Path] = mfs
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := Push(context.Background(), srv.URL, tenants(), now, nil); err != nil {
		t.Fatal(err)
	}
	acme := pushed["/metrics/job/sparkevents/tenant/acme"]
	if len(pushed) != 2 || acme == nil || pushed["/metrics/job/sparkevents/tenant/beta"] == nil {
		t.Fatalf("pushed to %v, want one group per tenant", keys(pushed))
	}
	if got := value(t, acme, "sparkevents_sync_rows", map[string]string{"outcome": "inserted"}).GetGauge().GetValue(); got != 7 {
		t.Fatalf("pushed rows inserted = %v, want 7", got)
	}

	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusBadGateway) })
	if err := Push(context.Background(), srv.URL, tenants(), now, nil); err == nil || !strings.Contains(err.Error(), "acme") {
		t.Fatalf("push to a failing gateway: %v, want an error naming the tenant", err)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
