package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"sparkevents/internal/pseudo"
	"sparkevents/load"
	"sparkevents/transform"
)

// ParseOptions say how workbooks become events; they come from the CLI as text.
type ParseOptions struct {
	Columns        []string // overrides, each "field=Header"
	SourceTimezone string   // zone of times written without one, IANA or an offset (transform.ParseZone); "" is UTC
	DayFirst       bool     // read slash dates such as 03/04/2026 as day/month
	MaxRejects     string   // a count ("100") or a percentage ("1%"); "" is no limit
	MaxUnzipped    int64    // bound on a workbook's unzipped size; 0 is transform's default
	Reader         string   // worksheet reader, transform.ReaderFast (also "") or ReaderExcelize
	// HMACKeyFile, when set, names the key file (pseudo.ReadKey) under
	// which user names and IP addresses are stored as keyed pseudonyms.
	HMACKeyFile string
}

type parseConfig struct {
	opts  transform.Options
	limit transform.RejectLimit
}

// parseConfig compiles o for tenant, with the run's directory of
// temporary files.
func (p *Pipeline) parseConfig(o ParseOptions, tenant string) (parseConfig, error) {
	pc, err := o.compile(tenant)
	if err != nil {
		return pc, err
	}
	pc.opts.TmpDir, err = p.tempDir()
	return pc, err
}

func (o ParseOptions) compile(tenant string) (parseConfig, error) {
	pc := parseConfig{opts: transform.Options{Tenant: tenant, MaxUnzipSize: o.MaxUnzipped, DayFirst: o.DayFirst, Reader: o.Reader}}
	if len(o.Columns) > 0 {
		pc.opts.Columns = make(map[string]string, len(o.Columns))
		for _, c := range o.Columns {
			field, header, err := transform.ParseColumnFlag(c)
			if err != nil {
				return pc, fmt.Errorf("%w: --column %q: %w", ErrUsage, c, err)
			}
			pc.opts.Columns[field] = header
		}
	}
	if o.SourceTimezone != "" {
		loc, err := transform.ParseZone(o.SourceTimezone)
		if err != nil {
			return pc, fmt.Errorf("%w: --source-timezone: %w", ErrUsage, err)
		}
		pc.opts.Location = loc
	}
	if o.MaxRejects != "" {
		l, err := transform.ParseRejectLimit(o.MaxRejects)
		if err != nil {
			return pc, fmt.Errorf("%w: --max-rejects %q: %w", ErrUsage, o.MaxRejects, err)
		}
		pc.limit = l
	}
	if o.HMACKeyFile != "" {
		k, err := pseudo.ReadKey(o.HMACKeyFile)
		if err != nil {
			return pc, fmt.Errorf("%w: --hmac-key-file: %w", ErrUsage, err)
		}
		pc.opts.HMACKey = k
	}
	if r := o.Reader; r != "" && r != transform.ReaderFast && r != transform.ReaderExcelize {
		return pc, fmt.Errorf("%w: --reader %q: want %s or %s", ErrUsage, r, transform.ReaderFast, transform.ReaderExcelize)
	}
	return pc, nil
}

// loaded is what loading one source did.
type loaded struct {
	RunID  int64
	Counts load.Counts
	Rows   int // data rows in the workbooks, good and bad: the row-cap check counts these
	// Headerless are the rows of sheets without a header among
	// Counts.Rejected: kept, but left out of the reject limit and the
	// all-rejected check (transform.Reject.NoHeader).
	Headerless int
	// spread holds when the events of the source's window happened, when
	// it has one.
	spread *spread
	// layouts say how the workbooks' sheets mapped (parseOnly fills them).
	layouts []transform.Layout
}

// rejected is how many rows the reject limit and the all-rejected check
// count: the rejects but for rows of sheets without a header.
func (l loaded) rejected() int { return int(l.Counts.Rejected) - l.Headerless }

// errRetract rolls a source's transaction back without recording a failure:
// the window is about to be fetched again in smaller parts.
var errRetract = errors.New("retract")

// batchSize is how many events the parser hands the loader at a time: large
// enough that channel handoffs cost nothing, small enough to stay in cache.
const batchSize = 1024

// batchesAhead is how many batches the parser may run ahead of the loader:
// a whole load.ChunkRows, so the parser keeps going while the server merges
// a chunk, and memory stays bounded whatever the file's size. At least one,
// so a chunk smaller than a batch does not leave the parser unbuffered.
const batchesAhead = max(1, load.ChunkRows/batchSize)

// loadSource loads the workbooks of one source (a file, or the outputs of one
// export job) in one transaction, with its run row and rejects. before runs
// inside the transaction just before commit, to move the watermark with the
// data it covers. On failure nothing of the source is kept and the run is
// recorded as failed in a transaction of its own.
func (p *Pipeline) loadSource(ctx context.Context, run load.Run, workbooks []string, pc parseConfig, ahead sourceAhead, before func(context.Context, pgx.Tx, loaded) error) (loaded, error) {
	var res loaded
	if !run.WindowStart.IsZero() {
		res.spread = newSpread(Window{run.WindowStart, run.WindowEnd})
	}
	err := func() error {
		// The next workbook's parse starts when the current one's ends, so
		// it runs while the current one's last chunk is merged.
		parses := make([]*parse, len(workbooks))
		if len(parses) > 0 {
			parses[0] = ahead.first
		} else if ahead.first != nil {
			ahead.first.close()
		}
		defer func() {
			for _, ps := range parses {
				if ps != nil {
					ps.close()
				}
			}
		}()
		start := func(i int) {
			if i < len(workbooks) && parses[i] == nil {
				parses[i] = p.startParse(ctx, workbooks[i], pc)
			}
		}
		parsed := func(i int) func() {
			return func() {
				start(i + 1)
				if i == len(workbooks)-1 && ahead.lastParsed != nil {
					ahead.lastParsed()
				}
			}
		}
		if len(workbooks) == 0 && ahead.lastParsed != nil {
			ahead.lastParsed()
		}
		// READ COMMITTED whatever the server's default: a load that waited
		// for LockEvents must see what the other load committed.
		tx, err := p.db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return fmt.Errorf("%w: begin: %w", ErrDatabase, err)
		}
		defer func() {
			cctx, cancel := cleanupContext()
			defer cancel()
			tx.Rollback(cctx)
		}()
		if err := load.LockEvents(ctx, tx, p.schema, run.Tenant, func() {
			p.log.Info("waiting for another load of the tenant to commit", "tenant", run.Tenant, "source", run.Source)
		}); err != nil {
			return fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		if err := load.DeferRollups(ctx, tx); err != nil {
			return fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		if res.RunID, err = load.BeginRun(ctx, tx, run); err != nil {
			return fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		for i, wb := range workbooks {
			start(i)
			c, st, rejects, err := p.loadWorkbook(ctx, tx, res.RunID, parses[i], parsed(i), res.spread)
			parses[i].close()
			parses[i] = nil
			res.Counts = addCounts(res.Counts, c)
			res.Rows += st.Rows
			res.Headerless += st.HeaderlessRows
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Base(wb), err)
			}
			if len(rejects) > 0 {
				if err := load.InsertRejects(ctx, tx, res.RunID, filepath.Base(wb), rejects); err != nil {
					return fmt.Errorf("%w: %w", ErrDatabase, err)
				}
			}
		}
		if pc.limit.Exceeded(res.rejected(), res.Rows) {
			return fmt.Errorf("%w: %d of %d rows rejected, over --max-rejects %s; the rejects are in the log above, fix the mapping with --column or raise --max-rejects", ErrInput, res.rejected(), res.Rows, pc.limit)
		}
		if before != nil {
			if err := before(ctx, tx, res); err != nil {
				return err
			}
		}
		if err := load.FlushRollups(ctx, tx); err != nil {
			return fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		if err := load.FinishRun(ctx, tx, res.RunID, res.Counts); err != nil {
			return fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("%w: commit: %w", ErrDatabase, err)
		}
		return nil
	}()
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// A cancel can surface as whatever it broke first, such as pgx's
		// connection closed in the middle of a COPY: say it was the cancel.
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	if err != nil && !errors.Is(err, errRetract) {
		if id := p.recordFailure(run, res.Counts, err); id != 0 {
			res.RunID = id
		}
	}
	return res, err
}

// sourceAhead lets a caller overlap sources: the parse of the source's first
// workbook may already be running, and lastParsed is called once its last
// workbook is parsed, while that one's last chunk is still merging: the time
// to start the next source's parse. Both may be zero.
type sourceAhead struct {
	first      *parse
	lastParsed func()
}

// parse is a workbook being parsed in a goroutine into a bounded buffer of
// event batches: it runs at most batchesAhead batches ahead of its consumer,
// so a parse started early holds at most one load chunk of events.
type parse struct {
	path    string
	wb      *transform.Workbook // set once opened is closed, nil if openErr
	openErr error
	opened  chan struct{}
	cancel  context.CancelFunc
	batches chan []transform.Event // closed when the parser ends
	free    chan []transform.Event
	parsed  chan struct{} // closed with batches; readErr, stats, rejects are then set
	rejects []transform.Reject
	limited int // rejects that count against the limit: not NoHeader
	stats   transform.Stats
	readErr error
}

// startParse opens the workbook at path and parses it, both in a goroutine.
// Starting the next workbook's parse while the current one's last chunk is
// merged and committed keeps the parser's core busy at the boundary; a
// backfill can do the same with the next window's first workbook. The
// caller must call close.
func (p *Pipeline) startParse(ctx context.Context, path string, pc parseConfig) *parse {
	rctx, cancel := context.WithCancel(ctx)
	ps := &parse{
		path:    path,
		opened:  make(chan struct{}),
		cancel:  cancel,
		batches: make(chan []transform.Event, batchesAhead),
		// Loaded batches come back for reuse, so a steady load allocates
		// no batch arrays.
		free:   make(chan []transform.Event, batchesAhead+2),
		parsed: make(chan struct{}),
	}
	go ps.run(rctx, p, pc)
	return ps
}

func (ps *parse) newBatch() []transform.Event {
	select {
	case b := <-ps.free:
		return b[:0]
	default:
		return make([]transform.Event, 0, batchSize)
	}
}

func (ps *parse) run(ctx context.Context, p *Pipeline, pc parseConfig) {
	defer close(ps.parsed)
	defer close(ps.batches)
	wb, err := transform.OpenFile(ps.path, pc.opts)
	if err != nil {
		ps.openErr = fmt.Errorf("%w: %w", ErrInput, err)
		close(ps.opened)
		return
	}
	ps.wb = wb
	close(ps.opened)
	batch := ps.newBatch()
	send := func() error {
		select {
		case ps.batches <- batch:
			batch = ps.newBatch()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ps.stats, ps.readErr = ps.wb.Read(ctx, func(e *transform.Event) error {
		batch = append(batch, *e)
		if len(batch) == batchSize {
			return send()
		}
		return nil
	}, func(r *transform.Reject) error {
		ps.rejects = append(ps.rejects, cloneReject(r))
		logReject(p.log, ps.path, len(ps.rejects), r)
		if r.NoHeader {
			return nil
		}
		// Only a count can fail a file before its last row: against
		// an unbounded row total a percentage never trips here.
		if ps.limited++; pc.limit.Exceeded(ps.limited, math.MaxInt32) {
			return fmt.Errorf("more than --max-rejects %s rows rejected", pc.limit)
		}
		return nil
	})
	if ps.readErr == nil && len(batch) > 0 {
		ps.readErr = send()
	}
	if ps.readErr == nil {
		logBlank(p.log, ps.path, ps.stats)
	}
}

// logBlank notes a workbook read as blank (not a cell in it), so that a
// window that stored nothing shows why.
func logBlank(log *slog.Logger, path string, st transform.Stats) {
	if st.Sheets == 0 {
		log.Info("blank workbook: no events", "file", filepath.Base(path), "sheets", len(st.SkippedSheets))
	}
}

// stop stops the parser and waits for it to end; its rejects, stats and
// readErr are then final. It may be called more than once.
func (ps *parse) stop() {
	ps.cancel()
	for range ps.batches {
		// Drain so the parser goroutine ends.
	}
	<-ps.parsed
}

// close stops the parser and closes the workbook.
func (ps *parse) close() {
	ps.stop()
	if ps.wb != nil {
		ps.wb.Close()
		ps.wb = nil
	}
}

// loadWorkbook parses one workbook in a goroutine while the loader copies
// and merges earlier batches into Postgres, so parse and database work
// overlap. next, when not nil, is called as soon as the parse has ended,
// while the last chunk is still being merged.
func (p *Pipeline) loadWorkbook(ctx context.Context, tx pgx.Tx, runID int64, ps *parse, next func(), h *spread) (load.Counts, transform.Stats, []transform.Reject, error) {
	if <-ps.opened; ps.openErr != nil {
		return load.Counts{}, transform.Stats{}, nil, ps.openErr
	}
	events := func(yield func(*transform.Event, error) bool) {
		for b := range ps.batches {
			for i := range b {
				if h != nil {
					h.add(b[i].EventTime)
				}
				if !yield(&b[i], nil) {
					return
				}
			}
			p.progress.Rows(int64(len(b)))
			// The loader is done with b once it asks for the next event:
			// clear it so its strings can be collected while it waits.
			clear(b)
			select {
			case ps.free <- b:
			default:
			}
		}
		// batches is closed only after readErr is set.
		if ps.readErr != nil {
			yield(nil, fmt.Errorf("%w: %w", ErrInput, ps.readErr))
			return
		}
		if next != nil {
			next()
		}
	}
	c, err := load.Upsert(ctx, tx, runID, events)
	ps.stop()
	c.Rejected = int64(len(ps.rejects))
	if err != nil {
		// A parse error reaches Upsert through the iterator, as ErrInput.
		// Anything else is the database's: the parser's own error is then
		// only the cancel that stopped it, and must not hide the cause.
		if !errors.Is(err, ErrInput) {
			err = fmt.Errorf("%w: %w", ErrDatabase, err)
		}
		return c, ps.stats, ps.rejects, err
	}
	return c, ps.stats, ps.rejects, nil
}

// parseOnly reads workbooks without a database, for --dry-run, the probe
// and doctor, handing each event to onEvent when it is not nil.
func (p *Pipeline) parseOnly(ctx context.Context, workbooks []string, pc parseConfig, onEvent func(*transform.Event)) (loaded, error) {
	var res loaded
	for _, path := range workbooks {
		wb, err := transform.OpenFile(path, pc.opts)
		if err != nil {
			return res, fmt.Errorf("%w: %s: %w", ErrInput, filepath.Base(path), err)
		}
		rejected := 0
		stats, err := wb.Read(ctx, func(e *transform.Event) error {
			if onEvent != nil {
				onEvent(e)
			}
			p.progress.Rows(1)
			return nil
		}, func(r *transform.Reject) error {
			rejected++
			logReject(p.log, path, rejected, r)
			return nil
		})
		wb.Close()
		res.Rows += stats.Rows
		res.Headerless += stats.HeaderlessRows
		res.Counts.Read += int64(stats.Events)
		res.Counts.Rejected += int64(stats.Rejects + stats.HeaderlessRows)
		res.layouts = append(res.layouts, stats.Layouts...)
		if err != nil {
			return res, fmt.Errorf("%w: %s: %w", ErrInput, filepath.Base(path), err)
		}
		logBlank(p.log, path, stats)
	}
	if pc.limit.Exceeded(res.rejected(), res.Rows) {
		return res, fmt.Errorf("%w: %d of %d rows rejected, over --max-rejects %s", ErrInput, res.rejected(), res.Rows, pc.limit)
	}
	return res, nil
}

// loggedRejects is how many rejects of a file are logged one by one: all of
// them are stored, but a file of bad rows must not flood the log every run.
const loggedRejects = 20

// logReject logs the nth reject of a file, the first few in full.
func logReject(log *slog.Logger, path string, n int, r *transform.Reject) {
	switch {
	case n <= loggedRejects:
		log.Warn("rejected row", "file", filepath.Base(path), "sheet", r.Sheet, "row", r.Row, "reason", r.Reason)
	case n == loggedRejects+1:
		log.Warn("more rejected rows: not logged one by one; the stored ones are in etl_rejects", "file", filepath.Base(path))
	}
}

func cloneReject(r *transform.Reject) transform.Reject {
	c := *r
	c.Raw = append([]byte(nil), r.Raw...)
	c.Reason = strings.Clone(r.Reason)
	return c
}

func addCounts(a, b load.Counts) load.Counts {
	return load.Counts{
		Read:      a.Read + b.Read,
		Inserted:  a.Inserted + b.Inserted,
		Updated:   a.Updated + b.Updated,
		Unchanged: a.Unchanged + b.Unchanged,
		Rejected:  a.Rejected + b.Rejected,
	}
}
