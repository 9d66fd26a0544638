package connector_test

import (
	"testing"
	"time"

	"github.com/passbridge/passbridge/connector"
)

func TestAddBusinessDays(t *testing.T) {
	sgt, err := time.LoadLocation("Asia/Singapore")
	if err != nil {
		sgt = time.FixedZone("SGT", 8*3600)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, sgt)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	date := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2025-08-09 (Sat) is National Day; 2025-08-11 (Mon) its observed holiday.
	holidays := []time.Time{date("2025-08-09"), date("2025-08-11")}
	tests := map[string]struct {
		start time.Time
		n     int
		hol   []time.Time
		want  time.Time
	}{
		"tuesday":                   {start: at("2025-07-01 10:00"), n: 3, want: at("2025-07-04 10:00")},
		"friday across weekend":     {start: at("2025-07-04 10:00"), n: 3, want: at("2025-07-09 10:00")},
		"saturday":                  {start: at("2025-07-05 10:00"), n: 3, want: at("2025-07-09 10:00")},
		"thursday across weekend":   {start: at("2025-07-03 17:30"), n: 3, want: at("2025-07-08 17:30")},
		"friday weekend holiday":    {start: at("2025-08-08 09:00"), n: 3, hol: holidays, want: at("2025-08-14 09:00")},
		"holiday ignored when none": {start: at("2025-08-08 09:00"), n: 3, want: at("2025-08-13 09:00")},
		// 23:30 UTC on Thursday is Friday 07:30 in Singapore: counted there.
		"time zone": {start: time.Date(2025, 7, 3, 23, 30, 0, 0, time.UTC), n: 1, want: at("2025-07-07 07:30")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := connector.AddBusinessDays(tc.start, tc.n, tc.hol, sgt)
			if !got.Equal(tc.want) {
				t.Errorf("AddBusinessDays(%s, %d) = %s, want %s", tc.start, tc.n, got, tc.want)
			}
		})
	}
}
