package verifier

import (
	"crypto"
	"net/http/httptest"
	"testing"
	"time"
)

func benchRequest(b *testing.B, keyID string, h crypto.Hash) Request {
	b.Helper()
	cookie := cookieSet{keyID: keyID, hash: h, policy: policyJSON("https://"+domain+"/courses/intro-to-hls/*", testNow.Add(time.Hour), "")}.header(b)
	req, err := NewRequest("https://"+domain+"/courses/intro-to-hls/fmp4/v0/seg00042.m4s", cookie, "192.0.2.7", testNow)
	if err != nil {
		b.Fatal(err)
	}
	return req
}

func benchVerify(b *testing.B, v *Verifier, req Request, keys Keys) {
	b.Helper()
	if d := v.Verify(req, keys); !d.Allowed {
		b.Fatal(d.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if d := v.Verify(req, keys); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkVerifyCacheHit is a segment request whose cookies were verified
// before: a cache lookup plus the time, IP and resource checks.
func BenchmarkVerifyCacheHit(b *testing.B) {
	benchVerify(b, New(Options{}), benchRequest(b, rsaID, crypto.SHA1), trusted(b, rsaID, ecID))
}

// BenchmarkVerifyMissRSA verifies an RSA-2048/SHA-1 signature every time.
func BenchmarkVerifyMissRSA(b *testing.B) {
	benchVerify(b, New(Options{CacheSize: -1}), benchRequest(b, rsaID, crypto.SHA1), trusted(b, rsaID, ecID))
}

// BenchmarkVerifyMissECDSA verifies an ECDSA P-256/SHA-256 signature every time.
func BenchmarkVerifyMissECDSA(b *testing.B) {
	benchVerify(b, New(Options{CacheSize: -1}), benchRequest(b, ecID, crypto.SHA256), trusted(b, rsaID, ecID))
}

// BenchmarkFromHTTPVerifyCacheHit adds building the Request from an
// *http.Request (cookie parsing included) to the cache hit.
func BenchmarkFromHTTPVerifyCacheHit(b *testing.B) {
	r := httptest.NewRequest("GET", "/courses/intro-to-hls/fmp4/v0/seg00042.m4s", nil)
	r.Host = domain
	r.RemoteAddr = "192.0.2.7:50000"
	r.Header.Set("Cookie", cookieSet{keyID: rsaID, policy: policyJSON("https://"+domain+"/courses/intro-to-hls/*", testNow.Add(time.Hour), "")}.header(b))
	v := New(Options{})
	keys := trusted(b, rsaID, ecID)
	b.ReportAllocs()
	for b.Loop() {
		if d := v.Verify(FromHTTP(r, "https", testNow), keys); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}
