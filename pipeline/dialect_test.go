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

// A job done without a file (Spark's answer for an empty window in one
// dialect, or a file that never came) is fetched again from the tenant's
// last stored event: a file proves the window, and no file even then, or
// no stored event to start from, fails the window loudly.
func TestSyncProvesAWindowWithoutAFile(t *testing.T) {
	nofile := sparktest.Dialect{EmptyWindow: "nofile"}
	t.Run("quiet day after stored events", func(t *testing.T) {
		ctx := context.Background()
		f := newSyncFixture(t, sparktest.Options{Dialect: nofile})
		evs := dailyEvents(f, []int{30, 0, 0, 20})
		o := f.options()
		o.Spark.NoFileWait = 50 * time.Millisecond
		o.Since = f.now.Add(-4 * 24 * time.Hour)
		sum, err := f.p.Sync(ctx, o)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		f.wantStored(t, evs)
		if want := f.now.Add(-o.Settle); !sum.Watermark.Equal(want) {
			t.Fatalf("watermark %s, want %s", sum.Watermark, want)
		}
	})
	t.Run("no stored event before it", func(t *testing.T) {
		ctx := context.Background()
		f := newSyncFixture(t, sparktest.Options{Dialect: nofile})
		evs := dailyEvents(f, []int{0, 25})
		o := f.options()
		o.Spark.NoFileWait = 50 * time.Millisecond
		o.Since = f.now.Add(-2 * 24 * time.Hour)
		_, err := f.p.Sync(ctx, o)
		if !errors.Is(err, extract.ErrNoFile) || !strings.Contains(err.Error(), "no event of tenant") {
			t.Fatalf("sync: %v, want the quiet first day to fail saying no event is stored before it", err)
		}
		if _, ok, _ := f.p.watermark(ctx, o.Tenant); ok {
			t.Fatal("the watermark moved past a window without a file")
		}
		f.wantStored(t, nil)
		_ = evs
	})
	t.Run("no file even from a stored event", func(t *testing.T) {
		ctx := context.Background()
		f := newSyncFixture(t, sparktest.Options{Dialect: nofile})
		// A stored event that Spark no longer has: the export from it
		// holds nothing either.
		if _, err := f.p.db.Exec(ctx, `INSERT INTO spark_events (tenant, event_id, event_time, event_type, first_run_id, last_run_id)
			VALUES ($1, 'gone-1', $2, 'SparkLogin', 0, 0)`, f.options().Tenant, f.now.Add(-3*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		o := f.options()
		o.Spark.NoFileWait = 50 * time.Millisecond
		o.Since = f.now.Add(-2 * 24 * time.Hour)
		_, err := f.p.Sync(ctx, o)
		if !errors.Is(err, extract.ErrNoFile) || !strings.Contains(err.Error(), "from the stored event") {
			t.Fatalf("sync: %v, want the window to fail: no file even from the stored event", err)
		}
		if _, ok, _ := f.p.watermark(ctx, o.Tenant); ok {
			t.Fatal("the watermark moved past a window without a file")
		}
	})
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
	// The emulator issues "cc-" and a UUID: request and job IDs hold
	// UUIDs too, so the token is told by the prefix on its own.
	if tok := regexp.MustCompile(`(^|[^0-9a-f-])cc-[0-9a-f]{8}-[0-9a-f]{4}-`).FindString(logs.String()); tok != "" {
		t.Errorf("an issued token (%s...) is in the logs", tok)
	}
}

// A tenant that runs one export job at a time is remembered: the next sync
// submits one job at a time from the start, and Spark refuses none.
func TestSyncRemembersAOneJobTenant(t *testing.T) {
	ctx := context.Background()
	f := newSyncFixture(t, sparktest.Options{JobLimit: 1})
	dailyEvents(f, []int{5, 5, 5, 5})
	o := f.options()
	o.Parallel = 4
	o.Since = f.now.Add(-4 * 24 * time.Hour)
	if _, err := f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	if f.spark.Stats().JobsRefused == 0 {
		t.Fatal("no job was refused: the test proves nothing")
	}
	prof, err := load.TenantProfile(ctx, f.p.db, o.Tenant)
	if err != nil || !prof.OneJob {
		t.Fatalf("profile %+v, %v: one job at a time not learned", prof, err)
	}
	refused := f.spark.Stats().JobsRefused
	f.now = f.now.Add(24 * time.Hour)
	dailyEvents(f, []int{5})
	if _, err := f.p.Sync(ctx, o); err != nil {
		t.Fatal(err)
	}
	if n := f.spark.Stats().JobsRefused - refused; n != 0 {
		t.Fatalf("the second sync had %d jobs refused: it did not start one at a time", n)
	}
}
