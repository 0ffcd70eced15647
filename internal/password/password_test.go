package password

import (
	"errors"
	"strings"
	"testing"
)

// Vectors made by the reference implementation (Debian's libargon2-1,
// argon2id_hash_encoded called through Python ctypes), so the Go code is
// checked against an independent implementation.
var referenceVectors = []struct {
	name, password, hash string
}{
	{"defaults", "correct horse battery staple", "$argon2id$v=19$m=19456,t=2,p=1$Y2ZnYXRlLXNhbHQtMDAwMQ$fDtnBX8WKXeyPuo6oYZiDtUgVfoX5ne3cUChR09P1ak"},
	{"phc-test-vector", "password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	{"tiny", "p", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$O4k6Y0tG4ONPqtoPfkJe8cZ5EbHbYTqpEkfacol0NCU"},
}

func TestVerifyReferenceVectors(t *testing.T) {
	for _, v := range referenceVectors {
		t.Run(v.name, func(t *testing.T) {
			ok, err := Verify(v.hash, v.password)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = Verify(v.hash, v.password+"x")
			if err != nil || ok {
				t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashRoundTrip(t *testing.T) {
	h, err := Hash("s3cret pässword")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h[:len("$argon2id$v=19$m=19456,t=2,p=1$")], "$argon2id$v=19$m=19456,t=2,p=1$"; got != want {
		t.Errorf("prefix = %q, want %q", got, want)
	}
	p, salt, key, err := Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	if p != Default || len(salt) != 16 || len(key) != 32 {
		t.Errorf("Parse = %+v, %d-byte salt, %d-byte key; want %+v, 16, 32", p, len(salt), len(key), Default)
	}
	if ok, err := Verify(h, "s3cret pässword"); !ok || err != nil {
		t.Errorf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, "s3cret password"); ok || err != nil {
		t.Errorf("Verify(wrong) = %v, %v", ok, err)
	}
	h2, err := Hash("s3cret pässword")
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Error("two hashes of the same password are equal: salt not random")
	}
	if NeedsRehash(h) {
		t.Error("NeedsRehash(new hash) = true")
	}
}

func TestHashRejects(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		p    Params
	}{
		{"empty password", "", Default},
		{"long password", strings.Repeat("x", MaxPasswordLen+1), Default},
		{"memory below minimum", "pw", Params{Memory: 19455, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"time below minimum", "pw", Params{Memory: 19456, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"no threads", "pw", Params{Memory: 19456, Time: 2, Threads: 0, SaltLen: 16, KeyLen: 32}},
		{"memory over limit", "pw", Params{Memory: MaxMemory + 1, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"short salt", "pw", Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 4, KeyLen: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := HashWith(tt.pw, tt.p); err == nil {
				t.Fatalf("HashWith = %q, nil; want an error", h)
			}
		})
	}
}

func TestHashWithStrongerParams(t *testing.T) {
	p := Params{Memory: 20000, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}
	h, err := HashWith("pw", p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=20000,t=3,p=2$") {
		t.Errorf("hash %q does not carry its parameters", h)
	}
	if ok, err := Verify(h, "pw"); !ok || err != nil {
		t.Errorf("Verify = %v, %v (per-hash parameters not used)", ok, err)
	}
	if !NeedsRehash(h) {
		t.Error("NeedsRehash(non-default params) = false")
	}
}

func TestParseRejects(t *testing.T) {
	good := referenceVectors[0].hash
	tests := map[string]string{
		"empty":             "",
		"argon2i":           strings.Replace(good, "argon2id", "argon2i", 1),
		"version 16":        strings.Replace(good, "v=19", "v=16", 1),
		"no version":        "$argon2id$m=19456,t=2,p=1$Y2ZnYXRlLXNhbHQtMDAwMQ$fDtnBX8WKXeyPuo6oYZiDtUgVfoX5ne3cUChR09P1ak",
		"params reordered":  strings.Replace(good, "m=19456,t=2,p=1", "t=2,m=19456,p=1", 1),
		"leading zero":      strings.Replace(good, "t=2", "t=02", 1),
		"plus sign":         strings.Replace(good, "t=2", "t=+2", 1),
		"extra param":       strings.Replace(good, "p=1", "p=1,keyid=x", 1),
		"huge memory":       strings.Replace(good, "m=19456", "m=4194304", 1),
		"memory overflow":   strings.Replace(good, "m=19456", "m=99999999999", 1),
		"huge time":         strings.Replace(good, "t=2", "t=1000000", 1),
		"zero time":         strings.Replace(good, "t=2", "t=0", 1),
		"zero threads":      strings.Replace(good, "p=1", "p=0", 1),
		"many threads":      strings.Replace(good, "p=1", "p=255", 1),
		"padded salt":       strings.Replace(good, "MDAwMQ$", "MDAwMQ==$", 1),
		"url base64":        strings.Replace(good, "1ak", "-ak", 1),
		"short key":         "$argon2id$v=19$m=19456,t=2,p=1$Y2ZnYXRlLXNhbHQtMDAwMQ$fDtnBX8WKXey",
		"short salt":        "$argon2id$v=19$m=19456,t=2,p=1$Y2Zn$fDtnBX8WKXeyPuo6oYZiDtUgVfoX5ne3cUChR09P1ak",
		"trailing dollar":   good + "$",
		"non-zero trailing": strings.Replace(good, "P1ak", "P1al", 1),
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := Parse(h); !errors.Is(err, ErrInvalidHash) {
				t.Errorf("Parse(%q) error = %v, want ErrInvalidHash", h, err)
			}
			if ok, err := Verify(h, "correct horse battery staple"); ok || !errors.Is(err, ErrInvalidHash) {
				t.Errorf("Verify = %v, %v; want false, ErrInvalidHash", ok, err)
			}
			if !NeedsRehash(h) {
				t.Error("NeedsRehash(invalid) = false")
			}
		})
	}
}

func TestParseErrorHasNoSecret(t *testing.T) {
	h := strings.Replace(referenceVectors[0].hash, "m=19456", "m=4194304", 1)
	_, _, _, err := Parse(h)
	if err == nil {
		t.Fatal("no error")
	}
	for _, part := range []string{"Y2ZnYXRlLXNhbHQtMDAwMQ", "fDtnBX8WKXey"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q contains hash material %q", err, part)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	tests := []struct {
		hash string
		want bool
	}{
		{referenceVectors[0].hash, false},
		{referenceVectors[1].hash, true}, // m=65536
		{referenceVectors[2].hash, true}, // m=64,t=1
		{"garbage", true},
	}
	for _, tt := range tests {
		if got := NeedsRehash(tt.hash); got != tt.want {
			t.Errorf("NeedsRehash(%.40q) = %v, want %v", tt.hash, got, tt.want)
		}
	}
}

func TestDummyVerify(t *testing.T) {
	if DummyVerify("") || DummyVerify("correct horse battery staple") {
		t.Error("DummyVerify returned true")
	}
	p, _, _, err := Parse(dummyHash)
	if err != nil {
		t.Fatal(err)
	}
	if p != Default {
		t.Errorf("dummy hash params = %+v, want Default %+v (same cost as a real hash)", p, Default)
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := referenceVectors[0].hash
	for b.Loop() {
		if ok, _ := Verify(h, "correct horse battery staple"); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		DummyVerify("correct horse battery staple")
	}
}

// TestVerifyLoginEqualWork: a failed login costs at least a Default hash's
// work whatever is stored, counted in DummyVerify calls on top of the
// verification itself.
func TestVerifyLoginEqualWork(t *testing.T) {
	def, err := HashWith("right", Params{Memory: Default.Memory, Time: Default.Time, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	// A weaker stored hash (an import, or a hash from before the defaults
	// grew), written by hand since HashWith refuses to make one.
	cheap := format(Params{Memory: 64, Time: 1, Threads: 1}, []byte("0123456789abcdef"), make([]byte, 32))
	strong, err := HashWith("right", Params{Memory: 2 * Default.Memory, Time: Default.Time, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		hash, pw   string
		ok         bool
		wantErr    bool
		extraDummy int64
	}{
		{"unparseable hash", "$argon2id$v=19$m=19456,t=2,p=1$bad", "pw", false, true, 1},
		{"another algorithm", "$2y$10$abcdefghijklmnopqrstuu", "pw", false, true, 1},
		{"default hash, wrong password", def, "wrong", false, false, 0},
		{"default hash, right password", def, "right", true, false, 0},
		{"weaker hash, wrong password", cheap, "wrong", false, false, 1},
		{"stronger hash, wrong password", strong, "wrong", false, false, 0},
		{"stronger hash, right password", strong, "right", true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := dummyRuns.Load()
			ok, err := VerifyLogin(tt.hash, tt.pw)
			if ok != tt.ok || (err != nil) != tt.wantErr {
				t.Errorf("VerifyLogin = %v, %v; want %v, error %v", ok, err, tt.ok, tt.wantErr)
			}
			if got := dummyRuns.Load() - before; got != tt.extraDummy {
				t.Errorf("%d DummyVerify calls, want %d", got, tt.extraDummy)
			}
		})
	}
}
