package cfsign

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// opensslVerify runs `openssl dgst -<hash> -verify pub.pem -signature sig.bin
// policy.json` and reports whether openssl printed "Verified OK". A missing
// openssl binary fails the test.
func opensslVerify(t *testing.T, k *Key, policy, sig []byte) bool {
	t.Helper()
	needs.Tool(t, "openssl")
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required for the cross-implementation tests: %v", err)
	}
	dir := t.TempDir()
	pub, err := MarshalPublicKeyPEM(k.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"pub.pem": pub, "sig.bin": sig, "policy.json": policy} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hash := "-sha256"
	if k.Algorithm == RSASHA1 {
		hash = "-sha1"
	}
	cmd := exec.Command(bin, "dgst", hash, "-verify", "pub.pem", "-signature", "sig.bin", "policy.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	ok := err == nil && bytes.Contains(out, []byte("Verified OK"))
	// A tampered ECDSA signature may no longer be valid DER, which openssl
	// reports as "Error verifying data" rather than "Verification failure":
	// both mean "not verified". Anything else is a broken invocation.
	if !ok && !bytes.Contains(out, []byte("Verification failure")) && !bytes.Contains(out, []byte("Error verifying data")) {
		t.Fatalf("openssl dgst failed unexpectedly: %v\n%s", err, out)
	}
	return ok
}

// TestOpenSSLVerifiesIssuedCookies: the cookies cfgate issues verify with
// openssl over the decoded CloudFront-Policy bytes, and a one-byte change to
// the policy or signature does not.
func TestOpenSSLVerifiesIssuedCookies(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			iss := newTestIssuer(t, IssuerConfig{})
			cc, err := iss.Issue(k, "intro-to-hls", Conditions{NotBefore: fixedNow.Add(-time.Minute), SourceIP: mustPrefix(t, "203.0.113.0/24")})
			if err != nil {
				t.Fatal(err)
			}
			m := cookieMap(cc.Cookies)
			policy, err := Decode(m[CookiePolicy].Value)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := Decode(m[CookieSignature].Value)
			if err != nil {
				t.Fatal(err)
			}
			if !opensslVerify(t, k, policy, sig) {
				t.Fatal("openssl does not verify the issued cookie")
			}
			badPolicy := bytes.Replace(policy, []byte("intro-to-hls"), []byte("intro-to-hlt"), 1)
			if opensslVerify(t, k, badPolicy, sig) {
				t.Error("openssl verifies a tampered policy")
			}
			badSig := bytes.Clone(sig)
			badSig[len(badSig)/2] ^= 0x01
			if opensslVerify(t, k, policy, badSig) {
				t.Error("openssl verifies a tampered signature")
			}
		})
	}
}

// TestOpenSSLVerifiesSignedURLs does the same for canned and custom URLs.
func TestOpenSSLVerifiesSignedURLs(t *testing.T) {
	exp := fixedNow.Add(time.Hour)
	for _, alg := range allAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			canned, err := SignURL(k, ebookURL+"?v=1", exp)
			if err != nil {
				t.Fatal(err)
			}
			policy, sig, _ := cannedPolicyFor(t, canned)
			if !strings.Contains(string(policy), `"Resource":"`+ebookURL+`?v=1"`) {
				t.Fatalf("rebuilt canned policy %s", policy)
			}
			if !opensslVerify(t, k, policy, sig) {
				t.Error("openssl does not verify the canned-policy URL")
			}
			pol, err := URLPolicy(ebookURL, exp, Conditions{})
			if err != nil {
				t.Fatal(err)
			}
			custom, err := SignURLWithPolicy(k, ebookURL, pol)
			if err != nil {
				t.Fatal(err)
			}
			policy, sig, _ = cannedPolicyFor(t, custom)
			if !opensslVerify(t, k, policy, sig) {
				t.Error("openssl does not verify the custom-policy URL")
			}
		})
	}
}
