//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package sqlite

// procLock is a no-op where flock is missing: the store then never knows
// it is the only process, and leases of a dead process run out by
// themselves (jobs' and the reconciler's are short and renewed).
type procLock struct{}

func lockProcess(string) (*procLock, bool, error) { return &procLock{}, false, nil }
func (*procLock) shared() error                   { return nil }
func (*procLock) close() error                    { return nil }
