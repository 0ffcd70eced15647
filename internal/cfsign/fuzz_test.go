package cfsign

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzParseSecret: ParseSecret never panics, returns either a working key or
// an error (never both, never neither), and its errors never contain a line of
// the private key.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []struct{ file, alg string }{
		{"test-only-rsa2048.pkcs1.pem", "RSA-SHA1"},
		{"test-only-ecdsa-p256.sec1.pem", "ECDSA-SHA256"},
		{"test-only-ecdsa-p256.pkcs8.pem", "RSA-SHA1"},
	} {
		f.Add(secretJSON(f, "K2JCJMDEHXQW5F", s.file, s.alg))
	}
	f.Add([]byte(`{"keyPairId":"K1","privateKey":"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFa/\n-----END PRIVATE KEY-----\n","algorithm":"ECDSA-SHA256"}`))
	f.Add([]byte(`{"keyPairId":"K1","kmsKeyId":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd","algorithm":"ECDSA-SHA256"}`))
	f.Add([]byte(`{"keyPairId":"K1","kmsKeyId":"k","privateKey":"x","algorithm":"RSA-SHA256"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"keyPairId":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseSecret(data)
		if (k == nil) == (err == nil) {
			t.Fatalf("ParseSecret returned key %v and error %v", k, err)
		}
		var s Secret
		_ = json.Unmarshal(data, &s)
		if err != nil {
			for line := range strings.SplitSeq(s.PrivateKey, "\n") {
				line = strings.TrimSpace(line)
				if len(line) >= 16 && isBase64Line(line) && !strings.Contains(s.KeyPairID, line) && strings.Contains(err.Error(), line) {
					t.Fatalf("error contains a line of the private key: %q", err)
				}
			}
			return
		}
		if !strings.Contains(s.PrivateKey, "-----BEGIN ") || k.ID != s.KeyPairID {
			t.Fatalf("ParseSecret accepted %q", data)
		}
		sig, err := k.SignPolicy([]byte("policy"))
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(k.Algorithm, k.Signer.Public(), []byte("policy"), sig); err != nil {
			t.Fatalf("parsed key signs unverifiably: %v", err)
		}
	})
}

func isBase64Line(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// FuzzDecode: Decode accepts only canonical CloudFront base64, so
// Encode(Decode(s)) == s, and Decode(Encode(b)) == b for any bytes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "AA__", "~~~-", "eyJTdGF0ZW1lbnQiOltdfQ__", "AB__", "+/8=", "AAAA\n", "A", "AAA_", "A~-_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := Decode(s); err == nil {
			if got := Encode(b); got != s {
				t.Fatalf("Encode(Decode(%q)) = %q", s, got)
			}
		} else if b != nil {
			t.Fatalf("Decode(%q) returned bytes with an error", s)
		}
		enc := Encode([]byte(s))
		if strings.ContainsAny(enc, "+/=") {
			t.Fatalf("Encode(%q) = %q contains standard base64 characters", s, enc)
		}
		b, err := Decode(enc)
		if err != nil || !bytes.Equal(b, []byte(s)) {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", s, b, err)
		}
	})
}

// FuzzCoursePolicy: whatever the inputs, a policy is only produced for a valid
// domain and course id, and its single statement's Resource is exactly
// https://<domain>/courses/<id>/* with no wildcard but the trailing '*'.
func FuzzCoursePolicy(f *testing.F) {
	f.Add("d111111abcdef8.cloudfront.net", "intro-to-hls", int64(1767323700), int64(0), "")
	f.Add("localhost:8080", "a", int64(1), int64(0), "192.0.2.0/24")
	f.Add("d.example", "a*", int64(1767323700), int64(1767323000), "10.0.0.1/8")
	f.Add("*.example", "a", int64(1767323700), int64(0), "")
	f.Add("d.example/x", "a?b", int64(1767323700), int64(0), "::1/128")
	f.Add("d.example", "%2A", int64(-5), int64(0), "")
	f.Add("d.example", "caf\u00e9", int64(1767323700), int64(1767323701), "")
	f.Fuzz(func(t *testing.T, domain, id string, exp, nb int64, ip string) {
		var c Conditions
		if nb != 0 {
			c.NotBefore = time.Unix(nb, 0)
		}
		if p, err := netip.ParsePrefix(ip); err == nil {
			c.SourceIP = p
		}
		policy, err := CoursePolicy(domain, id, time.Unix(exp, 0), c)
		valid := ValidateDomain(domain) == nil && ValidateCourseID(id) == nil
		if err != nil {
			if policy != nil {
				t.Fatal("policy returned with an error")
			}
			if valid && exp > 0 && nb >= 0 && nb < exp && (ip == "" || !c.SourceIP.IsValid() || c.SourceIP.Addr().Is4()) && (c.SourceIP == netip.Prefix{} || c.SourceIP.IsValid()) {
				t.Fatalf("valid input rejected: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("policy built from unvalidated input %q %q", domain, id)
		}
		var p struct {
			Statement []struct {
				Resource  string
				Condition map[string]map[string]any
			}
		}
		if err := json.Unmarshal(policy, &p); err != nil {
			t.Fatalf("policy is not JSON: %v\n%s", err, policy)
		}
		if len(p.Statement) != 1 {
			t.Fatalf("%d statements", len(p.Statement))
		}
		r := p.Statement[0].Resource
		if want := "https://" + domain + "/courses/" + id + "/*"; r != want {
			t.Fatalf("Resource = %q, want %q", r, want)
		}
		if strings.Count(r, "*") != 1 || strings.Contains(r, "?") || !strings.HasSuffix(r, "/*") {
			t.Fatalf("Resource %q has a wildcard besides the trailing *", r)
		}
		if got := p.Statement[0].Condition["DateLessThan"]["AWS:EpochTime"]; got != float64(exp) {
			t.Fatalf("DateLessThan = %v, want %d", got, exp)
		}
	})
}
