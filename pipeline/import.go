package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"sparkevents/extract"
	"sparkevents/load"
)

// ImportOptions configure the import of local workbooks.
type ImportOptions struct {
	Tenant string
	Parse  ParseOptions
	DryRun bool // parse and count, write nothing
}

// FileResult is what importing one file did.
type FileResult struct {
	Path   string
	RunID  int64 // 0 on a dry run
	Counts load.Counts
	Err    error
}

// Import loads each file (an .xlsx, or a .zip of them as the Event viewer
// gives it) in a transaction of its own, and reports each through done. A
// file that fails leaves nothing behind and does not stop the others; the
// returned error says how many failed.
func (p *Pipeline) Import(ctx context.Context, opts ImportOptions, paths []string, done func(FileResult)) error {
	if opts.Tenant == "" {
		return fmt.Errorf("%w: --tenant is required", ErrUsage)
	}
	pc, err := p.parseConfig(opts.Parse, opts.Tenant)
	if err != nil {
		return err
	}
	maxUnzipped := opts.Parse.MaxUnzipped
	if maxUnzipped == 0 {
		maxUnzipped = defaultMaxUnzipped
	}
	var failed []error
	p.progress.Start("rows", -1)
	defer p.progress.Finish()
	for _, path := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.progress.Describe(path)
		r := p.importFile(ctx, opts, pc, path, maxUnzipped)
		if r.Err != nil {
			failed = append(failed, r.Err)
			p.log.Error("import failed", "file", path, "err", r.Err)
		} else {
			p.log.Info("imported", "file", path, "run", r.RunID, "read", r.Counts.Read,
				"inserted", r.Counts.Inserted, "updated", r.Counts.Updated,
				"unchanged", r.Counts.Unchanged, "rejected", r.Counts.Rejected)
		}
		if done != nil {
			done(r)
		}
	}
	if len(failed) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%d of %d files failed: %w", len(failed), len(paths), errors.Join(failed...))
	}
	return nil
}

func (p *Pipeline) importFile(ctx context.Context, opts ImportOptions, pc parseConfig, path string, maxUnzipped int64) FileResult {
	r := FileResult{Path: path}
	started := time.Now()
	dir, err := os.MkdirTemp(pc.opts.TmpDir, "import-")
	if err != nil {
		r.Err = err
		return r
	}
	defer os.RemoveAll(dir)
	run := load.Run{Kind: "import", Tenant: opts.Tenant, Source: path, StartedAt: started}
	workbooks, err := extract.Unpack(path, dir, maxUnzipped)
	if err != nil {
		r.Err = fmt.Errorf("%w: %s: %w", ErrInput, path, err)
		if !opts.DryRun {
			// As a file that fails later does: etl_runs and sync_health
			// show every import that was tried.
			r.RunID = p.recordFailure(run, load.Counts{}, r.Err)
		}
		return r
	}
	var l loaded
	if opts.DryRun {
		l, err = p.parseOnly(ctx, workbooks, pc, nil)
	} else {
		l, err = p.loadSource(ctx, run, workbooks, pc, sourceAhead{}, nil)
	}
	r.RunID, r.Counts = l.RunID, l.Counts
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", path, err)
	}
	return r
}

// defaultMaxUnzipped bounds what a ZIP download or file may expand to.
const defaultMaxUnzipped = 8 << 30
