package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// A run keeps every temporary file (downloads, unpacked archives, the
// worksheets excelize unzips to disk, up to about a gigabyte for a
// million-row export) in one directory of its own, removed by Close. A
// killed run cannot remove it, and a run every fifteen minutes would fill
// the disk with them, so the directory holds a lock file the run keeps
// flock'ed while it lives: the next run that finds an unlocked one removes
// it. flock, unlike a PID in the name, holds across PID namespaces sharing
// one /tmp, and the kernel drops it whatever way the process ends.

const (
	workDirPattern = "sparkevents-run-*"
	workDirLock    = ".lock"
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
	path, err := os.MkdirTemp("", workDirPattern)
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(path, workDirLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(path)
		return nil, fmt.Errorf("temporary directory: lock: %w", err)
	}
	return &workDir{path: path, lock: lock}, nil
}

// remove deletes the directory, then releases its lock.
func (w *workDir) remove() {
	os.RemoveAll(w.path)
	w.lock.Close()
}

// sweepWorkDirs removes the run directories under dir whose lock no live
// process holds.
func sweepWorkDirs(dir string, log *slog.Logger) {
	paths, _ := filepath.Glob(filepath.Join(dir, workDirPattern))
	for _, path := range paths {
		f, err := os.OpenFile(filepath.Join(path, workDirLock), os.O_RDWR, 0)
		if err != nil {
			// No lock file: a run between creating the directory and its
			// lock, or not ours to judge.
			continue
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close() // a live run's
			continue
		}
		if err == nil {
			if err := os.RemoveAll(path); err != nil {
				log.Warn("cannot remove the temporary files of a run that ended without cleaning up", "dir", path, "err", err)
			} else {
				log.Info("removed the temporary files of a run that ended without cleaning up (killed?)", "dir", path)
			}
		}
		f.Close()
	}
}
