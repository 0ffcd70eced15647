package verifier

import (
	"bytes"
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzPolicy is the validly signed policy FuzzVerify mutates.
func fuzzPolicy() []byte {
	return []byte(policyJSON("https://"+domain+"/courses/intro-to-hls/*", testNow.Add(time.Hour), `,"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"}`))
}

const fuzzURL = "https://" + domain + "/courses/intro-to-hls/ts/seg1.ts"

func FuzzParseCookies(f *testing.F) {
	f.Add("CloudFront-Policy=eyJ9; CloudFront-Signature=AAAA; CloudFront-Key-Pair-Id=K1RSATESTKEY01")
	f.Add(`a="b"; ;;=; CloudFront-Expires=1; CloudFront-Expires=2`)
	// The request carries no source IP, so even the validly signed seed (whose
	// policy requires 192.0.2.0/24) is refused: nothing here may be allowed.
	v := New(Options{CacheSize: 16})
	keys := trusted(f, rsaID, ecID)
	u, _ := url.Parse(fuzzURL)
	f.Fuzz(func(t *testing.T, header string) {
		cookies := ParseCookieHeader(header)
		for _, c := range cookies {
			if c == nil || strings.ContainsAny(c.Name, " ;=") {
				t.Fatalf("bad cookie %#v", c)
			}
		}
		d := v.Verify(Request{URL: u, Cookies: cookies, Now: testNow}, keys)
		if d.Allowed {
			t.Fatalf("allowed from a fuzzed cookie header: %+v", d)
		}
		if !d.Allowed && Message(d.Code) == "" {
			t.Fatalf("unknown code %q", d.Code)
		}
	})
}

func FuzzFromHTTP(f *testing.F) {
	f.Add("/courses/intro-to-hls/a.ts?Expires=1&Signature=AA__&Key-Pair-Id=K1RSATESTKEY01", domain, "CloudFront-Key-Pair-Id=K1RSATESTKEY01", "192.0.2.1:443")
	f.Add("/a?&&Policy=&Policy=x", "h:1", "", "[::1]:1")
	v := New(Options{CacheSize: 16})
	keys := trusted(f, rsaID, ecID)
	f.Fuzz(func(t *testing.T, target, host, cookie, remote string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, Host: host, Header: http.Header{"Cookie": {cookie}}, RemoteAddr: remote}
		req := FromHTTP(r, "https", testNow)
		if req.URL == nil || req.URL.Scheme != "https" {
			t.Fatalf("URL %v", req.URL)
		}
		d := v.Verify(req, keys)
		if d.Allowed {
			t.Fatalf("allowed from fuzzed input: %+v", d)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(fuzzPolicy())
	f.Add([]byte(`{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`))
	f.Add([]byte(`{"Statement":[{},{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if p.DateLessThan < 0 || p.HasResource && p.Resource == "" {
			t.Fatalf("parsed %+v", p)
		}
		if p.SourceIP.IsValid() && !p.SourceIP.Addr().Is4() {
			t.Fatalf("non-IPv4 source %v", p.SourceIP)
		}
	})
}

func FuzzMatchResource(f *testing.F) {
	f.Add("https://a.test/x/*", "https://a.test/x/y?z")
	f.Add("http*://*.a.test/?/*", "http://b.a.test/c/d")
	f.Add("https://a.test/a.ts?v=1", "https://a.test/a.ts?v=1")
	f.Add("https://*", "https://a.test/x?y")
	f.Add("http*://a.test*", "http://a.test.b/x")
	f.Add("*a.test", "https://b.a.test/")
	f.Fuzz(func(t *testing.T, pattern, u string) {
		if len(pattern) > 512 || len(u) > 512 {
			return
		}
		got := MatchResource(pattern, u)
		// A trailing '*' in the domain implies "/*" (and the query): the
		// guide's http://example.com* is http://example.com*/*\?*.
		if i := strings.Index(pattern, "://"); i >= 0 && strings.HasSuffix(pattern, "*") && !strings.Contains(pattern[i+3:], "/") {
			if want := MatchResource(pattern+"/*", u); got != want {
				t.Fatalf("%q vs %q: %v, but %q: %v", pattern, u, got, pattern+"/*", want)
			}
		}
		if !strings.ContainsAny(pattern, "*?") {
			if _, ok := splitURL(u); ok && got != (pattern == u) {
				t.Fatalf("literal pattern %q vs %q: %v", pattern, u, got)
			}
		}
		if _, ok := splitURL(u); ok && !strings.ContainsAny(u, "*?") && !MatchResource(u, u) {
			t.Fatalf("URL %q does not match itself", u)
		}
	})
}

// FuzzVerify mutates the policy and the signature of a validly signed cookie
// set (RSA/SHA-1 and ECDSA/SHA-256) and of a signed URL: only the exact signed
// bytes are accepted, and no input panics.
func FuzzVerify(f *testing.F) {
	pol := fuzzPolicy()
	rsaSig := sign(f, rsaID, crypto.SHA1, pol)
	f.Add(pol, rsaSig, "")
	f.Add(pol[1:], rsaSig, "?x")
	f.Add(append([]byte(nil), pol...), rsaSig[:len(rsaSig)-1], "?Key-Pair-Id=K3ECDSATEST003")
	ecSig := sign(f, ecID, crypto.SHA256, pol)
	keys := trusted(f, rsaID, ecID)
	v := New(Options{CacheSize: 64})
	f.Fuzz(func(t *testing.T, policy, sig []byte, query string) {
		same := bytes.Equal(policy, pol) && bytes.Equal(sig, rsaSig)
		check := func(name string, req Request, want bool) {
			t.Helper()
			d := v.Verify(req, keys)
			if d.Allowed && !want {
				t.Fatalf("%s: accepted a changed policy or signature: %+v", name, d)
			}
			if !d.Allowed && Message(d.Code) == "" {
				t.Fatalf("%s: unknown code %q", name, d.Code)
			}
		}
		ip := ParseRemoteAddr("192.0.2.7")
		rsaCookie := "CloudFront-Policy=" + enc(policy) + "; CloudFront-Signature=" + enc(sig) + "; CloudFront-Key-Pair-Id=" + rsaID
		req, err := NewRequest(fuzzURL, rsaCookie, "", testNow)
		if err != nil {
			t.Fatal(err)
		}
		req.SourceIP = ip
		check("rsa-cookie", req, same)
		if same {
			if d := v.Verify(req, keys); !d.Allowed {
				t.Fatalf("the signed original was refused: %+v", d)
			}
		}

		// ECDSA: any policy other than the signed one is refused, whatever the
		// signature (signature bytes are not compared: ECDSA signatures are
		// malleable, (r, n-s) verifies too).
		ecCookie := "CloudFront-Policy=" + enc(policy) + "; CloudFront-Signature=" + enc(sig) + "; CloudFront-Key-Pair-Id=" + ecID + "; CloudFront-Hash-Algorithm=SHA256"
		req, _ = NewRequest(fuzzURL, ecCookie, "", testNow)
		req.SourceIP = ip
		check("ecdsa-cookie", req, bytes.Equal(policy, pol))
		ecCookie = "CloudFront-Policy=" + enc(policy) + "; CloudFront-Signature=" + enc(ecSig) + "; CloudFront-Key-Pair-Id=" + ecID + "; CloudFront-Hash-Algorithm=SHA256"
		req, _ = NewRequest(fuzzURL, ecCookie, "", testNow)
		req.SourceIP = ip
		check("ecdsa-cookie-signed", req, bytes.Equal(policy, pol))

		// Signed URL with the fuzzed query in front of the parameters.
		u := fuzzURL + "?" + strings.TrimPrefix(query, "?")
		if query == "" {
			u = fuzzURL + "?"
		}
		u += "&Policy=" + enc(policy) + "&Signature=" + enc(sig) + "&Key-Pair-Id=" + rsaID
		if req, err := NewRequest(u, "", "192.0.2.7", testNow); err == nil {
			if d := v.Verify(req, keys); d.Allowed {
				// Allowed only on the signed bytes: the first Policy and
				// Signature parameters must be the original ones.
				p, s := firstParam(req.URL.RawQuery, "Policy"), firstParam(req.URL.RawQuery, "Signature")
				pb, perr := Decode(p)
				sb, serr := Decode(s)
				if perr != nil || serr != nil || !bytes.Equal(pb, pol) || !bytes.Equal(sb, rsaSig) {
					t.Fatalf("url: accepted a changed policy or signature: %+v", d)
				}
			}
		}

		// Arbitrary request: never panics.
		if req, err := NewRequest(fuzzURL+"?"+query, string(policy), "", testNow); err == nil {
			v.Verify(req, keys)
		}
	})
}

// TestWriteFuzzCorpus writes the committed seed corpus (run with -update).
func TestWriteFuzzCorpus(t *testing.T) {
	pol := fuzzPolicy()
	rsaSig := sign(t, rsaID, crypto.SHA1, pol)
	corpus := map[string][]string{
		"FuzzParseCookies": {
			lit(cookieSet{keyID: rsaID, policy: string(pol)}.header(t)),
			lit(`a="b"; ;;=; CloudFront-Expires=1; CloudFront-Expires=2`),
			lit("CloudFront-Key-Pair-Id=K3ECDSATEST003; CloudFront-Hash-Algorithm=SHA256; CloudFront-Signature=MEUCIQ__; CloudFront-Expires=1800000000"),
		},
		"FuzzFromHTTP": {
			lit("/courses/intro-to-hls/a.ts?v=1&Expires=1800000000&Signature=AA__&Key-Pair-Id=K1RSATESTKEY01") + lit(domain) + lit("CloudFront-Key-Pair-Id=K1RSATESTKEY01") + lit("192.0.2.1:443"),
			lit("/a%2Fb?&&Policy=&Policy=x&Hash-Algorithm=SHA256") + lit("h:1") + lit("CloudFront-Policy=x; CloudFront-Policy=y") + lit("[::ffff:192.0.2.1]:1"),
		},
		"FuzzParsePolicy": {
			litb(pol),
			litb([]byte(`{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`)),
			litb([]byte(`{"Statement":[{"Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1},"DateLessThan":{"AWS:EpochTime":2}}}]}`)),
			litb([]byte(`{"Statement":[{},{}]}`)),
		},
		"FuzzMatchResource": {
			lit("https://a.test/x/*") + lit("https://a.test/x/y?z"),
			lit("http*://*.a.test/?/*") + lit("http://b.a.test/c/d"),
			lit("https://a.test/*a*a*a*b") + lit("https://a.test/aaaaaaaaaaaaaaaaaaaaaaaa"),
			lit("https://*") + lit("https://a.test/x?y"),
			lit("http*://a.test*") + lit("http://a.test.b/x"),
			lit("*a.test") + lit("https://b.a.test/"),
		},
		"FuzzVerify": {
			litb(pol) + litb(rsaSig) + lit(""),
			litb(pol) + litb(rsaSig) + lit("v=2&Signature=x"),
			litb(pol[:len(pol)-1]) + litb(rsaSig) + lit("a"),
			litb(pol) + litb(append([]byte{0}, rsaSig...)) + lit(""),
		},
	}
	for target, entries := range corpus {
		dir := filepath.Join("testdata", "fuzz", target)
		for i, e := range entries {
			path := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
			want := "go test fuzz v1\n" + e
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(got) != want {
				t.Errorf("%s is stale (run with -update)", path)
			}
		}
	}
}

func lit(s string) string  { return "string(" + strconv.Quote(s) + ")\n" }
func litb(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")\n" }

func firstParam(raw, name string) string {
	for _, pair := range strings.Split(raw, "&") {
		if k, v, _ := strings.Cut(pair, "="); k == name {
			if u, err := url.PathUnescape(v); err == nil {
				return u
			}
			return v
		}
	}
	return ""
}
