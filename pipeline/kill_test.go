package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sparkevents/extract/sparktest"
)

// The kill tests run the pipeline in a child process (this test binary,
// re-executed with childEnv set) and SIGKILL it mid-flight.
const childEnv = "SPARKEVENTS_TEST_CHILD"

func runChild() int {
	ctx := context.Background()
	p, err := Open(ctx, Config{DatabaseURL: os.Getenv("CHILD_DATABASE_URL"), Schema: "sparkevents", Logger: testLogger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer p.Close()
	switch os.Getenv(childEnv) {
	case "import":
		err = p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{os.Getenv("CHILD_FILE")}, nil)
	case "sync":
		var o SyncOptions
		o.Tenant = "acme"
		o.Spark.BaseURL = os.Getenv("CHILD_SPARK_URL")
		o.Spark.Token = "s3cret-token"
		o.Spark.PollInterval = time.Millisecond
		o.Spark.MaxPollInterval = 5 * time.Millisecond
		o.Window = 6 * time.Hour
		o.Parallel = 2
		o.Lookback = time.Hour
		o.Settle = time.Minute
		o.Since, _ = time.Parse(time.RFC3339, os.Getenv("CHILD_SINCE"))
		now, _ := time.Parse(time.RFC3339, os.Getenv("CHILD_NOW"))
		o.Now = func() time.Time { return now }
		_, err = p.Sync(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func startChild(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// A killed child cannot remove its temporary files; keep them in the
	// test's directory, which the test removes, unless env says otherwise.
	cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir()), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// kill SIGKILLs the child and reports whether it was still running, that is
// whether the signal, not its own end, stopped it.
func kill(t *testing.T, cmd *exec.Cmd) bool {
	t.Helper()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestImportKilledMidwayLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100k-row workbook")
	}
	p, url := newTestPipeline(t)
	ctx := context.Background()
	path := tempPath(t, "big.xlsx")
	const n = 100000
	writeWorkbook(t, path, eventRows(0, n, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	// The kill must leave the table as it was, indexes included.
	const indexes = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'spark_events'"
	nIndexes := count(t, p, indexes)

	childTmp := t.TempDir()
	cmd := startChild(t, "TMPDIR="+childTmp, childEnv+"=import", "CHILD_DATABASE_URL="+url, "CHILD_FILE="+path)
	// Kill it while the rows are being copied in.
	waitFor(t, "the COPY to start", 60*time.Second, func() bool {
		return count(t, p, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'copy%' AND datname = current_database()") > 0
	})
	if !kill(t, cmd) {
		t.Fatal("the import ended before it was killed")
	}
	// The server notices the dead client and rolls its transaction back.
	waitFor(t, "the killed session to end", 30*time.Second, func() bool {
		return count(t, p, "SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle' AND pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'") == 0
	})
	if got := count(t, p, "SELECT (SELECT count(*) FROM spark_events) + (SELECT count(*) FROM etl_runs) + (SELECT count(*) FROM etl_rejects)"); got != 0 {
		t.Fatalf("a killed import left %d rows behind", got)
	}
	if got := count(t, p, indexes); got != nIndexes {
		t.Fatalf("spark_events has %d indexes after the kill, had %d", got, nIndexes)
	}
	left, _ := filepath.Glob(filepath.Join(childTmp, workDirPattern))
	if len(left) != 1 {
		t.Fatalf("the killed import left %v, want its one run directory", left)
	}
	if files, _ := os.ReadDir(left[0]); len(files) < 2 {
		t.Fatalf("the killed import's run directory holds %v, want its lock and temporary files", files)
	}

	// The next run in the same TMPDIR removes them.
	t.Setenv("TMPDIR", childTmp)
	var res FileResult
	if err := p.Import(ctx, ImportOptions{Tenant: "acme"}, []string{path}, func(r FileResult) { res = r }); err != nil {
		t.Fatal(err)
	}
	if res.Counts.Inserted != n {
		t.Fatalf("re-import inserted %d, want %d", res.Counts.Inserted, n)
	}
	if _, err := os.Stat(left[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed import's temporary files are still there (%v)", err)
	}
}

func TestSyncKilledAtAnyMomentThenRerunIsExact(t *testing.T) {
	f := newSyncFixture(t, sparktest.Options{PendingPolls: 2})
	since := f.now.Add(-4 * 24 * time.Hour)
	evs := sparkEvents(0, 3000, since, 115*time.Second)
	f.spark.AddEvents(evs...)
	env := []string{childEnv + "=sync", "CHILD_DATABASE_URL=" + f.url, "CHILD_SPARK_URL=" + f.spark.URL,
		"CHILD_SINCE=" + since.Format(time.RFC3339), "CHILD_NOW=" + f.now.Format(time.RFC3339)}

	// Kill at different moments: early, mid-way, after some windows committed.
	for i, delay := range []time.Duration{30 * time.Millisecond, 150 * time.Millisecond, 0} {
		committed := count(t, f.p, "SELECT count(*) FROM etl_runs WHERE status = 'succeeded'")
		cmd := startChild(t, env...)
		time.Sleep(delay)
		if i == 2 {
			// The last kill comes right after this child commits a window.
			waitFor(t, "a window to commit", 30*time.Second, func() bool {
				return count(t, f.p, "SELECT count(*) FROM etl_runs WHERE status = 'succeeded'") > committed
			})
		}
		if !kill(t, cmd) {
			t.Fatalf("kill %d: the sync ended before it was killed", i)
		}
		t.Logf("kill %d after %s: %d events stored", i, delay, count(t, f.p, "SELECT count(*) FROM spark_events"))
		// Whatever was committed is a gapless prefix up to the watermark.
		wm, ok, err := f.p.watermark(context.Background(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			var missing int
			for _, e := range evs {
				if e.Time.Before(wm) {
					missing++
				}
			}
			stored := count(t, f.p, "SELECT count(*) FROM spark_events WHERE event_time < $1", wm)
			if int(stored) < missing {
				t.Fatalf("kill %d: %d events before the watermark %s stored, want %d", i, stored, wm, missing)
			}
		}
	}
	waitFor(t, "killed sessions to end", 30*time.Second, func() bool {
		return count(t, f.p, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()") == 0
	})
	o := f.options()
	o.Since = since
	if _, err := f.p.Sync(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	f.wantStored(t, evs)
}
