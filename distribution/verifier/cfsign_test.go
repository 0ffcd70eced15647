package verifier_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
)

// TestCfsignIssuedVerify checks that what internal/cfsign issues (cookies,
// canned and custom URLs, every algorithm) passes this independent verifier,
// through a real HTTP round trip, and only for what it grants.
func TestCfsignIssuedVerify(t *testing.T) {
	const domain = "d111111abcdef8.cloudfront.net"
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	keys, err := verifier.LoadDir(filepath.Join("testdata", "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		alg cfsign.Algorithm
		id  string
	}{
		{cfsign.RSASHA1, "K1RSATESTKEY01"},
		{cfsign.RSASHA256, "K1RSATESTKEY01"},
		{cfsign.ECDSASHA256, "K3ECDSATEST003"},
	} {
		t.Run(string(tt.alg), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "private", tt.id+".pem"))
			if err != nil {
				t.Fatal(err)
			}
			signer, err := cfsign.ParsePrivateKeyPEM(b)
			if err != nil {
				t.Fatal(err)
			}
			key, err := cfsign.NewKey(tt.id, tt.alg, signer)
			if err != nil {
				t.Fatal(err)
			}
			iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: domain, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			cc, err := iss.Issue(key, "intro-to-hls", cfsign.Conditions{SourceIP: netip.MustParsePrefix("192.0.2.0/24")})
			if err != nil {
				t.Fatal(err)
			}
			var pairs []string
			for _, c := range cc.Cookies {
				pairs = append(pairs, c.Name+"="+c.Value)
			}
			cookie := strings.Join(pairs, "; ")
			pdf := "https://" + domain + "/courses/intro-to-hls/ebook.pdf?lang=en"
			canned, err := cfsign.SignURL(key, pdf, now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			pol, err := cfsign.CoursePolicy(domain, "intro-to-hls", now.Add(time.Hour), cfsign.Conditions{})
			if err != nil {
				t.Fatal(err)
			}
			custom, err := cfsign.SignURLWithPolicy(key, pdf, pol)
			if err != nil {
				t.Fatal(err)
			}

			v := verifier.New(verifier.Options{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The test server is on 127.0.0.1; verify as the distribution's domain.
				r.Host = domain
				r.RemoteAddr = r.Header.Get("X-Test-Source") + ":1234"
				clock, err := time.Parse(time.RFC3339, r.Header.Get("X-Test-Now"))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				d := v.Verify(verifier.FromHTTP(r, "https", clock), keys)
				if !d.Allowed {
					d.WriteError(w)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			get := func(rawURL, cookie, source string, when time.Time) int {
				t.Helper()
				path := strings.TrimPrefix(rawURL, "https://"+domain)
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				req.Header.Set("X-Test-Source", source)
				req.Header.Set("X-Test-Now", when.Format(time.RFC3339))
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			for _, c := range []struct {
				name, url, cookie, source string
				when                      time.Time
				want                      int
			}{
				{"cookie-segment", "https://" + domain + "/courses/intro-to-hls/ts/seg1.ts", cookie, "192.0.2.5", now, 200},
				{"cookie-other-course", "https://" + domain + "/courses/advanced-streaming/ts/seg1.ts", cookie, "192.0.2.5", now, 403},
				{"cookie-other-ip", "https://" + domain + "/courses/intro-to-hls/ts/seg1.ts", cookie, "198.51.100.5", now, 403},
				{"cookie-expired", "https://" + domain + "/courses/intro-to-hls/ts/seg1.ts", cookie, "192.0.2.5", cc.Expires, 403},
				{"canned-url", canned, "", "192.0.2.5", now, 200},
				{"canned-url-other-lang", strings.Replace(canned, "lang=en", "lang=fr", 1), "", "192.0.2.5", now, 403},
				{"custom-url", custom, "", "198.51.100.5", now, 200},
			} {
				t.Run(c.name, func(t *testing.T) {
					if got := get(c.url, c.cookie, c.source, c.when); got != c.want {
						t.Errorf("status %d, want %d", got, c.want)
					}
				})
			}
		})
	}
}
