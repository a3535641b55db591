package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
	"sparkevents/load"
)

// doctorFixture is a sync fixture with events in doctor's last 24 hours.
func doctorFixture(t *testing.T, opts sparktest.Options) (*syncFixture, SyncOptions) {
	f := newSyncFixture(t, opts)
	f.spark.AddEvents(sparkEvents(0, 5, f.now.Add(-20*time.Hour), time.Hour)...)
	o := f.options()
	o.Spark.JobTimeout = time.Second
	return f, o
}

func failed(checks []Check) (Check, bool) {
	for _, c := range checks {
		if !c.OK {
			return c, true
		}
	}
	return Check{}, false
}

// doctor passes against every dialect of the emulator, and stores what it
// learned for the first sync.
func TestDoctorPassesEveryDialect(t *testing.T) {
	for _, d := range sparktest.Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			// One job at a time, as some tenants allow: doctor must leave
			// the tenant free for the first sync.
			f, o := doctorFixture(t, sparktest.Options{Dialect: d, JobLimit: 1})
			checks := f.p.Doctor(context.Background(), o)
			if c, bad := failed(checks); bad {
				t.Fatalf("check %s failed: %s (%s)", c.Name, c.Detail, c.Fix)
			}
			o.Since = f.now.Add(-24 * time.Hour)
			if _, err := f.p.Sync(context.Background(), o); err != nil {
				t.Fatalf("first sync after doctor: %v", err)
			}
			prof, err := load.TenantProfile(context.Background(), f.p.db, o.Tenant)
			if err != nil || prof.EventTypes != d.EventTypes {
				t.Fatalf("stored profile %+v, %v: want event_types form %q", prof, err, d.EventTypes)
			}
			var header string
			for _, c := range checks {
				if c.Name == "header" {
					header = c.Detail
				}
			}
			if !strings.Contains(header, `event_time="Timestamp"`) {
				t.Fatalf("header check says %q: no mapping shown", header)
			}
		})
	}
}

// Each way a first sync goes wrong fails doctor at the right step, with
// what to do.
func TestDoctorSaysWhatToFix(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*SyncOptions)
		step     string
		fixSays  string
		stepSays string
	}{
		{"wrong token", func(o *SyncOptions) { o.Spark.Token = "wrong" }, "token", "token was refused", "401"},
		{"wrong tenant", func(o *SyncOptions) { o.Tenant = "nosuch" }, "tenant", "check --tenant", "404"},
		{"unreachable host", func(o *SyncOptions) { o.Spark.BaseURL = "http://127.0.0.1:1"; o.Spark.Retries = -1 }, "spark host", "cannot reach --spark-url", "refused"},
		{"headers that map to nothing", func(o *SyncOptions) { o.Parse.Columns = []string{"event_type=No Such Header"} }, "header", "--column", "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, o := doctorFixture(t, sparktest.Options{})
			tt.change(&o)
			checks := f.p.Doctor(context.Background(), o)
			c, bad := failed(checks)
			if !bad {
				t.Fatal("doctor passed")
			}
			if c.Name != tt.step || !strings.Contains(c.Fix, tt.fixSays) || !strings.Contains(c.Detail, tt.stepSays) {
				t.Fatalf("first failure: %s: %s -> %s; want step %s saying %q, fix saying %q", c.Name, c.Detail, c.Fix, tt.step, tt.stepSays, tt.fixSays)
			}
			if FirstFailure(checks) == nil {
				t.Fatal("FirstFailure is nil for a failed check")
			}
		})
	}
}
