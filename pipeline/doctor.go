package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sparkevents/extract"
	"sparkevents/load"
	"sparkevents/transform"
)

// Check is one line of doctor's checklist.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do when it failed
	err    error  // classifies the failure for the exit code
}

// FirstFailure is the first failed check's error, for the exit code; nil when
// every check passed.
func FirstFailure(checks []Check) error {
	for _, c := range checks {
		if !c.OK {
			if c.err != nil {
				return c.err
			}
			return fmt.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	return nil
}

// doctorPageSize is the page size of doctor's tiny export: enough to see
// whether Spark honours it, little to download if it does.
const doctorPageSize = 2

// Doctor checks, in the order a sync needs them, the database, the token,
// the tenant and one tiny export end to end (submit, poll, download, parse),
// and learns the tenant's dialect, which it stores for the first sync. A
// check whose prerequisite failed is not run. The pipeline may be Offline:
// the database check then fails and nothing is stored.
func (p *Pipeline) Doctor(ctx context.Context, opts SyncOptions) []Check {
	opts.defaults()
	var checks []Check
	add := func(c Check) bool {
		checks = append(checks, c)
		return c.OK
	}
	dbOK := add(p.checkDatabase(ctx))

	if opts.Spark.Logger == nil {
		opts.Spark.Logger = p.log
	}
	client, err := extract.New(opts.Spark)
	if err != nil {
		add(Check{Name: "spark config", Detail: err.Error(), Fix: "set --spark-url, --tenant and a token or client credentials", err: fmt.Errorf("%w: %w", ErrUsage, err)})
		return checks
	}
	if !add(checkToken(ctx, client)) {
		return checks
	}

	pc, err := p.parseConfig(opts.Parse, opts.Tenant)
	if err != nil {
		add(Check{Name: "parse options", Detail: err.Error(), err: err})
		return checks
	}
	end := opts.Now().Add(-opts.Settle).Truncate(time.Second)
	w := Window{end.Add(-opts.Window), end}
	q := extract.Query{Start: w.Start, End: w.End, PageSize: doctorPageSize}
	start := time.Now()
	job, err := client.Submit(ctx, q)
	if !add(submitCheck(opts, job, err, time.Since(start))) {
		return checks
	}
	defer job.Release()
	start = time.Now()
	files, err := client.Wait(ctx, job)
	if err != nil {
		fix := "see the error; raise --job-timeout if Spark is slow"
		if errors.Is(err, extract.ErrNoFile) {
			// How one dialect answers an empty window: a sync proves those
			// from a stored event, but doctor needs a workbook to check.
			fix = "Spark lists no file for an empty window: run doctor with a --window that holds events"
		}
		add(Check{Name: "export job", Detail: err.Error(), Fix: fix, err: fmt.Errorf("%w: %w", ErrSpark, err)})
		return checks
	}
	add(Check{Name: "export job", OK: true, Detail: fmt.Sprintf("job %s done in %s, %d file(s)", job.ID, time.Since(start).Round(time.Millisecond), len(files))})

	dir, err := os.MkdirTemp(pc.opts.TmpDir, "doctor-")
	if err != nil {
		add(Check{Name: "download", Detail: err.Error(), Fix: "free space in TMPDIR", err: err})
		return checks
	}
	defer os.RemoveAll(dir)
	start = time.Now()
	var workbooks, hosts []string
	for _, f := range files {
		paths, err := client.Download(ctx, f, dir)
		if err != nil {
			add(Check{Name: "download", Detail: err.Error(), Fix: "if the file host needs the token, add it with --trusted-host; a pre-signed link may have expired", err: fmt.Errorf("%w: %w", ErrSpark, err)})
			return checks
		}
		workbooks = append(workbooks, paths...)
		if u, err := url.Parse(f.URL); err == nil && !slices.Contains(hosts, u.Host) {
			hosts = append(hosts, u.Host)
		}
	}
	kind := "XLSX"
	if len(files) > 0 && strings.HasSuffix(strings.ToLower(filepath.Ext(extract.Redact(files[0].URL))), "zip") || len(workbooks) > len(files) {
		kind = "ZIP"
	}
	add(Check{Name: "download", OK: true, Detail: fmt.Sprintf("%s from %s in %s, %d workbook(s)", kind, strings.Join(hosts, ", "), time.Since(start).Round(time.Millisecond), len(workbooks))})

	var times []time.Time
	l, err := p.parseOnly(ctx, workbooks, pc, func(e *transform.Event) { times = append(times, e.EventTime) })
	if !add(headerCheck(l, err)) {
		return checks
	}
	add(timesCheck(w, times))

	ecap := newExportCap(doctorPageSize, load.Profile{})
	ecap.judge(l.Rows)
	prof := ecap.profile(opts.Tenant)
	prof.MaxRows = 0 // a page of 2 proves nothing about larger exports
	paging := "unknown: the window held fewer rows than the page size"
	switch {
	case prof.HonoursPageSize != nil && !*prof.HonoursPageSize:
		paging = fmt.Sprintf("ignored: asked for %d rows, got %d (a sync checks every export for a hidden cap)", doctorPageSize, l.Rows)
	case l.Rows == doctorPageSize:
		paging = fmt.Sprintf("honoured, it seems: asked for %d rows, got %d", doctorPageSize, l.Rows)
	}
	add(Check{Name: "page size", OK: true, Detail: paging})

	// A filter by event type tells which form of event_types Spark takes.
	fq := extract.Query{Start: w.Start, End: w.End, PageSize: doctorPageSize, EventTypes: []string{"SparkLogin"}}
	job.Release()
	if fjob, err := client.Submit(ctx, fq); err != nil {
		add(Check{Name: "filters", Detail: err.Error(), Fix: "backfills with --event-type will fail; set --event-types-form array or string", err: fmt.Errorf("%w: %w", ErrSpark, err)})
	} else {
		// Waited for, so that a tenant that runs one job at a time is free
		// for the first sync when doctor ends.
		wctx, cancel := context.WithTimeout(ctx, min(opts.Spark.JobTimeout, time.Minute))
		_, err := client.Wait(wctx, fjob)
		cancel()
		fjob.Release()
		d := client.Dialect()
		if err != nil && !errors.Is(err, extract.ErrJobTimeout) && !errors.Is(err, extract.ErrNoFile) && !errors.Is(err, context.DeadlineExceeded) {
			add(Check{Name: "filters", Detail: err.Error(), Fix: "backfills with --event-type may fail", err: fmt.Errorf("%w: %w", ErrSpark, err)})
		} else {
			add(Check{Name: "filters", OK: true, Detail: fmt.Sprintf("event_types sent as a JSON %s (job %s)", d.EventTypes, fjob.ID)})
		}
		prof.EventTypes, prof.FolderColumn = d.EventTypes, d.FolderColumn
	}
	prof.OneJob = client.JobLimit() == 1
	if dbOK && !opts.DryRun {
		if err := load.SaveProfile(ctx, p.db, prof); err != nil {
			add(Check{Name: "store what was learned", Detail: err.Error(), err: fmt.Errorf("%w: %w", ErrDatabase, err)})
		}
	}
	return checks
}

func (p *Pipeline) checkDatabase(ctx context.Context) Check {
	c := Check{Name: "database"}
	if p.db == nil {
		c.Detail, c.Fix = "not connected", "set --database-url (DATABASE_URL) or the PG* variables"
		c.err = ErrDatabase
		return c
	}
	ms, err := load.Migrations(ctx, p.db, p.schema)
	if err != nil {
		c.Detail, c.Fix, c.err = err.Error(), "check --database-url (DATABASE_URL) and that the server is up", fmt.Errorf("%w: %w", ErrDatabase, err)
		return c
	}
	var applied, pending int64
	for _, m := range ms {
		if m.Applied {
			applied = max(applied, m.Version)
		} else {
			pending++
		}
	}
	c.OK = pending == 0
	c.Detail = fmt.Sprintf("schema %s at version %d, %d migration(s) pending", p.schema, applied, pending)
	if !c.OK {
		c.Fix = "run sparkevents migrate up (a sync also migrates)"
		c.err = fmt.Errorf("%w: %d migration(s) pending", ErrDatabase, pending)
	}
	return c
}

func checkToken(ctx context.Context, client *extract.Client) Check {
	src := client.TokenSource()
	if err := client.CheckToken(ctx); err != nil {
		return Check{Name: "token", Detail: err.Error(), Fix: "check SPARK_CLIENT_ID and SPARK_CLIENT_SECRET, and --token-url if the derived one is wrong", err: fmt.Errorf("%w: %w", ErrSpark, err)}
	}
	if src == "static" {
		return Check{Name: "token", OK: true, Detail: "static bearer token (checked by the export below)"}
	}
	return Check{Name: "token", OK: true, Detail: "client credentials accepted by " + src}
}

// submitCheck reads a submission's failure as what a user must fix: the
// token, the tenant, the URL.
func submitCheck(opts SyncOptions, job extract.Job, err error, took time.Duration) Check {
	c := Check{Name: "tenant"}
	if err == nil {
		c.OK = true
		c.Detail = fmt.Sprintf("export job %s accepted for tenant %s in %s", job.ID, opts.Tenant, took.Round(time.Millisecond))
		return c
	}
	c.Detail, c.err = err.Error(), fmt.Errorf("%w: %w", ErrSpark, err)
	var se *extract.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == 401:
		c.Name, c.Fix = "token", "the token was refused: get a new one, or use client credentials"
	case errors.As(err, &se) && se.StatusCode == 403:
		c.Fix = "the token's user or client may not export events of this tenant: check --tenant and its roles"
	case errors.As(err, &se) && se.StatusCode == 404:
		c.Fix = "no such tenant or API path: check --tenant and --spark-url (the base URL, without /api/...)"
	case errors.As(err, &se):
		c.Fix = "see Spark's answer above"
	default:
		c.Name, c.Fix = "spark host", "cannot reach --spark-url: check the URL, DNS, proxy and firewall"
	}
	return c
}

func headerCheck(l loaded, err error) Check {
	c := Check{Name: "header"}
	if err != nil {
		c.Detail, c.err = err.Error(), err
		c.Fix = "map the export's headers with --column FIELD=HEADER"
		return c
	}
	if len(l.layouts) == 0 {
		c.OK = true
		c.Detail = "the export was blank: no header to check (a longer --window finds events)"
		return c
	}
	var parts []string
	for _, lay := range l.layouts {
		fields := make([]string, 0, len(lay.Fields))
		for f, h := range lay.Fields {
			fields = append(fields, fmt.Sprintf("%s=%q", f, h))
		}
		slices.Sort(fields)
		s := fmt.Sprintf("sheet %q row %d: %s", lay.Sheet, lay.HeaderRow, strings.Join(fields, ", "))
		if len(lay.Extra) > 0 {
			s += fmt.Sprintf("; kept as attributes: %q", lay.Extra)
		}
		parts = append(parts, s)
	}
	c.Detail = strings.Join(parts, "; ")
	c.OK = l.Counts.Rejected == 0
	if !c.OK {
		c.Fix = fmt.Sprintf("%d of %d rows were rejected: map the headers with --column FIELD=HEADER, or check --source-timezone and --day-first", l.Counts.Rejected, l.Rows)
		c.err = fmt.Errorf("%w: %d of %d rows rejected", ErrInput, l.Counts.Rejected, l.Rows)
	}
	return c
}

// timesCheck looks at the events' times: milliseconds kept, and whether
// they fall in the window asked for, as they do when the zone is right.
func timesCheck(w Window, times []time.Time) Check {
	c := Check{Name: "times", OK: true}
	if len(times) == 0 {
		c.Detail = "no event to look at"
		return c
	}
	sub := slices.ContainsFunc(times, func(t time.Time) bool { return t.Nanosecond() != 0 })
	early, late := slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare)
	c.Detail = fmt.Sprintf("%d events from %s to %s; sub-second: %v", len(times), early.UTC().Format(time.RFC3339Nano), late.UTC().Format(time.RFC3339Nano), sub)
	// Bounds a minute wider than the window absorb Spark's rounding; hours
	// off are a time zone.
	slack := time.Minute
	if early.Before(w.Start.Add(-slack)) || late.After(w.End.Add(slack)) {
		c.OK = false
		c.Fix = "times fall outside the window asked for: the export may write local times without a zone; set --source-timezone (an IANA zone or an offset such as +08:00)"
		c.err = fmt.Errorf("%w: event times outside the window asked for", ErrInput)
	}
	return c
}
