package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"sparkevents/extract"
	"sparkevents/extract/sparktest"
	"sparkevents/load"
)

// Every dialect Spark plausibly speaks, with a cap hidden below the page
// size and a quiet day: a sync stores exactly the events of its range, or
// fails with the watermark before the first event it did not store.
func TestSyncSpeaksEveryDialect(t *testing.T) {
	for _, d := range sparktest.Dialects() {
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newSyncFixture(t, sparktest.Options{Dialect: d, PageSize: 25})
			evs := dailyEvents(f, []int{40, 0, 60, 12}) // day 2 is quiet
			o := f.options()
			o.Since = f.now.Add(-4 * 24 * time.Hour)
			o.Spark.JobTimeout = time.Second
			sum, err := f.p.Sync(ctx, o)
			if d.EmptyWindow == "nofile" {
				// A job done without a file cannot be told from one whose
				// file is late: the quiet day fails loudly, after day 1.
				if !errors.Is(err, extract.ErrJobTimeout) {
					t.Fatalf("sync: %v, want the quiet day's job to time out", err)
				}
				day2 := f.now.Add(-3 * 24 * time.Hour)
				if wm, ok, _ := f.p.watermark(ctx, o.Tenant); !ok || !wm.Equal(day2) {
					t.Fatalf("watermark %s (%v), want the end of day 1, %s", wm, ok, day2)
				}
				f.wantStored(t, evs[:40])
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.wantStored(t, evs)
			if want := f.now.Add(-o.Settle); !sum.Watermark.Equal(want) {
				t.Fatalf("watermark %s, want %s", sum.Watermark, want)
			}
			prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
			if err != nil || prof.CapRows != 25 {
				t.Fatalf("profile %+v, %v: want the hidden cap of 25 learned", prof, err)
			}
		})
	}
}

// A backfill filtered by event type sends the filter in the form the
// dialect accepts, learns it, and stores exactly the filtered events; the
// next run sends the learned form first.
func TestBackfillFiltersInEveryDialect(t *testing.T) {
	for _, d := range sparktest.Dialects() {
		if d.EmptyWindow == "nofile" {
			d.EmptyWindow = "header" // no quiet day here: TestSyncSpeaksEveryDialect has it
		}
		t.Run(d.Name, func(t *testing.T) {
			ctx := context.Background()
			f := newSyncFixture(t, sparktest.Options{Dialect: d})
			evs := dailyEvents(f, []int{30, 20})
			o := f.options()
			o.EventTypes = []string{"PublishEngine"}
			from, to := f.now.Add(-2*24*time.Hour), f.now
			if _, err := f.p.Backfill(ctx, o, from, to); err != nil {
				t.Fatal(err)
			}
			var want []sparktest.Event
			for _, e := range evs {
				if e.Type == "PublishEngine" {
					want = append(want, e)
				}
			}
			f.wantStored(t, want)
			prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
			if err != nil || prof.EventTypes != d.EventTypes {
				t.Fatalf("profile %+v, %v: want event_types form %q learned", prof, err, d.EventTypes)
			}
			refused := len(f.spark.Rejected())
			if _, err := f.p.Backfill(ctx, o, from, to); err != nil {
				t.Fatal(err)
			}
			if n := len(f.spark.Rejected()); n != refused {
				t.Fatalf("the second backfill had %d submissions refused: it did not use the learned form", n-refused)
			}
		})
	}
}

// No secret (the client secret, a token, a file URL's secret path segment)
// reaches a log line at debug level, an error, or etl_runs, which the
// grant-reader role can read: not in a sync that works, nor in one whose
// downloads fail.
func TestSyncHidesSecrets(t *testing.T) {
	ctx := context.Background()
	var d sparktest.Dialect
	for _, v := range sparktest.Dialects() {
		if v.SecretPaths {
			d = v
		}
	}
	const clientSecret = "cs-0123456789abcdefSECRET"
	f := newSyncFixture(t, sparktest.Options{Dialect: d, ClientID: "etl", ClientSecret: clientSecret})
	var logs bytes.Buffer
	p, err := Open(ctx, Config{DatabaseURL: f.url, Schema: "sparkevents", Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dailyEvents(f, []int{5, 5})
	o := f.options()
	o.Spark.Token, o.Spark.ClientID, o.Spark.ClientSecret, o.Spark.TokenURL = "", "etl", clientSecret, f.spark.TokenURL
	o.Since = f.now.Add(-2 * 24 * time.Hour)
	o.Spark.Retries = 1
	var errs []string
	if _, err := p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	f.spark.SetFaults(sparktest.Faults{ForbidFiles: 100})
	if _, err := p.Sync(ctx, o); err == nil {
		t.Fatal("sync with forbidden files succeeded")
	} else {
		errs = append(errs, err.Error())
	}
	secrets := append(f.spark.FileSecrets(), clientSecret)
	if len(secrets) < 2 {
		t.Fatal("the emulator issued no secret file link")
	}
	var stored string
	if err := f.p.db.QueryRow(ctx, "SELECT coalesce(string_agg(error, ' '), '') FROM etl_runs").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"level":"DEBUG"`) || stored == "" {
		t.Fatal("nothing logged at debug level, or no failed run stored: the test sees nothing")
	}
	for _, s := range secrets {
		for name, text := range map[string]string{"logs": logs.String(), "error": strings.Join(errs, "\n"), "etl_runs": stored} {
			if strings.Contains(text, s) {
				t.Errorf("secret %q in the %s", s, name)
			}
		}
	}
	// Issued tokens are "cc-" and a UUID; a bare "cc-" would also match
	// the inside of a logged job ID (…-4acc-…).
	if regexp.MustCompile(`(^|[^0-9a-f])cc-[0-9a-f]{8}-`).MatchString(logs.String()) {
		t.Error("an issued token (cc-...) is in the logs")
	}
}
