package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// A run keeps every temporary file (downloads, unpacked archives, the
// worksheets excelize unzips to disk, up to about a gigabyte for a
// million-row export) in one directory of its own, removed by Close. A
// killed run cannot remove it, and a run every fifteen minutes would fill
// the disk with them, so the directory holds a lock file the run keeps
// flock'ed while it lives: the next run that finds an unlocked one removes
// it. flock, unlike a PID in the name, holds across PID namespaces sharing
// one /tmp, and the kernel drops it whatever way the process ends.
//
// A directory is made under newWorkDirPrefix and renamed to its run name
// only once its lock is held: made under the run name, a run starting at
// the same moment could find it between its creation and its lock, take it
// for a dead run's and remove it (TestNewWorkDirSurvivesConcurrentSweeps).
// A run killed in that window leaves a directory under the new name, which
// a sweep removes once it is older than staleNewWorkDir: a live run renames
// its own within microseconds.

const (
	workDirPrefix    = "sparkevents-run-"
	workDirPattern   = workDirPrefix + "*"
	newWorkDirPrefix = "sparkevents-new-"
	workDirLock      = ".lock"
	staleNewWorkDir  = time.Hour
)

// workDir is a run's directory of temporary files.
type workDir struct {
	path string
	lock *os.File
}

// newWorkDir sweeps the directories dead runs left in os.TempDir(), then
// creates and locks this run's.
func newWorkDir(log *slog.Logger) (*workDir, error) {
	sweepWorkDirs(os.TempDir(), log)
	staged, err := os.MkdirTemp("", newWorkDirPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	path := filepath.Join(filepath.Dir(staged), workDirPrefix+strings.TrimPrefix(filepath.Base(staged), newWorkDirPrefix))
	var lock *os.File
	dir := staged
	if onWindows {
		// Windows renames no directory with a file open in it: name it
		// first. A sweep skips a run directory without a lock file.
		err, dir = os.Rename(staged, path), path
	}
	if err == nil {
		lock, err = os.OpenFile(filepath.Join(dir, workDirLock), os.O_CREATE|os.O_RDWR, 0o600)
	}
	if err == nil {
		err = tryLock(lock)
	}
	if err == nil && !onWindows {
		// The open lock file follows the directory: rename keeps the inode.
		err = os.Rename(staged, path)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(staged)
		os.RemoveAll(path)
		return nil, fmt.Errorf("temporary directory: lock: %w", err)
	}
	return &workDir{path: path, lock: lock}, nil
}

// remove deletes the directory, then releases its lock (on Windows, which
// deletes no open file, the other way round).
func (w *workDir) remove() {
	if onWindows {
		w.lock.Close()
	}
	os.RemoveAll(w.path)
	w.lock.Close()
}

// onWindows changes the order of a few steps: Windows neither renames a
// directory with an open file in it nor deletes an open file.
const onWindows = runtime.GOOS == "windows"

// errLockHeld is tryLock's error when a live process holds the lock.
var errLockHeld = errors.New("lock held by another process")

// sweepWorkDirs removes the run directories under dir whose lock no live
// process holds, and the ones a run was killed before naming.
func sweepWorkDirs(dir string, log *slog.Logger) {
	staged, _ := filepath.Glob(filepath.Join(dir, newWorkDirPrefix+"*"))
	for _, path := range staged {
		if fi, err := os.Stat(path); err == nil && fi.IsDir() && time.Since(fi.ModTime()) > staleNewWorkDir {
			if err := os.RemoveAll(path); err != nil {
				log.Warn("cannot remove the temporary directory of a run killed as it started", "dir", path, "err", err)
			}
		}
	}
	paths, _ := filepath.Glob(filepath.Join(dir, workDirPattern))
	for _, path := range paths {
		f, err := os.OpenFile(filepath.Join(path, workDirLock), os.O_RDWR, 0)
		if err != nil {
			// No lock file: a run between creating the directory and its
			// lock, or not ours to judge.
			continue
		}
		err = tryLock(f)
		if errors.Is(err, errLockHeld) {
			f.Close() // a live run's
			continue
		}
		if err == nil {
			if onWindows {
				f.Close()
			}
			if err := os.RemoveAll(path); err != nil {
				log.Warn("cannot remove the temporary files of a run that ended without cleaning up", "dir", path, "err", err)
			} else {
				log.Info("removed the temporary files of a run that ended without cleaning up (killed?)", "dir", path)
			}
		}
		f.Close()
	}
}
