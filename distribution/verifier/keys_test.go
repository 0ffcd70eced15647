package verifier

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKeyPEM(t *testing.T) {
	rsaPub := publicKey(t, rsaID).(*rsa.PublicKey)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf(t, "PUBLIC KEY", der)
	}
	priv, err := os.ReadFile(filepath.Join("testdata", "private", rsaID+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"rsa-pkix", pkix(rsaPub), ""},
		{"rsa-pkcs1", pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(rsaPub)), ""},
		{"ecdsa-p256", pkix(publicKey(t, ecID)), ""},
		{"rsa-1024", pkix(&small.PublicKey), "1024 bits"},
		{"ecdsa-p384", pkix(&p384.PublicKey), "P-384"},
		{"private-key", priv, "private key"},
		{"not-pem", []byte("hello"), "no PEM block"},
		{"certificate-type", pemOf(t, "CERTIFICATE", []byte{1}), "unsupported PEM block"},
		{"garbage-der", pemOf(t, "PUBLIC KEY", []byte{1, 2, 3}), "parse PKIX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKeyPEM(tt.pem)
			if tt.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func copyKey(t *testing.T, dir, id, as string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "keys", id+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, as+".pem"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDir(t *testing.T) {
	t.Run("testdata", func(t *testing.T) {
		d, err := LoadDir(filepath.Join("testdata", "keys"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(d.IDs(), ","), rsaID+","+otherID+","+ecID; got != want {
			t.Errorf("IDs = %s, want %s", got, want)
		}
		if _, ok := d.Lookup(rsaID); !ok {
			t.Error("rsa key missing")
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := LoadDir(); err == nil {
			t.Error("no dirs accepted")
		}
		if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
			t.Error("missing dir accepted")
		}
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "KBAD.pem"), []byte("nope"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadDir(bad); err == nil || !strings.Contains(err.Error(), "KBAD.pem") {
			t.Errorf("bad file: %v", err)
		}
		a, b := t.TempDir(), t.TempDir()
		copyKey(t, a, rsaID, "KDUP")
		copyKey(t, b, otherID, "KDUP")
		if _, err := LoadDir(a, b); err == nil || !strings.Contains(err.Error(), "KDUP") {
			t.Errorf("duplicated id: %v", err)
		}
	})
	t.Run("several-dirs-and-other-files", func(t *testing.T) {
		a, b := t.TempDir(), t.TempDir()
		copyKey(t, a, rsaID, rsaID)
		copyKey(t, b, ecID, ecID)
		if err := os.WriteFile(filepath.Join(a, "README.txt"), []byte("not a key"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(a, "sub.pem"), 0o755); err != nil {
			t.Fatal(err)
		}
		d, err := LoadDir(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(d.IDs(), ","), rsaID+","+ecID; got != want {
			t.Errorf("IDs = %s, want %s", got, want)
		}
	})
}

// TestDirKeysPicksUpChanges adds, replaces, breaks and removes key files and
// checks that Lookup (no Reload, no restart) sees each change once the check
// interval has passed, and not before.
func TestDirKeysPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	copyKey(t, dir, rsaID, rsaID)
	d, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_800_000_000, 0)
	d.now = func() time.Time { return clock }
	d.nextCheck.Store(0)
	tick := func() { clock = clock.Add(1100 * time.Millisecond) }
	lookup := func(id string) (any, bool) { return d.Lookup(id) }

	// Added file, visible after the interval only.
	if _, ok := lookup(rsaID); !ok {
		t.Fatal("initial key missing")
	}
	copyKey(t, dir, ecID, "KNEW")
	if _, ok := lookup("KNEW"); ok {
		t.Error("new key visible before the check interval")
	}
	tick()
	k, ok := lookup("KNEW")
	if !ok {
		t.Fatal("added key not picked up")
	}
	if _, isEC := k.(*ecdsa.PublicKey); !isEC {
		t.Errorf("KNEW is %T", k)
	}

	// Content replaced in place (directory mtime unchanged).
	f, err := os.OpenFile(filepath.Join(dir, "KNEW.pem"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "keys", otherID+".pem"))
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	future := clock.Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "KNEW.pem"), future, future); err != nil {
		t.Fatal(err)
	}
	tick()
	if k, _ := lookup("KNEW"); func() bool { _, isRSA := k.(*rsa.PublicKey); return !isRSA }() {
		t.Errorf("in-place change not picked up: %T", k)
	}

	// A file that stops parsing is dropped (fail closed) and reported.
	if err := os.WriteFile(filepath.Join(dir, "KNEW.pem"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	tick()
	if _, ok := lookup("KNEW"); ok {
		t.Error("broken key still trusted")
	}
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "KNEW.pem") {
		t.Errorf("Err = %v", err)
	}

	// Removed file.
	if err := os.Remove(filepath.Join(dir, rsaID+".pem")); err != nil {
		t.Fatal(err)
	}
	tick()
	if _, ok := lookup(rsaID); ok {
		t.Error("removed key still trusted")
	}

	// The verifier denies at once with the removed key, allows with a new one.
	copyKey(t, dir, rsaID, rsaID)
	tick()
	v := New(Options{})
	cookie := cookieSet{keyID: rsaID, policy: policyJSON("*", clock.Add(time.Hour), "")}.header(t)
	r, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", cookie, "", clock)
	if dec := v.Verify(r, d); !dec.Allowed {
		t.Fatalf("re-added key: %+v", dec)
	}
	if err := os.Remove(filepath.Join(dir, rsaID+".pem")); err != nil {
		t.Fatal(err)
	}
	tick()
	r.Now = clock
	if dec := v.Verify(r, d); dec.Code != CodeInvalidKey {
		t.Errorf("after removal (cached signature): %+v", dec)
	}
}

// TestDirKeysRealClock checks the default one-second polling with the real
// clock: a key written after LoadDir is trusted within a few seconds.
func TestDirKeysRealClock(t *testing.T) {
	dir := t.TempDir()
	d, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	copyKey(t, dir, ecID, ecID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := d.Lookup(ecID); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("key not picked up within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDirKeysDirectoryRemoved(t *testing.T) {
	a, b := t.TempDir(), filepath.Join(t.TempDir(), "b")
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	copyKey(t, a, rsaID, rsaID)
	copyKey(t, b, ecID, ecID)
	d, err := LoadDir(a, b)
	if err != nil {
		t.Fatal(err)
	}
	d.interval = 0
	d.nextCheck.Store(0)
	if _, ok := d.Lookup(ecID); !ok {
		t.Fatal("key in second dir missing")
	}
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Lookup(ecID); ok {
		t.Error("key of a removed directory still trusted")
	}
	if _, ok := d.Lookup(rsaID); !ok {
		t.Error("key of the remaining directory dropped")
	}
	if err := d.Err(); err == nil {
		t.Error("removed directory not reported")
	}
}
