package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// testSigningKeyPEM is an RSA-2048 key made for these tests only
// (openssl genpkey); it is trusted by nothing.
//
//go:embed testdata/test-signing-key.pem
var testSigningKeyPEM []byte

const (
	testKeyID   = "KAPITESTKEY0001"
	testDomain  = "d111111abcdef8.cloudfront.net"
	ownOrigin   = "https://" + testDomain
	playerOrig  = "https://player.example.test"
	alice       = "alice@example.test"
	alicePW     = "correct horse battery staple"
	bob         = "bob@example.test"
	bobPW       = "hunter2 but longer"
	carol       = "carol@example.test" // disabled
	carolPW     = "carol's password"
	courseIntro = "intro-to-hls"
)

// t0 is the tests' initial clock reading.
var t0 = time.Date(2026, 11, 27, 10, 2, 3, 0, time.UTC)

// clock is the shared settable test clock.
type clock = fakeclock.Clock

// countingPasswords is the real internal/password verifier with call
// counters, to show that unknown users get the same argon2id work.
type countingPasswords struct {
	verify, dummy atomic.Int64
}

func (c *countingPasswords) Verify(hash, pw string) (bool, error) {
	c.verify.Add(1)
	return password.Verify(hash, pw)
}

func (c *countingPasswords) DummyVerify(pw string) bool {
	c.dummy.Add(1)
	return password.DummyVerify(pw)
}

// cheapHash is a real argon2id PHC hash with minimal parameters (m=64 KiB,
// t=1), which password.Verify accepts, so tests that log in many times stay
// fast. Hashes made by password.Hash (m=19 MiB, t=2) are used where cost
// matters (the login benchmarks, TestLoginFullCostHash).
func cheapHash(pw string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
}

// failingKeys is a key provider whose source is down.
type failingKeys struct{}

func (failingKeys) Key(context.Context) (*cfsign.Key, error) {
	return nil, fmt.Errorf("get secret: %w", keysource.ErrUnavailable)
}

type env struct {
	h       *Handler
	st      store.Store
	clock   *clock
	metrics *syncbuf.Buffer
	logs    *syncbuf.Buffer
	pw      *countingPasswords
	key     *cfsign.Key
	issuer  *cfsign.Issuer
}

type envOption func(*Config, *envDeps)

type envDeps struct {
	store store.Store
	keys  KeyProvider
	hash  func(pw string) string
}

func withStore(wrap func(store.Store) store.Store) envOption {
	return func(_ *Config, d *envDeps) { d.store = wrap(d.store) }
}

func withKeys(k KeyProvider) envOption {
	return func(_ *Config, d *envDeps) { d.keys = k }
}

func withConfig(f func(*Config)) envOption {
	return func(c *Config, _ *envDeps) { f(c) }
}

func withFullCostHashes() envOption {
	return func(_ *Config, d *envDeps) {
		d.hash = func(pw string) string {
			h, err := password.Hash(pw)
			if err != nil {
				panic(err)
			}
			return h
		}
	}
}

func testKey(tb testing.TB) *cfsign.Key {
	tb.Helper()
	signer, err := cfsign.ParsePrivateKeyPEM(testSigningKeyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := cfsign.NewKey(testKeyID, cfsign.RSASHA1, signer)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// newEnv builds a handler over the embedded store seeded with:
// alice (granted intro-to-hls; an expired grant on old-course; a grant on
// gone-course, which is not in the catalogue), bob (granted bobs-course),
// carol (disabled, granted intro-to-hls); courses intro-to-hls,
// advanced-streaming (granted to nobody), bobs-course, old-course.
func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	ctx := context.Background()
	e := &env{
		clock:   fakeclock.New(t0),
		metrics: &syncbuf.Buffer{},
		logs:    &syncbuf.Buffer{},
		pw:      &countingPasswords{},
		key:     testKey(tb),
	}
	mst := mem.New()
	deps := &envDeps{store: mst, keys: keysource.Static{K: e.key}, hash: cheapHash}
	cfg := Config{
		AllowedOrigins: []string{ownOrigin, playerOrig},
		Metrics:        e.metrics,
		Now:            e.clock.Now,
		Passwords:      e.pw,
	}
	for _, o := range opts {
		o(&cfg, deps)
	}
	e.st = deps.store

	for _, u := range []struct {
		email, pw string
		disabled  bool
	}{{alice, alicePW, false}, {bob, bobPW, false}, {carol, carolPW, true}} {
		if err := mst.PutUser(ctx, store.User{Email: u.email, PasswordHash: deps.hash(u.pw), Disabled: u.disabled, CreatedAt: t0}); err != nil {
			tb.Fatal(err)
		}
	}
	for _, c := range []store.Course{
		{ID: courseIntro, Title: "Intro to HLS"},
		{ID: "advanced-streaming", Title: "Advanced streaming"},
		{ID: "bobs-course", Title: "Bob's course"},
		{ID: "old-course", Title: "Old course"},
	} {
		if err := mst.PutCourse(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	for _, g := range []store.Grant{
		{Email: alice, CourseID: courseIntro},
		{Email: alice, CourseID: "old-course", Expires: t0.Add(-time.Hour)},
		{Email: alice, CourseID: "gone-course"},
		{Email: bob, CourseID: "bobs-course", Expires: t0.Add(24 * time.Hour)},
		{Email: carol, CourseID: courseIntro},
	} {
		if err := mst.PutGrant(ctx, g); err != nil {
			tb.Fatal(err)
		}
	}

	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: testDomain, Now: e.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	e.issuer = issuer
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(cfg, deps.store, deps.keys, issuer, logger)
	if err != nil {
		tb.Fatal(err)
	}
	e.h = h
	return e
}

// req builds a request; a non-empty body gets Content-Type application/json
// unless headers override it (an empty value deletes a header).
func req(method, target, body string, headers ...string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	return r
}

func (e *env) do(r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Result()
}

func loginBodyJSON(email, pw string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	return string(b)
}

// login signs in and returns the session cookie value.
func (e *env) login(tb testing.TB, email, pw string) string {
	tb.Helper()
	resp := e.do(req("POST", "/api/login", loginBodyJSON(email, pw)))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("login %s: status %d, body %s", email, resp.StatusCode, readBody(tb, resp))
	}
	c := findCookie(resp, SessionCookie)
	if c == nil {
		tb.Fatalf("login %s: no session cookie", email)
	}
	return c.Value
}

func withSession(r *http.Request, token string) *http.Request {
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
	return r
}

func readBody(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// cloudFrontCookies are the response's Set-Cookie lines for CloudFront-*.
// cloudFrontCookies returns the CloudFront-* Set-Cookie values that set a
// cookie (deletions, Max-Age<=0, are left out: a SHA-1 set also deletes a
// stale CloudFront-Hash-Algorithm, which grants nothing).
func cloudFrontCookies(resp *http.Response) []string {
	var out []string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(v); err == nil && c.MaxAge < 0 {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(v), "CloudFront-") {
			out = append(out, v)
		}
	}
	return out
}

// errorText decodes an error body, failing on anything but {"error":"…"}.
func errorText(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var body map[string]any
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&body); err != nil {
		tb.Fatalf("error body is not JSON: %v", err)
	}
	msg, ok := body["error"].(string)
	if !ok || len(body) != 1 || msg == "" {
		tb.Fatalf("error body = %v, want exactly {\"error\":\"…\"}", body)
	}
	return msg
}

// emfLines decodes the metric lines written so far.
func (e *env) emfLines(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.metrics.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			tb.Fatalf("metric line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// lastEMF is the last metric line.
func (e *env) lastEMF(tb testing.TB) map[string]any {
	tb.Helper()
	lines := e.emfLines(tb)
	if len(lines) == 0 {
		tb.Fatal("no metric line written")
	}
	return lines[len(lines)-1]
}
