//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package sqlite

import (
	"fmt"
	"os"
	"syscall"
)

// procLock is this process's hold on the lock file beside the database:
// every process that has the database open holds a shared flock on it for
// as long as it has it open, and the kernel drops the lock when the
// process dies, kill -9 included. A process that gets the lock exclusively
// therefore knows that no other live process has the database open.
type procLock struct{ f *os.File }

// lockProcess opens (creating) path and tries to lock it exclusively. sole
// reports whether that worked; the caller then downgrades with shared.
// Otherwise the lock is already shared.
func lockProcess(path string) (l *procLock, sole bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock file: %w", err)
	}
	l = &procLock{f: f}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return l, true, nil
	}
	// Another process is alive (or is itself starting and holds the lock
	// exclusively for a moment): wait for a shared lock.
	if err := flock(f, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("lock file %s: %w", path, err)
	}
	return l, false, nil
}

// shared downgrades an exclusive lock. flock converts by releasing first, so
// another starting process may get the lock exclusively in between; that is
// harmless, since this one holds no lease yet.
func (l *procLock) shared() error {
	if err := flock(l.f, syscall.LOCK_SH); err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	return nil
}

func (l *procLock) close() error {
	if l == nil {
		return nil
	}
	return l.f.Close() // closing the last descriptor drops the lock
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
