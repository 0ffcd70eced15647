package cfsign_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
)

// TestAlgorithmChangeKeepsPlaying: a browser that holds a SHA-256 cookie set
// (ECDSA key) and then, after a rotation to an RSA-SHA1 key, receives a
// SHA-1 set must end up with cookies that verify. Without the deletion of
// CloudFront-Hash-Algorithm in the SHA-1 set, the stale SHA256 cookie stays
// in the jar and CloudFront checks the SHA-1 signature as SHA-256 (denied).
// The jar is net/http/cookiejar, which applies Set-Cookie as a browser does.
func TestAlgorithmChangeKeepsPlaying(t *testing.T) {
	const domain = "d111111abcdef8.cloudfront.net"
	now := exampleNow
	ecKey := exampleKey("test-only-ecdsa-p256.pkcs8.pem", "KECDSAOLD", cfsign.ECDSASHA256)
	rsaKey := exampleKey("test-only-rsa2048.pkcs1.pem", "KRSANEW", cfsign.RSASHA1)
	keys := verifier.KeyMap{
		"KECDSAOLD": ecKey.Signer.Public(),
		"KRSANEW":   rsaKey.Signer.Public(),
	}
	iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: domain, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	apiURL, _ := url.Parse("https://" + domain + "/api/courses/intro-to-hls/access")
	media, _ := url.Parse("https://" + domain + "/courses/intro-to-hls/ts/master.m3u8")
	v := verifier.New(verifier.Options{})

	receive := func(k *cfsign.Key) {
		t.Helper()
		cc, err := iss.Issue(k, "intro-to-hls", cfsign.Conditions{})
		if err != nil {
			t.Fatal(err)
		}
		var cookies []*http.Cookie
		for _, sc := range cc.SetCookies() {
			c, err := http.ParseSetCookie(sc)
			if err != nil {
				t.Fatalf("ParseSetCookie(%q): %v", sc, err)
			}
			cookies = append(cookies, c)
		}
		jar.SetCookies(apiURL, cookies)
	}
	check := func(wantKey string) {
		t.Helper()
		var header []string
		for _, c := range jar.Cookies(media) {
			header = append(header, c.Name+"="+c.Value)
		}
		req, err := verifier.NewRequest(media.String(), strings.Join(header, "; "), "198.51.100.7", now)
		if err != nil {
			t.Fatal(err)
		}
		if d := v.Verify(req, keys); !d.Allowed || d.KeyPairID != wantKey {
			t.Fatalf("after a %s set: %s %s (%s); want allowed with %s", wantKey, d.Code, d.Message, d.Reason, wantKey)
		}
	}

	receive(ecKey)
	check("KECDSAOLD")
	now = now.Add(6 * time.Minute) // next bucket: the player refreshes, now with the rotated key
	receive(rsaKey)
	check("KRSANEW")
}
