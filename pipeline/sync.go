package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/extract"
	"sparkevents/load"
)

// SyncOptions configure sync and backfill.
type SyncOptions struct {
	Spark    extract.Config
	Tenant   string
	Since    time.Time     // where a tenant's first sync starts
	Lookback time.Duration // re-read this much before the watermark, for late events
	Settle   time.Duration // leave the newest events until Spark has settled them
	Window   time.Duration // the span of one export job
	Parallel int           // export jobs in flight at once

	EventTypes                      []string
	UserName, ServiceName, FolderID string
	PageSize                        int           // rows per export; a full file means the window is split
	Overlap                         time.Duration // asked for beyond each window's bounds, in case Spark's are exclusive

	Parse  ParseOptions
	DryRun bool // extract and transform, write nothing

	Now func() time.Time // the clock; nil is time.Now
}

// Summary is what a sync or backfill did.
type Summary struct {
	Windows   int
	Counts    load.Counts
	Bytes     int64 // downloaded
	Requests  int64 // made to Spark
	Watermark time.Time
	From, To  time.Time
}

// MaxWindows bounds the windows one sync or backfill plans: 100,000 are
// 274 years of daily windows, or 11 years of hourly ones.
const MaxWindows = 100_000

// Window is a half-open span [Start, End) of event time.
type Window struct{ Start, End time.Time }

// overlap is how much beyond w to ask for: asked, at most a second or half
// the window, whichever is more. A window split because its export was full
// is small, and a full overlap around it would keep asking for the rows
// that filled it; a second still covers bounds that are exclusive or
// rounded to the second.
func (w Window) overlap(asked time.Duration) time.Duration {
	return min(asked, max(w.End.Sub(w.Start)/2, time.Second))
}

func (w Window) String() string {
	// Milliseconds show only when there are some: split windows have them.
	const layout = "2006-01-02T15:04:05.999Z07:00"
	return w.Start.UTC().Format(layout) + "/" + w.End.UTC().Format(layout)
}

// PlanWindows splits [from, to) into windows of at most size.
func PlanWindows(from, to time.Time, size time.Duration) []Window {
	var ws []Window
	for s := from; s.Before(to); s = s.Add(size) {
		e := s.Add(size)
		if e.After(to) {
			e = to
		}
		ws = append(ws, Window{s, e})
	}
	return ws
}

// Check reports options that would lose events, as ErrUsage: a negative
// settle or overlap narrows what is asked below what the watermark then
// covers, and the watermark is the tenant's, so a sync may not filter.
// Sync and Backfill call it; a caller may call it before opening anything.
func (o *SyncOptions) Check(kind string) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--lookback", o.Lookback}, {"--settle", o.Settle}, {"--overlap", o.Overlap}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %s is negative", ErrUsage, d.name, d.v)
		}
	}
	if kind == "sync" && (len(o.EventTypes) > 0 || o.UserName != "" || o.ServiceName != "" || o.FolderID != "") {
		return fmt.Errorf("%w: a sync exports every event: it moves the tenant's watermark, which would pass the events a filter left out; filter a backfill instead", ErrUsage)
	}
	return nil
}

func (o *SyncOptions) defaults() {
	if o.Window <= 0 {
		o.Window = 24 * time.Hour
	}
	if o.Parallel <= 0 {
		o.Parallel = 1
	}
	if o.PageSize <= 0 {
		o.PageSize = 100000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Spark.Tenant = o.Tenant
}

// Sync brings the tenant's events up to date: from the watermark less the
// lookback (or --since on the first sync) to now less the settle time. Each
// window commits with the watermark moved to its end, in order.
func (p *Pipeline) Sync(ctx context.Context, opts SyncOptions) (Summary, error) {
	if err := opts.Check("sync"); err != nil {
		return Summary{}, err
	}
	opts.defaults()
	if opts.Tenant == "" {
		return Summary{}, fmt.Errorf("%w: a tenant is required (--tenant or SPARK_TENANT)", ErrUsage)
	}
	from, err := p.syncStart(ctx, opts)
	if err != nil {
		return Summary{}, err
	}
	to := opts.Now().Add(-opts.Settle).Truncate(time.Second)
	return p.runWindows(ctx, "sync", opts, from, to)
}

// Backfill reloads [from, to) in windows without touching the watermark.
func (p *Pipeline) Backfill(ctx context.Context, opts SyncOptions, from, to time.Time) (Summary, error) {
	if err := opts.Check("backfill"); err != nil {
		return Summary{}, err
	}
	opts.defaults()
	if opts.Tenant == "" {
		return Summary{}, fmt.Errorf("%w: a tenant is required (--tenant or SPARK_TENANT)", ErrUsage)
	}
	if !from.Before(to) {
		return Summary{}, fmt.Errorf("%w: --from %s is not before --to %s", ErrUsage, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return p.runWindows(ctx, "backfill", opts, from, to)
}

func (p *Pipeline) syncStart(ctx context.Context, opts SyncOptions) (time.Time, error) {
	wm, ok, err := p.watermark(ctx, opts.Tenant)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		if opts.Since.IsZero() {
			return time.Time{}, fmt.Errorf("%w: tenant %s has never been synced: give --since, a date (2026-01-01) or a duration back from now (720h)", ErrUsage, opts.Tenant)
		}
		// A first sync that plans nothing stores no watermark, so a --since
		// in the future (a typo) would report success and leave the next
		// sync without one.
		if end := opts.Now().Add(-opts.Settle); !opts.Since.Before(end) {
			return time.Time{}, fmt.Errorf("%w: --since %s is not before now less --settle (%s): a first sync starts in the past", ErrUsage, opts.Since.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
		}
		return opts.Since, nil
	}
	if !opts.Since.IsZero() {
		p.log.Warn("tenant has a watermark: --since ignored; use backfill to reload older events", "tenant", opts.Tenant, "watermark", wm)
	}
	return wm.Add(-opts.Lookback), nil
}

// watermark reads the tenant's watermark; a database never migrated (as a
// dry run may find it) has none.
func (p *Pipeline) watermark(ctx context.Context, tenant string) (time.Time, bool, error) {
	v, err := load.SchemaVersion(ctx, p.db, p.schema)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %w", ErrDatabase, err)
	}
	if v == 0 {
		return time.Time{}, false, nil
	}
	wm, ok, err := load.Watermark(ctx, p.db, tenant)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %w", ErrDatabase, err)
	}
	return wm, ok, nil
}

// fetched is one window's export, downloaded.
type fetched struct {
	started   time.Time // when the export job was submitted
	job       extract.Job
	workbooks []string
	dir       string
	bytes     int64
	err       error
}

func (p *Pipeline) runWindows(ctx context.Context, kind string, opts SyncOptions, from, to time.Time) (sum Summary, err error) {
	sum = Summary{From: from, To: to}
	pc, err := p.parseConfig(opts.Parse, opts.Tenant)
	if err != nil {
		return sum, err
	}
	if opts.Spark.Logger == nil {
		opts.Spark.Logger = p.log
	}
	client, err := extract.New(opts.Spark)
	if err != nil {
		return sum, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	defer func() { sum.Requests = client.Requests() }()

	if !opts.DryRun {
		unlock, err := load.LockTenant(ctx, p.db, p.schema, opts.Tenant)
		if err != nil {
			if errors.Is(err, load.ErrLocked) {
				return sum, err
			}
			return sum, fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		defer unlock()
	}

	// Each window is an export job and holds memory until it commits: a
	// tiny --window over months would plan millions of them.
	if n := to.Sub(from) / opts.Window; n > MaxWindows {
		return sum, fmt.Errorf("%w: --window %s makes %d windows from %s to %s, more than %d: use a longer --window", ErrUsage, opts.Window, n, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), MaxWindows)
	}
	windows := PlanWindows(from, to, opts.Window)
	if len(windows) == 0 {
		p.log.Info("up to date", "tenant", opts.Tenant, "from", from, "to", to)
		return sum, nil
	}
	p.log.Info("planned", "kind", kind, "tenant", opts.Tenant, "from", from, "to", to, "windows", len(windows), "parallel", opts.Parallel)
	p.progress.Start("windows", int64(len(windows)))
	defer p.progress.Finish()

	// Export jobs run ahead in parallel; windows commit strictly in order,
	// so the watermark only ever covers a gapless prefix. The semaphore is
	// released after commit, bounding the downloads waiting on disk.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(windows))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	sem := make(chan struct{}, opts.Parallel)
	var fetchers sync.WaitGroup
	fetchers.Add(1)
	go func() {
		defer fetchers.Done()
		for i, w := range windows {
			select {
			case sem <- struct{}{}:
			case <-fctx.Done():
				return
			}
			fetchers.Add(1)
			go func() {
				defer fetchers.Done()
				results[i] <- p.fetch(fctx, client, opts, pc.opts.TmpDir, w)
			}()
		}
	}()
	defer func() {
		// Stop the fetchers, wait for them, and remove the downloads of
		// windows that will not be committed.
		cancel()
		fetchers.Wait()
		for _, ch := range results {
			select {
			case f := <-ch:
				os.RemoveAll(f.dir)
			default:
			}
		}
	}()

	// While a window's last chunk merges and commits, the parser's core
	// would idle: if the next window is already downloaded, its first
	// workbook starts parsing then. One window ahead at most: PostgreSQL
	// needs the other core.
	var (
		next      *fetched
		nextParse *parse
	)
	defer func() {
		if nextParse != nil {
			nextParse.close()
		}
		if next != nil {
			os.RemoveAll(next.dir)
		}
	}()
	for i, w := range windows {
		var f fetched
		if next != nil {
			f, next = *next, nil
		} else {
			select {
			case f = <-results[i]:
			case <-ctx.Done():
				return sum, resumeHint(kind, opts, windows, i, ctx.Err())
			}
		}
		ahead := sourceAhead{first: nextParse}
		nextParse = nil
		if f.err != nil && ahead.first != nil {
			ahead.first.close()
			ahead.first = nil
		}
		if !opts.DryRun && i+1 < len(windows) {
			ahead.lastParsed = func() {
				select {
				case nf := <-results[i+1]:
					next = &nf
					if nf.err == nil && len(nf.workbooks) > 0 {
						p.log.Debug("parsing the next window ahead", "window", windows[i+1].String())
						nextParse = p.startParse(ctx, nf.workbooks[0], pc)
					}
				default:
				}
			}
		}
		err := p.commitWindow(ctx, kind, client, opts, pc, w, f, ahead, &sum)
		os.RemoveAll(f.dir)
		<-sem
		if err != nil {
			return sum, resumeHint(kind, opts, windows, i, fmt.Errorf("window %s: %w", w, err))
		}
	}
	return sum, nil
}

// resumeHint tells how to go on from a backfill that stopped at windows[i]:
// the windows before it are committed, and running them again would repeat
// their export jobs for nothing. A sync needs no hint: it resumes from its
// watermark.
func resumeHint(kind string, opts SyncOptions, windows []Window, i int, err error) error {
	if kind != "backfill" || opts.DryRun || i == 0 {
		return err
	}
	at := windows[i].Start.UTC().Format(time.RFC3339)
	stored := fmt.Sprintf("the %d windows before %s are", i, at)
	if i == 1 {
		stored = "the window before " + at + " is"
	}
	return fmt.Errorf("%w (%s stored: to go on, run the backfill again with --from %s and the same other options)", err, stored, at)
}

// fetch runs one export job and downloads its files into a new directory
// under tmp.
func (p *Pipeline) fetch(ctx context.Context, client *extract.Client, opts SyncOptions, tmp string, w Window) (f fetched) {
	f.started = time.Now()
	ov := w.overlap(opts.Overlap)
	q := extract.Query{
		// Spark's bounds may be exclusive or coarse: ask for a little more
		// on both sides; the upsert absorbs what two windows both export.
		Start: w.Start.Add(-ov), End: w.End.Add(ov),
		EventTypes: opts.EventTypes, UserName: opts.UserName,
		ServiceName: opts.ServiceName, FolderID: opts.FolderID,
		PageSize: opts.PageSize,
	}
	job, err := client.Submit(ctx, q)
	if err != nil {
		f.err = fmt.Errorf("%w: submit export job: %w", ErrSpark, err)
		return f
	}
	// The job's slot frees once its files are here: a tenant may allow
	// one job at a time.
	defer job.Release()
	f.job = job
	p.log.Debug("job submitted", "tenant", opts.Tenant, "window", w.String(), "job", job.ID)
	files, err := client.Wait(ctx, job)
	if err != nil {
		f.err = fmt.Errorf("%w: %w", ErrSpark, err)
		return f
	}
	if f.dir, err = os.MkdirTemp(tmp, "job-"); err != nil {
		f.err = err
		return f
	}
	for _, file := range files {
		paths, err := client.Download(ctx, file, f.dir)
		if err != nil {
			f.err = fmt.Errorf("%w: job %s: %w", ErrSpark, job.ID, err)
			return f
		}
		f.workbooks = append(f.workbooks, paths...)
	}
	for _, path := range f.workbooks {
		if fi, err := os.Stat(path); err == nil {
			f.bytes += fi.Size()
		}
	}
	return f
}

// commitWindow loads one fetched window and, for a sync, moves the watermark
// to its end in the same transaction. A window whose export came back full
// (exactly the page size) may have been cut short: it is split in two and
// each half fetched again.
func (p *Pipeline) commitWindow(ctx context.Context, kind string, client *extract.Client, opts SyncOptions, pc parseConfig, w Window, f fetched, ahead sourceAhead, sum *Summary) error {
	run := load.Run{Kind: kind, Tenant: opts.Tenant, Source: "job " + f.job.ID, WindowStart: w.Start, WindowEnd: w.End, StartedAt: f.started}
	if f.err != nil {
		if !opts.DryRun {
			p.recordFailure(run, load.Counts{}, f.err)
		}
		return f.err
	}
	sum.Bytes += f.bytes
	// A full export may have been cut short: split the window and fetch each
	// half, down to a second; a second that still fills it cannot be split.
	checkCap := func(rows int) error {
		if rows < opts.PageSize {
			return nil
		}
		if w.End.Sub(w.Start) > time.Second {
			return errRetract
		}
		return fmt.Errorf("%w: the export of %s (asked with %s around it) returned %d rows, the page size, and cannot be split further: raise --page-size if the tenant's export cap allows", ErrSpark, w, w.overlap(opts.Overlap), rows)
	}
	var (
		l   loaded
		err error
	)
	if opts.DryRun {
		l, err = p.parseOnly(ctx, f.workbooks, pc)
		if err == nil {
			err = checkCap(l.Rows)
		}
	} else {
		l, err = p.loadSource(ctx, run, f.workbooks, pc, ahead, func(ctx context.Context, tx pgx.Tx, sofar loaded) error {
			if err := checkCap(sofar.Rows); err != nil {
				return err
			}
			// Every row bad is what a changed export layout looks like:
			// moving the watermark past it would need a backfill to repair.
			if !pc.limit.AcceptsAll() && sofar.Rows > 0 && sofar.rejected() == sofar.Rows {
				return fmt.Errorf("%w: all %d rows of the export were rejected (each is in the log): has the workbook layout changed? map headers with --column, or accept with --max-rejects 100%%", ErrInput, sofar.Rows)
			}
			if kind != "sync" {
				return nil
			}
			return load.SetWatermark(ctx, tx, opts.Tenant, w.End, sofar.RunID)
		})
	}
	if errors.Is(err, errRetract) {
		return p.split(ctx, kind, client, opts, pc, w, sum)
	}
	if err != nil {
		return err
	}
	sum.Windows++
	sum.Counts = addCounts(sum.Counts, l.Counts)
	if kind == "sync" && !opts.DryRun {
		sum.Watermark = w.End
	}
	p.progress.Add(1)
	p.progress.Describe(fmt.Sprintf("%d rows, %d MiB", sum.Counts.Read, sum.Bytes>>20))
	p.log.Info("window done", "kind", kind, "tenant", opts.Tenant, "window", w.String(), "job", f.job.ID,
		"run", l.RunID, "read", l.Counts.Read, "inserted", l.Counts.Inserted, "updated", l.Counts.Updated,
		"unchanged", l.Counts.Unchanged, "rejected", l.Counts.Rejected, "dry_run", opts.DryRun)
	return nil
}

func (p *Pipeline) split(ctx context.Context, kind string, client *extract.Client, opts SyncOptions, pc parseConfig, w Window, sum *Summary) error {
	mid := w.Start.Add(w.End.Sub(w.Start) / 2).Truncate(time.Millisecond)
	p.log.Info("export hit the page size: splitting the window", "tenant", opts.Tenant, "window", w.String(), "page_size", opts.PageSize)
	for _, half := range []Window{{w.Start, mid}, {mid, w.End}} {
		f := p.fetch(ctx, client, opts, pc.opts.TmpDir, half)
		err := p.commitWindow(ctx, kind, client, opts, pc, half, f, sourceAhead{}, sum)
		os.RemoveAll(f.dir)
		if err != nil {
			return err
		}
	}
	return nil
}
