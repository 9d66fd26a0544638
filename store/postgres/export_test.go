package postgres

import "context"

// OpenCallerClock opens a store whose leases are timed by the now the
// caller passes instead of the database's clock, so that the conformance
// suite can drive them with its fake clock (it steps minutes in
// milliseconds). Production stores always use the database's clock.
func OpenCallerClock(ctx context.Context, url string) (*Store, error) {
	s, err := Open(ctx, url)
	if err != nil {
		return nil, err
	}
	UseCallerClock(s, true)
	return s, nil
}

// UseCallerClock switches s between the caller's clock (on) and the
// database's for its leases.
func UseCallerClock(s *Store, on bool) {
	s.clock = dbClock
	if on {
		s.clock = "caller"
	}
}
