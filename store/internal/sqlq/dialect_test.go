package sqlq

import "testing"

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`UPDATE t SET a = $2 WHERE id = $1 AND v = $15`: `UPDATE t SET a = ?2 WHERE id = ?1 AND v = ?15`,
		`SELECT 1`:         `SELECT 1`,
		`SELECT '$' || $1`: `SELECT '$' || ?1`,
	} {
		if got := Rebind(in, Numbered); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Rebind(getUserSQL+" FOR UPDATE", Dollar); got != getUserSQL+" FOR UPDATE" {
		t.Errorf("Rebind with Dollar changed %q into %q", getUserSQL, got)
	}
}
