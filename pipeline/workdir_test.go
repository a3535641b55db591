package pipeline

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestSweepWorkDirsRemovesOnlyUnlocked(t *testing.T) {
	tmp := t.TempDir()
	mk := func(name string, lockFile bool) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "excelize-123"), []byte("sheet"), 0o600); err != nil {
			t.Fatal(err)
		}
		if lockFile {
			if err := os.WriteFile(filepath.Join(dir, workDirLock), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk("sparkevents-run-dead", true)
	live := mk("sparkevents-run-live", true)
	unlocked := mk("sparkevents-run-nolock", false)
	other := mk("sparkevents-import-old", true)
	// Directories not yet renamed: one a run was killed before naming,
	// one a run is naming now.
	killed := mk("sparkevents-new-killed", true)
	old := time.Now().Add(-2 * staleNewWorkDir)
	if err := os.Chtimes(killed, old, old); err != nil {
		t.Fatal(err)
	}
	starting := mk("sparkevents-new-starting", true)

	// A live run holds its lock through its own open file.
	f, err := os.Open(filepath.Join(live, workDirLock))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tryLock(f); err != nil {
		t.Fatal(err)
	}

	sweepWorkDirs(tmp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for dir, want := range map[string]bool{dead: false, live: true, unlocked: true, other: true, killed: false, starting: true} {
		_, err := os.Stat(dir)
		if got := err == nil; got != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(dir), got, want)
		}
	}
}

func TestWorkDirRemovedOnClose(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	p := Offline(Config{})
	dir, err := p.tempDir()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := p.tempDir()
	if again != dir {
		t.Errorf("second tempDir is %s, first %s", again, dir)
	}
	// Held: a sweep by another run leaves it alone.
	sweepWorkDirs(filepath.Dir(dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a sweep removed a live run's directory: %v", err)
	}
	p.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Close, %s: %v", dir, err)
	}
}

// Runs that start at once sweep while the others create their directories:
// none may find another's directory before its lock is held and take it
// for a dead run's.
func TestNewWorkDirSurvivesConcurrentSweeps(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const runners, runs = 8, 40
	errs := make(chan error, runners*runs)
	var wg sync.WaitGroup
	for range runners {
		wg.Go(func() {
			for range runs {
				w, err := newWorkDir(log)
				if err != nil {
					errs <- err
					continue
				}
				if _, err := os.Stat(w.path); err != nil {
					errs <- fmt.Errorf("a run's own directory is gone: %w", err)
				}
				w.remove()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
