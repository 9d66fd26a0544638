package connector

import "time"

// AddBusinessDays returns the moment n business days after start: the same
// wall-clock time, in loc, on the n-th following day that is neither a
// Saturday, a Sunday nor one of holidays. Holidays are dates: only their
// year, month and day count, as written (a date parsed as UTC midnight means
// that calendar day in loc too).
func AddBusinessDays(start time.Time, n int, holidays []time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	off := make(map[civilDate]bool, len(holidays))
	for _, h := range holidays {
		off[dateOf(h)] = true
	}
	t := start.In(loc)
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if isBusinessDay(t, off) {
			n--
		}
	}
	return t
}

type civilDate struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

// isBusinessDay reports whether t's date (in t's location) is a working day.
func isBusinessDay(t time.Time, holidays map[civilDate]bool) bool {
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	return !holidays[dateOf(t)]
}
