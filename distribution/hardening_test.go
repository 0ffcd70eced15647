package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/api"
)

// startHardened serves the in-process distribution over real TCP on
// 127.0.0.1 with small lockout thresholds.
func startHardened(t *testing.T, perSource, account int) (*app, string) {
	t.Helper()
	return startWith(t, func(o *options) {
		o.lockoutThreshold, o.lockoutAccountThreshold, o.lockoutWindow = perSource, account, time.Hour
	})
}

// startWith serves the in-process distribution over real TCP on 127.0.0.1
// with the test defaults changed by set.
func startWith(t *testing.T, set func(o *options)) (*app, string) {
	t.Helper()
	needHLSJS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	domain := ln.Addr().String()
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{state: t.TempDir(), template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute, demoPassword: testPassword}
	set(o)
	a, err := setup(context.Background(), o, domain, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(a.close)
	t.Cleanup(srv.Close)
	return a, srv.URL
}

// fromLoopback is an HTTP client whose connections leave from source, one of
// 127.0.0.0/8 (every loopback address reaches a server on 127.0.0.1), with
// keep-alives off so that every request is a new connection from it.
func fromLoopback(t *testing.T, source string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// login posts a login through the distribution and returns the status.
func login(t *testing.T, c *http.Client, base, email, pw string, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestLockoutBySourceAddress: the lockout rules over real HTTP through the
// local distribution, which passes each TCP peer's address as
// CloudFront-Viewer-Address: one address's failures lock out that address
// only (the right password too), a spoofed CloudFront-Viewer-Address changes
// nothing, and failures spread over several addresses lock the account
// everywhere once they pass the account-wide threshold. An unknown email
// meets the same statuses.
func TestLockoutBySourceAddress(t *testing.T) {
	const perSource, account = 3, 10
	for _, who := range []struct{ email, pw string }{{demoEmail, testPassword}, {"nobody@cfgate.test", testPassword}} {
		t.Run(who.email, func(t *testing.T) {
			_, base := startHardened(t, perSource, account)
			ok := http.StatusOK
			if who.email != demoEmail {
				ok = http.StatusUnauthorized
			}
			c2, c3, c4, c5 := fromLoopback(t, "127.0.0.2"), fromLoopback(t, "127.0.0.3"), fromLoopback(t, "127.0.0.4"), fromLoopback(t, "127.0.0.5")

			// 127.0.0.2 fails perSource times, each time claiming another
			// viewer address: the claims are overwritten by the distribution.
			for i := range perSource {
				spoof := fmt.Sprintf("198.51.100.%d:443", i+1)
				if s := login(t, c2, base, who.email, "wrong", api.ViewerAddressHeader, spoof); s != http.StatusUnauthorized {
					t.Fatalf("failure %d from 127.0.0.2: status %d, want 401", i+1, s)
				}
			}
			if s := login(t, c2, base, who.email, who.pw, api.ViewerAddressHeader, "198.51.100.99:443"); s != http.StatusTooManyRequests {
				t.Fatalf("right password from the locked 127.0.0.2 (spoofed header): status %d, want 429", s)
			}
			// A viewer that sends the origin header itself gains nothing:
			// the distribution sets its own value.
			if s := login(t, c2, base, who.email, who.pw, api.OriginVerifyHeader, "guess", api.ViewerAddressHeader, "198.51.100.7:443"); s != http.StatusTooManyRequests {
				t.Fatalf("viewer-sent origin header from 127.0.0.2: status %d, want 429", s)
			}
			if s := login(t, c3, base, who.email, who.pw); s != ok {
				t.Fatalf("right password from 127.0.0.3: status %d, want %d", s, ok)
			}

			// Account-wide: 127.0.0.2 contributed perSource failures (its
			// 429s do not count); 127.0.0.3 and .4 add perSource each and
			// keep going (their 429s do not count either): 9 failures. The
			// 10th, from 127.0.0.5, is still 401; after it the account is
			// locked for every address.
			for _, c := range []*http.Client{c3, c4} {
				for range perSource + 2 {
					login(t, c, base, who.email, "wrong")
				}
			}
			if s := login(t, c5, base, who.email, "wrong"); s != http.StatusUnauthorized {
				t.Fatalf("10th account-wide failure: status %d, want 401", s)
			}
			if s := login(t, c5, base, who.email, who.pw); s != http.StatusTooManyRequests {
				t.Fatalf("right password from 127.0.0.5 after %d account-wide failures: status %d, want 429", account, s)
			}
			// Another account is not affected.
			if who.email == demoEmail {
				if s := login(t, c5, base, "other@cfgate.test", "x"); s != http.StatusUnauthorized {
					t.Fatalf("another account from 127.0.0.5: status %d, want 401", s)
				}
			}
		})
	}
}

// TestAPIOriginRequest: what reaches the API is what CloudFront would send
// under the template's /api/* origin request policy: the origin header with
// the distribution's own value, the TCP peer as CloudFront-Viewer-Address,
// and only the policy's viewer headers.
func TestAPIOriginRequest(t *testing.T) {
	a, base := startHardened(t, 10, 100)
	var got *http.Request
	a.server.api = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r })
	c := fromLoopback(t, "127.0.0.6")
	login(t, c, base, "x@y.z", "p", "X-Custom", "1", api.OriginVerifyHeader, "guess", api.ViewerAddressHeader, "203.0.113.1:9", "Origin", "http://x")
	if got == nil {
		t.Fatal("the API was not called")
	}
	if v := got.Header.Get(api.OriginVerifyHeader); v != a.server.originSecret || v == "" || v == "guess" {
		t.Errorf("origin header = %q, want the distribution's secret", v)
	}
	if v := got.Header.Get(api.ViewerAddressHeader); !strings.HasPrefix(v, "127.0.0.6:") {
		t.Errorf("CloudFront-Viewer-Address = %q, want 127.0.0.6:<port>", v)
	}
	if got.Header.Get("X-Custom") != "" {
		t.Error("a header outside the origin request policy reached the API")
	}
	if got.Header.Get("Origin") != "http://x" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("policy headers lost: %v", got.Header)
	}
}

// TestResponseHeadersPerBehavior: each behavior's response headers policy
// from the template is applied: media gets nosniff and the sandboxing CSP,
// the API and the player page the managed security headers.
func TestResponseHeadersPerBehavior(t *testing.T) {
	_, base := startHardened(t, 10, 100)
	c := fromLoopback(t, "127.0.0.7")
	get := func(path string) *http.Response {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	// /courses/*: signed, so sign in first.
	cl := &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
	if r := cl.do("POST", "/api/login", `{"email":"demo@cfgate.test","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	if r := cl.do("POST", "/api/courses/intro-to-hls/access", ""); r.StatusCode != 200 {
		t.Fatalf("access: %d", r.StatusCode)
	}
	media := cl.do("GET", "/courses/intro-to-hls/ts/master.m3u8", "")
	if media.StatusCode != 200 {
		t.Fatalf("media: %d", media.StatusCode)
	}
	if v := media.Header.Get("Content-Security-Policy"); v != "default-src 'none'; sandbox" {
		t.Errorf("media CSP = %q", v)
	}
	if v := media.Header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("media X-Content-Type-Options = %q", v)
	}
	page := get("/")
	if page.Header.Get("X-Frame-Options") != "SAMEORIGIN" || page.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("player page headers %v: want the managed SecurityHeadersPolicy", page.Header)
	}
	if page.Header.Get("Content-Security-Policy") != "" {
		t.Error("the media CSP leaked onto the player page")
	}
	if h := get("/api/session").Header; h.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("API headers %v: want the managed SecurityHeadersPolicy", h)
	}
}
