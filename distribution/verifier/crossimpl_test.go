package verifier

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// These tests check the verifier against independent signers that run here:
// botocore's CloudFrontSigner (python3) and the openssl command. They never
// skip: a missing tool fails the test.

func needTool(t *testing.T, name string) string {
	t.Helper()
	needs.Tool(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for the cross-implementation tests (make deps): %v", name, err)
	}
	return p
}

type botoOut struct {
	Botocore        string `json:"botocore"`
	Backend         string `json:"backend"`
	CannedURL       string `json:"canned_url"`
	CustomURL       string `json:"custom_url"`
	CustomPolicy    string `json:"custom_policy"`
	CookiePolicy    string `json:"cookie_policy"`
	CookieSignature string `json:"cookie_signature"`
}

func botocoreSign(t *testing.T, in map[string]any) botoOut {
	t.Helper()
	py := needTool(t, "python3")
	b, _ := json.Marshal(in)
	cmd := exec.Command(py, filepath.Join("testdata", "botocore_sign.py"))
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore signer: %v\n%s", err, stderr.String())
	}
	var o botoOut
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("botocore output %q: %v", out, err)
	}
	return o
}

func TestBotocoreSigner(t *testing.T) {
	base := "https://" + domain
	pdf := base + "/courses/intro-to-hls/ebook.pdf?v=2"
	resource := base + "/courses/intro-to-hls/*"
	exp := testNow.Add(10 * time.Minute)
	keys := trusted(t, rsaID, ecID)
	for _, backend := range []string{"cryptography", "openssl"} {
		t.Run(backend, func(t *testing.T) {
			o := botocoreSign(t, map[string]any{
				"key_id": rsaID, "key_path": filepath.Join("testdata", "private", rsaID+".pem"),
				"url": pdf, "expires": exp.Unix(), "resource": resource,
				"date_greater_than": testNow.Add(-time.Minute).Unix(), "ip_address": "192.0.2.0/24",
				"backend": backend,
			})
			if o.Backend != backend {
				t.Fatalf("botocore signer used %s, want %s", o.Backend, backend)
			}
			t.Logf("botocore %s (%s)", o.Botocore, o.Backend)
			cookie := "CloudFront-Policy=" + o.CookiePolicy + "; CloudFront-Signature=" + o.CookieSignature + "; CloudFront-Key-Pair-Id=" + rsaID
			seg := base + "/courses/intro-to-hls/ts/seg1.ts"
			tests := []struct {
				name, url, cookie, ip string
				now                   time.Time
				code, policy          string
			}{
				{"canned-url", o.CannedURL, "", "", testNow, "", "canned"},
				{"canned-url-expired", o.CannedURL, "", "", exp, CodeAccessDenied, "canned"},
				{"canned-url-other-object", strings.Replace(o.CannedURL, "ebook.pdf", "ebook2.pdf", 1), "", "", testNow, CodeAccessDenied, "canned"},
				{"custom-url", o.CustomURL, "", "192.0.2.10", testNow, "", "custom"},
				{"custom-url-ip-outside", o.CustomURL, "", "198.51.100.1", testNow, CodeAccessDenied, "custom"},
				{"custom-cookie", seg, cookie, "192.0.2.10", testNow, "", "custom"},
				{"custom-cookie-other-course", base + "/courses/advanced-streaming/ts/seg1.ts", cookie, "192.0.2.10", testNow, CodeAccessDenied, "custom"},
				{"custom-cookie-not-yet-valid", seg, cookie, "192.0.2.10", testNow.Add(-2 * time.Minute), CodeAccessDenied, "custom"},
			}
			v := New(Options{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req, err := NewRequest(tt.url, tt.cookie, tt.ip, tt.now)
					if err != nil {
						t.Fatal(err)
					}
					d := v.Verify(req, keys)
					if d.Code != tt.code || d.Policy != tt.policy {
						t.Errorf("decision %+v, want code %q policy %q", d, tt.code, tt.policy)
					}
				})
			}
			// The policy botocore wrote parses to what was asked.
			p, err := ParsePolicy([]byte(o.CustomPolicy))
			if err != nil {
				t.Fatal(err)
			}
			if p.Resource != resource || p.DateLessThan != exp.Unix() || p.SourceIP.String() != "192.0.2.0/24" {
				t.Errorf("parsed botocore policy %+v", p)
			}
		})
	}
}

// opensslB64 runs a shell pipeline that signs (or just encodes) a file with
// openssl and converts to CloudFront's alphabet with tr.
func opensslB64(t *testing.T, script string, args ...string) string {
	t.Helper()
	needTool(t, "openssl")
	cmd := exec.Command("sh", append([]string{"-c", script + " | openssl base64 -A | tr '+=/' '-_~'", "sh"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v %s", script, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestOpenSSLSigner(t *testing.T) {
	base := "https://" + domain
	exp := testNow.Add(10 * time.Minute)
	keys := trusted(t, rsaID, ecID)
	dir := t.TempDir()
	// A hand-written policy, with the spacing a person would type.
	policy := "{\"Statement\": [{\"Resource\": \"" + base + "/courses/intro-to-hls/*\",\n  \"Condition\": {\"DateLessThan\": {\"AWS:EpochTime\": " + itoa(exp.Unix()) + "}}}]}\n"
	policyFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyFile, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	seg := base + "/courses/intro-to-hls/ts/seg1.ts"
	pdf := base + "/courses/intro-to-hls/ebook.pdf"
	cannedFile := filepath.Join(dir, "canned.json")
	if err := os.WriteFile(cannedFile, []byte(`{"Statement":[{"Resource":"`+pdf+`","Condition":{"DateLessThan":{"AWS:EpochTime":`+itoa(exp.Unix())+`}}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	encPolicy := opensslB64(t, `cat "$1"`, policyFile)
	for _, tt := range []struct {
		name, keyID, digest, hashParam string
	}{
		{"rsa-sha1", rsaID, "-sha1", ""},
		{"rsa-sha256", rsaID, "-sha256", "SHA256"},
		{"ecdsa-sha256", ecID, "-sha256", "SHA256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			priv := filepath.Join("testdata", "private", tt.keyID+".pem")
			sig := opensslB64(t, `openssl dgst "$1" -sign "$2" "$3"`, tt.digest, priv, policyFile)
			cannedSig := opensslB64(t, `openssl dgst "$1" -sign "$2" "$3"`, tt.digest, priv, cannedFile)
			cookie := "CloudFront-Policy=" + encPolicy + "; CloudFront-Signature=" + sig + "; CloudFront-Key-Pair-Id=" + tt.keyID
			if tt.hashParam != "" {
				cookie += "; CloudFront-Hash-Algorithm=" + tt.hashParam
			}
			customURL := pdf + "?Policy=" + encPolicy + "&Signature=" + sig + "&Key-Pair-Id=" + tt.keyID
			cannedURL := pdf + "?Expires=" + itoa(exp.Unix()) + "&Signature=" + cannedSig + "&Key-Pair-Id=" + tt.keyID
			if tt.hashParam != "" {
				customURL += "&Hash-Algorithm=" + tt.hashParam
				cannedURL += "&Hash-Algorithm=" + tt.hashParam
			}
			v := New(Options{CacheSize: -1})
			for _, c := range []struct {
				name, url, cookie, code string
			}{
				{"cookie", seg, cookie, ""},
				{"cookie-other-course", base + "/courses/advanced-streaming/ts/seg1.ts", cookie, CodeAccessDenied},
				{"custom-url", customURL, "", ""},
				{"canned-url", cannedURL, "", ""},
				{"canned-url-other-object", strings.Replace(cannedURL, "ebook.pdf", "ebook.pdf2", 1), "", CodeAccessDenied},
			} {
				t.Run(c.name, func(t *testing.T) {
					req, err := NewRequest(c.url, c.cookie, "", testNow)
					if err != nil {
						t.Fatal(err)
					}
					if d := v.Verify(req, keys); d.Code != c.code {
						t.Errorf("decision %+v, want code %q", d, c.code)
					}
				})
			}
		})
	}
}

// TestOpenSSLAgrees checks that openssl dgst -verify and the verifier agree on
// signatures made by this package's tests, and on the same signatures with one
// byte changed.
func TestOpenSSLAgrees(t *testing.T) {
	needTool(t, "openssl")
	dir := t.TempDir()
	exp := testNow.Add(10 * time.Minute)
	policy := []byte(policyJSON("https://"+domain+"/courses/intro-to-hls/*", exp, ""))
	policyFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyFile, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	keys := trusted(t, rsaID, ecID)
	v := New(Options{CacheSize: -1})
	for _, tt := range []struct {
		name, keyID, digest, hashName string
		hash                          int
	}{
		{"rsa-sha1", rsaID, "-sha1", "", 1},
		{"rsa-sha256", rsaID, "-sha256", "SHA256", 256},
		{"ecdsa-sha256", ecID, "-sha256", "SHA256", 256},
	} {
		for _, tamper := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/intact", true: "/tampered"}[tamper]
			t.Run(name, func(t *testing.T) {
				h := cryptoHash(tt.hash)
				sig := sign(t, tt.keyID, h, policy)
				if tamper {
					sig[len(sig)/2] ^= 0x40
				}
				sigFile := filepath.Join(dir, "sig.bin")
				if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command("openssl", "dgst", tt.digest, "-verify", filepath.Join("testdata", "keys", tt.keyID+".pem"), "-signature", sigFile, policyFile).CombinedOutput()
				opensslOK := err == nil && strings.Contains(string(out), "Verified OK")
				cookie := "CloudFront-Policy=" + enc(policy) + "; CloudFront-Signature=" + enc(sig) + "; CloudFront-Key-Pair-Id=" + tt.keyID
				if tt.hashName != "" {
					cookie += "; CloudFront-Hash-Algorithm=" + tt.hashName
				}
				req, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", cookie, "", testNow)
				d := v.Verify(req, keys)
				if opensslOK == tamper || d.Allowed != opensslOK {
					t.Errorf("openssl verified=%v (%s), verifier allowed=%v (%s), tampered=%v", opensslOK, strings.TrimSpace(string(out)), d.Allowed, d.Reason, tamper)
				}
			})
		}
	}
}
