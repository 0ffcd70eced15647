package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

const testOriginValue = "test-origin-verify-value-0123456789"

// staticOrigin accepts one value; down makes the check unavailable.
type staticOrigin struct{ down bool }

func (s staticOrigin) Verify(_ context.Context, v string) (bool, error) {
	if s.down {
		return false, errors.New("secrets manager: origin secret unreadable")
	}
	return subtle.ConstantTimeCompare([]byte(v), []byte(testOriginValue)) == 1, nil
}

func withOrigin(v OriginVerifier) envOption {
	return withConfig(func(c *Config) { c.OriginVerifier = v })
}

// touchStore counts every call that reaches the store.
type touchStore struct {
	store.Store
	n *atomic.Int64
}

func (s touchStore) t() { s.n.Add(1) }
func (s touchStore) GetUser(ctx context.Context, e string) (store.User, error) {
	s.t()
	return s.Store.GetUser(ctx, e)
}
func (s touchStore) GetCourse(ctx context.Context, id string) (store.Course, error) {
	s.t()
	return s.Store.GetCourse(ctx, id)
}
func (s touchStore) ListCourses(ctx context.Context) ([]store.Course, error) {
	s.t()
	return s.Store.ListCourses(ctx)
}
func (s touchStore) GetGrant(ctx context.Context, e, c string) (store.Grant, error) {
	s.t()
	return s.Store.GetGrant(ctx, e, c)
}
func (s touchStore) ListGrants(ctx context.Context, e string) ([]store.Grant, error) {
	s.t()
	return s.Store.ListGrants(ctx, e)
}
func (s touchStore) CreateSession(ctx context.Context, x store.Session) error {
	s.t()
	return s.Store.CreateSession(ctx, x)
}
func (s touchStore) GetSession(ctx context.Context, h string) (store.Session, error) {
	s.t()
	return s.Store.GetSession(ctx, h)
}
func (s touchStore) DeleteSession(ctx context.Context, h string) error {
	s.t()
	return s.Store.DeleteSession(ctx, h)
}
func (s touchStore) RecordFailure(ctx context.Context, e string, now time.Time, w time.Duration) (int, error) {
	s.t()
	return s.Store.RecordFailure(ctx, e, now, w)
}
func (s touchStore) RecordSourceFailure(ctx context.Context, e, src string, now time.Time, w time.Duration) (int, error) {
	s.t()
	return s.Store.RecordSourceFailure(ctx, e, src, now, w)
}

// TestOriginVerify: with an OriginVerifier, a request without the origin
// header, with a wrong one or with two answers 403 before the store is
// touched (whatever the route); an unavailable check answers 503; the right
// value passes.
func TestOriginVerify(t *testing.T) {
	var touched atomic.Int64
	e := newEnv(t, withOrigin(staticOrigin{}), withStore(func(s store.Store) store.Store { return touchStore{s, &touched} }))
	good := loginBodyJSON(alice, alicePW)
	tests := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"no header", req("POST", "/api/login", good), 403},
		{"empty header", req("POST", "/api/login", good, OriginVerifyHeader, ""), 403},
		{"wrong value", req("POST", "/api/login", good, OriginVerifyHeader, "guess"), 403},
		{"value prefix", req("POST", "/api/login", good, OriginVerifyHeader, testOriginValue[:10]), 403},
		{"session without header", req("GET", "/api/session", ""), 403},
		{"access without header", req("POST", "/api/courses/intro-to-hls/access", ""), 403},
		{"unknown route without header", req("GET", "/api/nothing", ""), 403},
		{"preflight without header", req("OPTIONS", "/api/login", "", "Origin", ownOrigin, "Access-Control-Request-Method", "POST"), 403},
		{"spoofed viewer address without header", req("POST", "/api/login", good, ViewerAddressHeader, "203.0.113.9:4000"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.r)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if msg := errorText(t, resp); msg != "forbidden" {
				t.Errorf("error = %q, want forbidden", msg)
			}
			if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
				t.Errorf("%d cookies set", n)
			}
		})
	}
	twice := req("POST", "/api/login", good)
	twice.Header.Add(OriginVerifyHeader, testOriginValue)
	twice.Header.Add(OriginVerifyHeader, "other")
	if resp := e.do(twice); resp.StatusCode != 403 {
		t.Errorf("two origin headers: status %d, want 403", resp.StatusCode)
	}
	if n := touched.Load(); n != 0 {
		t.Fatalf("the store was called %d times for requests without the origin header", n)
	}
	if v, d := e.pw.verify.Load(), e.pw.dummy.Load(); v != 0 || d != 0 {
		t.Errorf("password work without the origin header: %d, %d", v, d)
	}
	if strings.Contains(e.logs.String(), testOriginValue[:10]) {
		t.Error("the logs carry the origin value")
	}

	resp := e.do(req("POST", "/api/login", good, OriginVerifyHeader, testOriginValue))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login with the origin header: status %d, want 200", resp.StatusCode)
	}
	if touched.Load() == 0 {
		t.Error("a verified login did not reach the store (the counter is broken)")
	}

	down := newEnv(t, withOrigin(staticOrigin{down: true}))
	resp = down.do(req("POST", "/api/login", good, OriginVerifyHeader, testOriginValue))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("origin check unavailable: status %d, want 503", resp.StatusCode)
	}
}

// loginFrom is a login attempt from a connection address, with optional
// extra headers.
func loginFrom(remote, email, pw string, headers ...string) *http.Request {
	r := req("POST", "/api/login", loginBodyJSON(email, pw), headers...)
	r.RemoteAddr = remote
	return r
}

// TestViewerAddressTrustedOnlyFromDistribution: without the origin proof, a
// spoofed CloudFront-Viewer-Address does not change the source (the
// connection's address is counted, so rotating the header does not escape
// lockout); with it, the header is the source.
func TestViewerAddressTrustedOnlyFromDistribution(t *testing.T) {
	t.Run("no verifier: header ignored", func(t *testing.T) {
		e := newEnv(t)
		for i := 1; i <= DefaultLockoutThreshold+1; i++ {
			spoof := fmt.Sprintf("203.0.113.%d:443", i)
			resp := e.do(loginFrom("192.0.2.10:5555", alice, "wrong", ViewerAddressHeader, spoof))
			want := http.StatusUnauthorized
			if i > DefaultLockoutThreshold {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want {
				t.Fatalf("attempt %d with spoofed %s: status %d, want %d", i, spoof, resp.StatusCode, want)
			}
		}
		n, err := e.st.SourceFailures(t.Context(), alice, "192.0.2.10", e.clock.Now())
		if err != nil || n != DefaultLockoutThreshold+1 {
			t.Errorf("failures counted for the connection address = %d, %v; want %d", n, err, DefaultLockoutThreshold+1)
		}
		if n, _ := e.st.SourceFailures(t.Context(), alice, "203.0.113.1", e.clock.Now()); n != 0 {
			t.Errorf("a spoofed address got %d failures", n)
		}
	})
	t.Run("verified: header is the source", func(t *testing.T) {
		e := newEnv(t, withOrigin(staticOrigin{}))
		// All through one edge address, from DefaultLockoutThreshold+1 viewers.
		for i := 1; i <= DefaultLockoutThreshold+1; i++ {
			viewer := fmt.Sprintf("203.0.113.%d:443", i)
			resp := e.do(loginFrom("198.51.100.1:1", alice, "wrong", OriginVerifyHeader, testOriginValue, ViewerAddressHeader, viewer))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("viewer %s: status %d, want 401 (own counter)", viewer, resp.StatusCode)
			}
		}
		if n, _ := e.st.SourceFailures(t.Context(), alice, "198.51.100.1", e.clock.Now()); n != 0 {
			t.Errorf("the edge address got %d failures", n)
		}
	})
}

func TestParseViewerAddress(t *testing.T) {
	tests := []struct{ in, source string }{
		{"198.51.100.10:46532", "198.51.100.10"},
		{"2001:db8:1:2:3:4:5:6:46532", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::7:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::7]:443", "2001:db8:1:2::/64"},
		{"::ffff:198.51.100.10:443", "198.51.100.10"},
	}
	for _, tt := range tests {
		a, ok := parseViewerAddress(tt.in)
		if !ok || sourceOf(a) != tt.source {
			t.Errorf("parseViewerAddress(%q) = %v, %v; source %q, want %q", tt.in, a, ok, sourceOf(a), tt.source)
		}
	}
	for _, bad := range []string{"", "198.51.100.10", "x:1", "fe80::1%eth0:443", "1.2.3.4.5:1"} {
		if a, ok := parseViewerAddress(bad); ok {
			t.Errorf("parseViewerAddress(%q) = %v, want failure", bad, a)
		}
	}
}

// TestLockoutPerSource: one source's failures lock that source out (the
// right password too) and no other; a success from elsewhere works and does
// not unlock the locked source.
func TestLockoutPerSource(t *testing.T) {
	e := newEnv(t)
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"
	for range DefaultLockoutThreshold {
		if resp := e.do(loginFrom(a, alice, "wrong")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	}
	if resp := e.do(loginFrom(a, alice, alicePW)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password from the locked source: status %d, want 429", resp.StatusCode)
	}
	if resp := e.do(loginFrom(b, alice, alicePW)); resp.StatusCode != http.StatusOK {
		t.Fatalf("right password from another source: status %d, want 200", resp.StatusCode)
	}
	if resp := e.do(loginFrom(a, alice, alicePW)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("locked source after a success elsewhere: status %d, want 429", resp.StatusCode)
	}
	// IPv6 counts by /64: another address of the block is the same source.
	for range DefaultLockoutThreshold {
		e.do(loginFrom("[2001:db8:5:6::1]:1", bob, "wrong"))
	}
	if resp := e.do(loginFrom("[2001:db8:5:6:ffff::9]:1", bob, bobPW)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("another address of a locked /64: status %d, want 429", resp.StatusCode)
	}
	if resp := e.do(loginFrom("[2001:db8:5:7::1]:1", bob, bobPW)); resp.StatusCode != http.StatusOK {
		t.Fatalf("another /64: status %d, want 200", resp.StatusCode)
	}
	e.clock.Add(DefaultLockoutWindow)
	if resp := e.do(loginFrom(a, alice, alicePW)); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the window: status %d, want 200", resp.StatusCode)
	}
}

// TestLockoutAccountWide: failures spread over many sources lock the
// account for every source, for the rest of the account-wide window; the
// same holds, status for status, for an email with no account.
func TestLockoutAccountWide(t *testing.T) {
	const perSource, account = 3, 7
	for _, who := range []struct{ email, pw string }{{alice, alicePW}, {"nobody@example.test", "any"}} {
		t.Run(who.email, func(t *testing.T) {
			e := newEnv(t, withConfig(func(c *Config) {
				c.LockoutThreshold, c.LockoutAccountThreshold = perSource, account
			}))
			var statuses []int
			try := func(src int, pw string) int {
				s := e.do(loginFrom(fmt.Sprintf("192.0.2.%d:1", src), who.email, pw)).StatusCode
				statuses = append(statuses, s)
				return s
			}
			// Sources 1 and 2 each fail perSource times and then keep
			// trying (429s that must not count account-wide).
			for src := 1; src <= 2; src++ {
				for range perSource + 5 {
					try(src, "wrong")
				}
			}
			// 6 failures so far: one more from a third source is the 7th.
			if s := try(3, "wrong"); s != http.StatusUnauthorized {
				t.Fatalf("7th failure: status %d, want 401 (statuses %v)", s, statuses)
			}
			if s := try(4, who.pw); s != http.StatusTooManyRequests {
				t.Fatalf("fresh source after %d account-wide failures: status %d, want 429", account, s)
			}
			e.clock.Add(DefaultLockoutWindow)
			want := http.StatusOK
			if who.email != alice {
				want = http.StatusUnauthorized
			}
			if s := try(5, who.pw); s != want {
				t.Fatalf("after the window: status %d, want %d", s, want)
			}
		})
	}
}

// TestSuccessesDoNotAddUp: successful logins take their attempt back from
// the account-wide counter, so a busy account never locks itself.
func TestSuccessesDoNotAddUp(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.LockoutThreshold, c.LockoutAccountThreshold = 2, 3 }))
	for i := range 10 {
		if s := e.do(loginFrom(fmt.Sprintf("192.0.2.%d:1", i+1), alice, alicePW)).StatusCode; s != http.StatusOK {
			t.Fatalf("login %d: status %d", i, s)
		}
	}
	if n, _ := e.st.Failures(t.Context(), alice, e.clock.Now()); n != 0 {
		t.Errorf("account-wide count after successes = %d, want 0", n)
	}
}

func TestNewRejectsAccountThresholdBelowSource(t *testing.T) {
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: testDomain})
	if err != nil {
		t.Fatal(err)
	}
	keys := keysource.Static{K: testKey(t)}
	if _, err := New(Config{LockoutThreshold: 10, LockoutAccountThreshold: 10}, mem.New(), keys, issuer, nil); err != nil {
		t.Fatalf("equal thresholds: %v", err)
	}
	_, err = New(Config{LockoutThreshold: 10, LockoutAccountThreshold: 5}, mem.New(), keys, issuer, nil)
	if err == nil || !strings.Contains(err.Error(), "LockoutAccountThreshold") {
		t.Fatalf("New with LockoutAccountThreshold below LockoutThreshold: %v, want an error naming it", err)
	}
}
