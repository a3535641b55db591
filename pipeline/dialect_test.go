package pipeline

import (
	"context"
	"errors"
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

// A file URL whose path holds a credential never reaches etl_runs, which
// the grant-reader role can read.
func TestFailedRunHidesSecretFilePaths(t *testing.T) {
	ctx := context.Background()
	var d sparktest.Dialect
	for _, v := range sparktest.Dialects() {
		if v.SecretPaths {
			d = v
		}
	}
	f := newSyncFixture(t, sparktest.Options{Dialect: d})
	dailyEvents(f, []int{5})
	f.spark.SetFaults(sparktest.Faults{ForbidFiles: 100})
	o := f.options()
	o.Since = f.now.Add(-24 * time.Hour)
	_, err := f.p.Sync(ctx, o)
	if err == nil {
		t.Fatal("sync with forbidden files succeeded")
	}
	secrets := f.spark.FileSecrets()
	if len(secrets) == 0 {
		t.Fatal("the emulator issued no secret file link")
	}
	var stored string
	if err := f.p.db.QueryRow(ctx, "SELECT coalesce(string_agg(error, ' '), '') FROM etl_runs").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(stored, s) {
			t.Fatalf("secret path segment %q in the error or etl_runs:\n%v\n%s", s, err, stored)
		}
	}
}
