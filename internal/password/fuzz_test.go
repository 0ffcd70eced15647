package password

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is
// ErrInvalidHash, and that whatever it accepts formats back to the exact
// input (one canonical encoding: no two strings name the same hash).
func FuzzParse(f *testing.F) {
	for _, v := range referenceVectors {
		f.Add(v.hash)
	}
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("error %v is not ErrInvalidHash", err)
			}
			return
		}
		if err := p.check(); err != nil {
			t.Fatalf("accepted params over the limits: %v", err)
		}
		if got := format(p, salt, key); got != s {
			t.Fatalf("round trip: Parse(%q) formats as %q", s, got)
		}
	})
}

// FuzzVerify checks Verify against a cheap reference hash: only the right
// password matches, and any change to the stored hash is either rejected as
// invalid or fails to match.
func FuzzVerify(f *testing.F) {
	const hash, pw = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$O4k6Y0tG4ONPqtoPfkJe8cZ5EbHbYTqpEkfacol0NCU", "p"
	f.Add("p", 0, byte(0))
	f.Add("P", 40, byte('A'))
	f.Add("", 17, byte('9'))
	f.Fuzz(func(t *testing.T, guess string, pos int, b byte) {
		ok, err := Verify(hash, guess)
		if err != nil {
			t.Fatalf("Verify(reference) error: %v", err)
		}
		if ok != (guess == pw) {
			t.Fatalf("Verify(reference, %q) = %v", guess, ok)
		}
		// Tamper with one byte of the stored hash; keep the cost small.
		if pos < 0 {
			pos = -pos
		}
		tampered := []byte(hash)
		i := pos % len(tampered)
		if tampered[i] == b {
			return
		}
		tampered[i] = b
		p, _, _, err := Parse(string(tampered))
		if err != nil || p.Memory > 1024 || p.Time > 2 || p.Threads > 2 {
			return
		}
		ok, err = Verify(string(tampered), pw)
		if err == nil && ok {
			t.Fatalf("tampered hash %q accepted the password", tampered)
		}
	})
}
