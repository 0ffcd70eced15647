package cfsign

import (
	"strings"
	"testing"
	"time"
)

// TestIssueForURLParams: a playback lifetime gets its own bucketed expiry
// and shares the signature cache; the URL parameters carry exactly the
// cookies' policy, signature, key pair id (and hash algorithm).
func TestIssueForURLParams(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, alg := range []Algorithm{RSASHA1, ECDSASHA256} {
		iss := newTestIssuer(t, IssuerConfig{Domain: "d.example", Now: func() time.Time { return now }})
		key := testKey(t, alg)
		cc, err := iss.IssueFor(key, "c1", 4*time.Hour, Conditions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 1, 2, 7, 5, 0, 0, time.UTC); !cc.Expires.Equal(want) {
			t.Errorf("%s: expires %v, want %v", alg, cc.Expires, want)
		}
		q := cc.URLParams()
		var want []string
		for _, c := range cc.Cookies {
			want = append(want, strings.TrimPrefix(c.Name, "CloudFront-")+"="+c.Value)
		}
		if q != strings.Join(want, "&") || !strings.HasPrefix(q, "Policy=") {
			t.Errorf("%s: URLParams %q, want %q", alg, q, strings.Join(want, "&"))
		}
		if hasHash := strings.Contains(q, "&Hash-Algorithm=SHA256"); hasHash != (alg.HashName() == "SHA256") {
			t.Errorf("%s: %q", alg, q)
		}
		before := iss.cache.stats().Signs
		if _, err := iss.IssueFor(key, "c1", 4*time.Hour, Conditions{}); err != nil {
			t.Fatal(err)
		}
		if iss.cache.stats().Signs != before {
			t.Errorf("%s: the second playback start in the bucket signed again", alg)
		}
		if _, err := iss.IssueFor(key, "c1", 0, Conditions{}); err == nil {
			t.Error("zero lifetime accepted")
		}
	}
}
