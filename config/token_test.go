package config

import "testing"

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		tok, sum, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 43 {
			t.Errorf("token %q has %d characters, want 43", tok, len(tok))
		}
		if sum != HashToken(tok) {
			t.Errorf("hash %q is not HashToken(token)", sum)
		}
		if err := checkSHA256Hex(sum); err != nil {
			t.Errorf("hash does not validate: %v", err)
		}
		if seen[tok] {
			t.Errorf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestHashToken(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"ok/abc":   {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		"ok/empty": {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := HashToken(tc.in); got != tc.want {
				t.Errorf("HashToken(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
