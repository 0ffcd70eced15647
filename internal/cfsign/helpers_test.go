package cfsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixedNow is the clock of the deterministic tests: 2026-01-02T03:04:05Z.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Test-only key pair ids.
const (
	testRSAID   = "KTESTRSA2048"
	testECDSAID = "KTESTECDSAP256"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRSASigner(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	s, err := ParsePrivateKeyPEM(readTestdata(t, "test-only-rsa2048.pkcs1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return s.(*rsa.PrivateKey)
}

func testECDSASigner(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	s, err := ParsePrivateKeyPEM(readTestdata(t, "test-only-ecdsa-p256.sec1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return s.(*ecdsa.PrivateKey)
}

// testKey returns the committed test key for alg.
func testKey(t testing.TB, alg Algorithm) *Key {
	t.Helper()
	var (
		k   *Key
		err error
	)
	if alg == ECDSASHA256 {
		k, err = NewKey(testECDSAID, alg, testECDSASigner(t))
	} else {
		k, err = NewKey(testRSAID, alg, testRSASigner(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var allAlgorithms = []Algorithm{RSASHA1, RSASHA256, ECDSASHA256}

// opaqueSigner exposes only crypto.Signer, as a KMS-backed signer would: no
// access to the private key's fields, no type assertions possible.
type opaqueSigner struct {
	inner crypto.Signer
	calls int
}

func (o *opaqueSigner) Public() crypto.PublicKey { return o.inner.Public() }
func (o *opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	o.calls++
	return o.inner.Sign(r, digest, opts)
}

// failingSigner returns an error or a wrong signature.
type failingSigner struct {
	pub     crypto.PublicKey
	badSig  bool
	failErr error
}

func (f failingSigner) Public() crypto.PublicKey { return f.pub }
func (f failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	if f.badSig {
		return make([]byte, 256), nil
	}
	if f.failErr != nil {
		return nil, f.failErr
	}
	return nil, errors.New("kms: unavailable")
}

// verifyTest checks sig over msg with the key's public half.
func verifyTest(t testing.TB, k *Key, msg, sig []byte) {
	t.Helper()
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		h, d := crypto.SHA256, sha256.Sum256(msg)
		digest := d[:]
		if k.Algorithm == RSASHA1 {
			s := sha1.Sum(msg)
			h, digest = crypto.SHA1, s[:]
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest, sig); err != nil {
			t.Fatalf("%s signature does not verify: %v", k.Algorithm, err)
		}
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			t.Fatalf("%s signature does not verify", k.Algorithm)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
}
