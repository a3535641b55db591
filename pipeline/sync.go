package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"sparkevents/extract"
	"sparkevents/load"
	"sparkevents/transform"
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
	PageSize                        int // rows per export; a full file means the window is split
	// ExportCap, when known (from Spark support), is the most rows Spark
	// puts in one export; 0 learns it (see exportCap).
	ExportCap int
	Overlap   time.Duration // asked for beyond each window's bounds, in case Spark's are exclusive

	Parse  ParseOptions
	DryRun bool // extract and transform, write nothing

	Now func() time.Time // the clock; nil is time.Now
}

// Summary is what a sync or backfill did.
type Summary struct {
	Windows int // committed, halves of split windows included
	// Jobs counts export jobs run; Splits, the windows whose export may
	// have been cut short and were fetched again in halves.
	Jobs, Splits int
	// JobLatencies are the export jobs' times from submission to their
	// files downloaded, of the jobs that got that far.
	JobLatencies []time.Duration
	Counts       load.Counts
	Bytes        int64 // downloaded
	Requests     int64 // made to Spark
	Retries      int64 // requests sent again after a failure
	RateLimited  int64 // answers asking to slow down, waited out
	Watermark    time.Time
	From, To     time.Time
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

// mid is where a window is split in two.
func (w Window) mid() time.Time {
	return w.Start.Add(w.End.Sub(w.Start) / 2).Truncate(time.Millisecond)
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
	if kind == "sync" && o.filtered() {
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
	window    Window
	started   time.Time // when the export job was submitted
	job       extract.Job
	workbooks []string
	dir       string
	bytes     int64
	latency   time.Duration // from submission to the files downloaded
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
	prof, err := load.TenantProfile(ctx, p.db, opts.Tenant)
	if err != nil {
		return sum, fmt.Errorf("%w: %w", ErrDatabase, err)
	}
	// What earlier runs learned is tried first, unless a flag fixed it.
	if !opts.Spark.FixDialect {
		opts.Spark.Dialect.EventTypes = cmp.Or(opts.Spark.Dialect.EventTypes, prof.EventTypes)
		opts.Spark.Dialect.FolderColumn = cmp.Or(opts.Spark.Dialect.FolderColumn, prof.FolderColumn)
	}
	if prof.OneJob && opts.Spark.JobLimit == 0 {
		opts.Spark.JobLimit = 1
	}
	client, err := extract.New(opts.Spark)
	if err != nil {
		return sum, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	defer func() {
		sum.Requests, sum.Retries, sum.RateLimited = client.Requests(), client.Retries(), client.RateLimited()
	}()
	// What a probe proved holds while Spark's cap stays put: a week on,
	// a lowered cap would pass exports cut at it as complete, so the
	// sizes are measured again.
	if opts.Now().Sub(prof.ProvenAt) > reproveAfter {
		prof.CapRows, prof.MaxRows = 0, 0
	}
	if opts.ExportCap > 0 {
		prof.CapRows = opts.ExportCap
	}
	ecap := newExportCap(opts.PageSize, prof)
	proven := false
	if !opts.DryRun {
		defer func() {
			learned := ecap.profile(opts.Tenant)
			learned.Proven, learned.ProvenAt = proven, opts.Now()
			d := client.Dialect()
			learned.EventTypes, learned.FolderColumn = d.EventTypes, d.FolderColumn
			learned.OneJob = client.JobLimit() == 1
			p.saveProfile(learned)
		}()
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
	if ecap.seen == 0 && ecap.cap == 0 {
		// The probe only saves work: without it, windows are checked by
		// their halves. A Spark that fails it fails the windows loudly too.
		if err := p.probe(ctx, client, opts, pc, ecap, Window{from, to}, &sum); err != nil {
			if ctx.Err() != nil {
				return sum, err
			}
			p.log.Warn("the probe of the tenant's export size failed: going on without it", "tenant", opts.Tenant, "err", err)
		} else {
			proven = true
		}
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
		_, err := p.commitWindow(ctx, kind, client, opts, pc, ecap, w, f, ahead, 0, &sum)
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

// filtered says whether o exports only some events: by type, user,
// service or folder.
func (o SyncOptions) filtered() bool {
	return len(o.EventTypes) > 0 || o.UserName != "" || o.ServiceName != "" || o.FolderID != ""
}

// fetch runs one export job and downloads its files into a new directory
// under tmp.
func (p *Pipeline) fetch(ctx context.Context, client *extract.Client, opts SyncOptions, tmp string, w Window) (f fetched) {
	return p.fetchFrom(ctx, client, opts, tmp, w, time.Time{})
}

// fetchFrom is fetch of an export that starts at from instead (zero: at
// the window's start less the overlap).
func (p *Pipeline) fetchFrom(ctx context.Context, client *extract.Client, opts SyncOptions, tmp string, w Window, from time.Time) (f fetched) {
	f.started = time.Now()
	f.window = w
	ov := w.overlap(opts.Overlap)
	if from.IsZero() {
		from = w.Start.Add(-ov)
	}
	q := extract.Query{
		// Spark's bounds may be exclusive or coarse: ask for a little more
		// on both sides; the upsert absorbs what two windows both export.
		Start: from, End: w.End.Add(ov),
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
	f.latency = time.Since(f.started)
	return f
}

// widen answers an export that Spark called done without a file (in
// f.err): an empty window in one of its dialects, or a file that never
// came. An export of the same window from the tenant's latest stored event
// before it must list a file, so it tells the two apart; its events are
// the window's, and the stored ones it holds again change nothing. It runs
// when the window is committed, after every window before it, so their
// events count as stored. Without a stored event to start from, or with a
// filter the stored event may not pass, the window fails as before.
func (p *Pipeline) widen(ctx context.Context, client *extract.Client, opts SyncOptions, tmp string, w Window, f fetched) fetched {
	if opts.filtered() {
		f.err = fmt.Errorf("%w (a filtered export cannot be proved empty: run it without filters)", f.err)
		return f
	}
	last, ok, err := load.LastEventBefore(ctx, p.db, opts.Tenant, w.Start)
	if err != nil {
		f.err = fmt.Errorf("%w: %w", ErrDatabase, err)
		return f
	}
	if !ok {
		f.err = fmt.Errorf("%w; no event of tenant %s is stored before the window to prove it empty with (run again later, or ask Spark support about the job)", f.err, opts.Tenant)
		return f
	}
	from := last.Add(-time.Second).Truncate(time.Second)
	p.log.Info("export listed no file: fetching its window again from the last stored event, which the export must hold", "tenant", opts.Tenant,
		"window", w.String(), "job", f.job.ID, "from", from.UTC().Format(time.RFC3339))
	wide := p.fetchFrom(ctx, client, opts, tmp, w, from)
	if errors.Is(wide.err, extract.ErrNoFile) {
		wide.err = fmt.Errorf("%w, nor did job %s of the window from the stored event at %s on: Spark lists no file even for an export that holds an event, so nothing of the window was stored (ask Spark support about the jobs)", f.err, wide.job.ID, last.UTC().Format(time.RFC3339Nano))
	}
	return wide
}

// commitWindow loads one fetched window and, for a sync, moves the watermark
// to its end in the same transaction. It returns how many events of the
// window itself (not of the overlap around it) the export held. An export
// that may have been cut short (see exportCap) is rolled back, and its
// window fetched again in halves. atLeast is how many of this window's
// events the export of a larger window held: an export with fewer shows
// that Spark's exports disagree, and nothing of it is committed.
func (p *Pipeline) commitWindow(ctx context.Context, kind string, client *extract.Client, opts SyncOptions, pc parseConfig, ecap *exportCap, w Window, f fetched, ahead sourceAhead, atLeast int, sum *Summary) (int, error) {
	if errors.Is(f.err, extract.ErrNoFile) {
		sum.Jobs++
		f = p.widen(ctx, client, opts, pc.opts.TmpDir, w, f)
		defer os.RemoveAll(f.dir)
	}
	run := load.Run{Kind: kind, Tenant: opts.Tenant, Source: "job " + f.job.ID, WindowStart: w.Start, WindowEnd: w.End, StartedAt: f.started}
	sum.Jobs++
	if f.err != nil {
		if !opts.DryRun {
			p.recordFailure(run, load.Counts{}, f.err)
		}
		return 0, f.err
	}
	sum.Bytes += f.bytes
	sum.JobLatencies = append(sum.JobLatencies, f.latency)
	var whole *retraction
	check := func(l loaded) error {
		if n := l.spread.total(); n < atLeast {
			return fmt.Errorf("%w: Spark's export of %s held %d of its events, fewer than the %d that the export of a larger window around it held: its exports disagree, so nothing of the window was stored; run again, and ask Spark support if it persists", ErrSpark, w, n, atLeast)
		}
		v, why := ecap.judge(l.Rows)
		if v == complete {
			return nil
		}
		if w.End.Sub(w.Start) <= time.Second {
			return fmt.Errorf("%w: the export of %s (asked with %s around it) may have been cut short (%s), and a window of a second cannot be split further: raise --page-size if the tenant's export cap allows, or give --export-cap if Spark support tells you the cap", ErrSpark, w, w.overlap(opts.Overlap), why)
		}
		mid, before, after := l.spread.split()
		whole = &retraction{verdict: v, why: why, rows: l.Rows, mid: mid, events: [2]int{before, after}}
		return errRetract
	}
	var (
		l   loaded
		err error
	)
	if opts.DryRun {
		sp := newSpread(w)
		l, err = p.parseOnly(ctx, f.workbooks, pc, func(e *transform.Event) { sp.add(e.EventTime) })
		l.spread = sp
		if err == nil {
			err = check(l)
		}
	} else {
		l, err = p.loadSource(ctx, run, f.workbooks, pc, ahead, func(ctx context.Context, tx pgx.Tx, sofar loaded) error {
			if err := check(sofar); err != nil {
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
		return p.split(ctx, kind, client, opts, pc, ecap, w, *whole, sum)
	}
	if err != nil {
		return 0, err
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
	return l.spread.total(), nil
}

// retraction is an export rolled back because it may have been cut short.
type retraction struct {
	verdict verdict
	why     string
	rows    int       // rows of the export, the overlap's included
	mid     time.Time // where to split its window
	events  [2]int    // the window's events it held, before mid and from it on
}

// split fetches w's two halves and commits each as a window of its own,
// then compares what they held with the export of the whole: more events
// in the halves prove the whole was cut short, which the tenant's export
// cap learns. It returns the window's events that the halves held.
func (p *Pipeline) split(ctx context.Context, kind string, client *extract.Client, opts SyncOptions, pc parseConfig, ecap *exportCap, w Window, whole retraction, sum *Summary) (int, error) {
	sum.Splits++
	mid := whole.mid
	p.log.Info("export may have been cut short: fetching its window in halves", "tenant", opts.Tenant, "window", w.String(), "verdict", whole.verdict.String(), "why", whole.why)
	got := 0
	for k, half := range []Window{{w.Start, mid}, {mid, w.End}} {
		f := p.fetch(ctx, client, opts, pc.opts.TmpDir, half)
		n, err := p.commitWindow(ctx, kind, client, opts, pc, ecap, half, f, sourceAhead{}, whole.events[k], sum)
		os.RemoveAll(f.dir)
		if err != nil {
			return 0, err
		}
		got += n
	}
	wasCut := got > whole.events[0]+whole.events[1]
	ecap.learn(whole.rows, wasCut)
	if wasCut {
		p.log.Warn("export was cut short: its halves held more events; every event of the window is stored", "tenant", opts.Tenant, "window", w.String(), "export_rows", whole.rows, "window_events", whole.events[0]+whole.events[1], "halves_events", got)
		if !opts.DryRun {
			p.saveProfile(ecap.profile(opts.Tenant))
		}
	} else {
		p.log.Info("export was complete: its halves held the same events", "tenant", opts.Tenant, "window", w.String(), "export_rows", whole.rows)
	}
	return got, nil
}

// saveProfile stores what a run learned of its tenant's Spark. It is
// knowledge, not data: a failure to store it is logged, and learned again.
func (p *Pipeline) saveProfile(prof load.Profile) {
	ctx, cancel := cleanupContext()
	defer cancel()
	if err := load.SaveProfile(ctx, p.db, prof); err != nil {
		p.log.Warn("could not store what was learned of the tenant's Spark", "tenant", prof.Tenant, "err", err)
	}
}

// probeSpan is how far back the probe of a tenant's export size looks.
const probeSpan = 366 * 24 * time.Hour

// reproveAfter is how long what a probe proved of a tenant's export cap is
// trusted before a sync probes again (migration 00011).
const reproveAfter = 7 * 24 * time.Hour

// probe learns what an export of the tenant can hold before its first
// windows: one export of the past year (at least of the run's range),
// counted and never stored. An export is then trusted when it holds fewer
// rows than the probe; without one, every export larger than all before it
// would be verified by fetching its window's halves.
func (p *Pipeline) probe(ctx context.Context, client *extract.Client, opts SyncOptions, pc parseConfig, ecap *exportCap, run Window, sum *Summary) error {
	w := Window{Start: run.End.Add(-probeSpan), End: run.End}
	if run.Start.Before(w.Start) {
		w.Start = run.Start
	}
	p.log.Info("probing how many rows one export of the tenant holds (at its first sync, then weekly)", "tenant", opts.Tenant, "window", w.String())
	f := p.fetch(ctx, client, opts, pc.opts.TmpDir, w)
	defer os.RemoveAll(f.dir)
	sum.Jobs++
	sum.Bytes += f.bytes
	if f.err != nil {
		return fmt.Errorf("probe export of %s: %w", w, f.err)
	}
	sum.JobLatencies = append(sum.JobLatencies, f.latency)
	l, err := p.parseOnly(ctx, f.workbooks, pc, nil)
	if err != nil {
		return fmt.Errorf("probe export of %s: %w", w, err)
	}
	v, why := ecap.judge(l.Rows)
	p.log.Info("probed", "tenant", opts.Tenant, "rows", l.Rows, "verdict", v.String(), "why", why)
	return nil
}
