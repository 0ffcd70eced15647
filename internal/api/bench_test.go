package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// quiet silences logs and metrics (os.Stdout would dominate the figures).
func quiet(c *Config) { c.Metrics = io.Discard }

func quietEnv(b *testing.B, opts ...envOption) *env {
	e := newEnv(b, append(opts, withConfig(quiet))...)
	e.h.log = slog.New(slog.DiscardHandler)
	return e
}

// BenchmarkAccess measures POST /api/courses/{id}/access on a warm handler,
// with the user hint as a browser sends it: the hint opened, the session,
// user and grant read on the embedded store, the course from the catalogue
// copy, and a signature from the issuer's cache (same key, course and expiry
// bucket). Besides ns/op it reports the p50 and p99 of the per-request
// durations.
func BenchmarkAccess(b *testing.B) {
	e := quietEnv(b)
	token, hint := e.loginHinted(b, alice, alicePW)
	benchServeWarm(b, e, withHint(req("POST", "/api/courses/"+courseIntro+"/access", "", "Origin", playerOrig), token, hint))
}

// BenchmarkAccessWithoutHint is BenchmarkAccess for a session without a
// user hint (two reads).
func BenchmarkAccessWithoutHint(b *testing.B) {
	e := quietEnv(b)
	token := e.login(b, alice, alicePW)
	benchServeWarm(b, e, withSession(req("POST", "/api/courses/"+courseIntro+"/access", "", "Origin", playerOrig), token))
}

// benchServeWarm serves r once (the first call signs and fills the cache),
// then b.N times, each answered 200, and reports percentiles.
func benchServeWarm(b *testing.B, e *env, r *http.Request) {
	b.Helper()
	if resp := e.do(r); resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		start := time.Now()
		e.h.ServeHTTP(w, r)
		durations = append(durations, time.Since(start))
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// The two login benchmarks compare the time of a failed login for an
// unknown user (DummyVerify) and for a known user with a wrong password
// (Verify against the stored hash), both with the production argon2id
// parameters (m=19 MiB, t=2, p=1). Lockout is disabled so every iteration
// does the password work.
func benchmarkLogin(b *testing.B, email, pw string) {
	e := quietEnv(b, withFullCostHashes(), withConfig(func(c *Config) {
		c.LockoutThreshold = 1 << 30
		c.Passwords = nil // the real internal/password
	}))
	// An account whose stored hash does not parse: a failed login of it must
	// cost what any other does.
	if err := e.st.PutUser(context.Background(), store.User{Email: brokenHashUser, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$broken", CreatedAt: t0}); err != nil {
		b.Fatal(err)
	}
	body := loginBodyJSON(email, pw)
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/api/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		start := time.Now()
		e.h.ServeHTTP(w, r)
		durations = append(durations, time.Since(start))
		if w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.StopTimer()
	reportPercentiles(b, durations)
}

func BenchmarkLoginUnknownUser(b *testing.B) {
	benchmarkLogin(b, "nobody@example.test", alicePW)
}

func BenchmarkLoginWrongPassword(b *testing.B) {
	benchmarkLogin(b, alice, "not the password")
}

const brokenHashUser = "broken-hash@example.test"

// BenchmarkLoginBrokenHash: an account whose stored hash does not parse
// costs the same argon2id work as a wrong password (it skipped the work,
// 0.02 ms against 68 ms, before password.VerifyLogin).
func BenchmarkLoginBrokenHash(b *testing.B) {
	benchmarkLogin(b, brokenHashUser, alicePW)
}
