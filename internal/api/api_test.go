package api

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/store"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	resp := e.do(req("POST", "/api/login", loginBodyJSON("  Alice@Example.TEST ", alicePW), "Origin", ownOrigin))
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, readBody(t, resp))
	}
	var body struct {
		Email   string       `json:"email"`
		Courses []courseJSON `json:"courses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if got, want := body.Email, alice; got != want {
		t.Errorf("email = %q, want %q", got, want)
	}
	// Active grants on existing courses only: not the expired old-course,
	// not gone-course (absent from the catalogue).
	if got, want := body.Courses, []courseJSON{{ID: courseIntro, Title: "Intro to HLS"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("courses = %+v, want %+v", got, want)
	}

	var setCookie string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, SessionCookie+"=") {
			setCookie = v
		}
	}
	for _, attr := range []string{"Path=/api/", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(setCookie, "; "+attr) {
			t.Errorf("session Set-Cookie %q lacks %q", redact(setCookie), attr)
		}
	}
	c := findCookie(resp, SessionCookie)
	if !validToken(c.Value) {
		t.Fatalf("session cookie value is not 32 base64url bytes (len %d)", len(c.Value))
	}
	if n := len(cloudFrontCookies(resp)); n != 0 {
		t.Errorf("login set %d CloudFront cookies, want 0", n)
	}
	// Only the hash is stored.
	s, err := e.st.GetSession(context.Background(), hashToken(c.Value))
	if err != nil {
		t.Fatalf("session by hash: %v", err)
	}
	if got, want := s.Expires, t0.Add(DefaultSessionTTL); !got.Equal(want) {
		t.Errorf("session expires %v, want %v", got, want)
	}
	if _, err := e.st.GetSession(context.Background(), c.Value); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session stored under the raw cookie value: err = %v", err)
	}
	if got, want := resp.Header.Get("Access-Control-Allow-Origin"), ownOrigin; got != want {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, want)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	m := e.lastEMF(t)
	if m["Decision"] != "success" || m["LoginDecision"] != 1.0 {
		t.Errorf("metric = %v, want a LoginDecision success", m)
	}
}

// redact hides a cookie value in failure messages.
func redact(setCookie string) string {
	name, rest, _ := strings.Cut(setCookie, "=")
	_, attrs, _ := strings.Cut(rest, ";")
	return name + "=<redacted>;" + attrs
}

func TestLoginInsecureCookies(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.InsecureCookies = true }))
	resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW)))
	c := findCookie(resp, SessionCookie)
	if c == nil || c.Secure {
		t.Fatalf("session cookie = %+v, want present without Secure", c != nil)
	}
}

// TestLoginFullCostHash logs in against a hash made by password.Hash
// (argon2id m=19 MiB, t=2, p=1), the production parameters.
func TestLoginFullCostHash(t *testing.T) {
	e := newEnv(t, withFullCostHashes())
	e.login(t, alice, alicePW)
	if got, want := e.pw.verify.Load(), int64(1); got != want {
		t.Errorf("verifications = %d, want %d", got, want)
	}
}

// TestLoginBadCredentials: unknown user, wrong password and disabled user
// give the same status and body, and each does one argon2id verification
// (DummyVerify for the unknown user).
func TestLoginBadCredentials(t *testing.T) {
	tests := []struct {
		name              string
		email, pw         string
		wantVerify, dummy int64
		reason            string
	}{
		{"unknown user", "nobody@example.test", alicePW, 0, 1, "unknown_user"},
		{"wrong password", alice, "not the password", 1, 0, "wrong_password"},
		{"disabled user right password", carol, carolPW, 1, 0, "user_disabled"},
		{"disabled user wrong password", carol, "nope", 1, 0, "wrong_password"},
	}
	var bodies []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp := e.do(req("POST", "/api/login", loginBodyJSON(tt.email, tt.pw)))
			if got, want := resp.StatusCode, http.StatusUnauthorized; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			body := readBody(t, resp)
			bodies = append(bodies, body)
			if got, want := body, `{"error":"invalid email or password"}`+"\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("401 sets cookies: %d", len(resp.Header.Values("Set-Cookie")))
			}
			if got := e.pw.verify.Load(); got != tt.wantVerify {
				t.Errorf("Verify calls = %d, want %d", got, tt.wantVerify)
			}
			if got := e.pw.dummy.Load(); got != tt.dummy {
				t.Errorf("DummyVerify calls = %d, want %d", got, tt.dummy)
			}
			n, err := e.st.Failures(context.Background(), strings.ToLower(tt.email), e.clock.Now())
			if err != nil || n != 1 {
				t.Errorf("failures recorded = %d, %v; want 1", n, err)
			}
			m := e.lastEMF(t)
			if m["Decision"] != "failure" || m["Reason"] != tt.reason {
				t.Errorf("metric Decision/Reason = %v/%v, want failure/%s", m["Decision"], m["Reason"], tt.reason)
			}
		})
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("bodies differ: %q vs %q", b, bodies[0])
		}
	}
}

// TestLockout: 20 wrong passwords in a row; from the threshold on even the
// right password gets 429 (without any password work) until the window
// passes; then the right password works and the counter is reset.
func TestLockout(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 20; i++ {
		resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong")))
		want := http.StatusUnauthorized
		if i > DefaultLockoutThreshold {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("attempt %d: status %d, want %d", i, resp.StatusCode, want)
		}
		e.clock.Add(time.Second)
	}
	if got, want := e.pw.verify.Load(), int64(DefaultLockoutThreshold); got != want {
		t.Errorf("password verifications = %d, want %d (none while locked)", got, want)
	}
	resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW)))
	if got, want := resp.StatusCode, http.StatusTooManyRequests; got != want {
		t.Fatalf("right password while locked: status %d, want %d", got, want)
	}
	if msg := errorText(t, resp); msg != "too many failed logins, try again later" {
		t.Errorf("429 error = %q", msg)
	}
	if findCookie(resp, SessionCookie) != nil {
		t.Error("429 sets a session cookie")
	}
	if m := e.lastEMF(t); m["Reason"] != "locked_out" || m["Status"] != 429.0 {
		t.Errorf("metric = %v, want locked_out 429", m)
	}
	// Other accounts are not affected.
	e.login(t, bob, bobPW)

	// The window started at the first failure (t0); it is still current
	// at t0+window-1s and has passed at t0+window.
	e.clock.Add(DefaultLockoutWindow - 21*time.Second)
	if resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW))); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("1s before the window ends: status %d, want 429", resp.StatusCode)
	}
	e.clock.Add(time.Second)
	e.login(t, alice, alicePW)
	if n, err := e.st.Failures(context.Background(), alice, e.clock.Now()); err != nil || n != 0 {
		t.Errorf("failures after success = %d, %v; want 0", n, err)
	}
}

// TestLockoutParallel: 30 parallel wrong logins for one account get exactly
// LockoutThreshold password verifications (401) and 429 for the rest; the
// count cannot be raced past.
func TestLockoutParallel(t *testing.T) {
	e := newEnv(t)
	const n = 30
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			statuses <- e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong"))).StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if got, want := count, map[int]int{401: DefaultLockoutThreshold, 429: n - DefaultLockoutThreshold}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if got, want := e.pw.verify.Load(), int64(DefaultLockoutThreshold); got != want {
		t.Errorf("password verifications = %d, want %d", got, want)
	}
}

func TestLoginResetsFailures(t *testing.T) {
	e := newEnv(t)
	for range DefaultLockoutThreshold - 1 {
		e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong")))
	}
	e.login(t, alice, alicePW)
	// A fresh run of failures starts from zero: threshold-1 more are 401.
	for i := range DefaultLockoutThreshold - 1 {
		if resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong"))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d after reset: status %d, want 401", i+1, resp.StatusCode)
		}
	}
}

func TestLoginReplacesPresentedSession(t *testing.T) {
	e := newEnv(t)
	old := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", "/api/login", loginBodyJSON(alice, alicePW)), old))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := e.st.GetSession(context.Background(), hashToken(old)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("previous session still stored: err = %v", err)
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t)
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", "", "Origin", playerOrig), token))
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d: %s", got, want, readBody(t, resp))
	}
	var body accessBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	// Expiry: now + 10m rounded up to the 5m bucket.
	wantExpires := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
	if got, want := body, (accessBody{Course: courseIntro, Expires: wantExpires.Format(time.RFC3339)}); got != want {
		t.Errorf("body = %+v, want %+v", got, want)
	}
	if got, want := resp.Header.Get("Access-Control-Allow-Origin"), playerOrig; got != want {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("Access-Control-Allow-Credentials"), "true"; got != want {
		t.Errorf("Access-Control-Allow-Credentials = %q, want %q", got, want)
	}

	cookies := map[string]*http.Cookie{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = c
	}
	for _, name := range []string{"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"} {
		c := cookies[name]
		if c == nil {
			t.Fatalf("no %s cookie", name)
		}
		if c.Path != "/courses/"+courseIntro+"/" || !c.HttpOnly || !c.Secure {
			t.Errorf("%s: Path=%q HttpOnly=%v Secure=%v", name, c.Path, c.HttpOnly, c.Secure)
		}
	}
	// An RSA-SHA1 set never sets CloudFront-Hash-Algorithm; it deletes any
	// stale one (left over from a SHA-256 key before a rotation).
	if c, ok := cookies["CloudFront-Hash-Algorithm"]; !ok || c.MaxAge >= 0 || c.Path != "/courses/"+courseIntro+"/" {
		t.Errorf("RSA-SHA1 set: CloudFront-Hash-Algorithm = %+v, want a deletion with the course Path", c)
	}
	if got := cookies["CloudFront-Key-Pair-Id"].Value; got != testKeyID {
		t.Errorf("Key-Pair-Id = %q, want %q", got, testKeyID)
	}
	policy, err := cfsign.Decode(cookies["CloudFront-Policy"].Value)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Statement []struct {
			Resource  string
			Condition map[string]map[string]int64
		}
	}
	if err := json.Unmarshal(policy, &p); err != nil {
		t.Fatalf("policy %s: %v", policy, err)
	}
	if len(p.Statement) != 1 {
		t.Fatalf("policy has %d statements", len(p.Statement))
	}
	if got, want := p.Statement[0].Resource, "https://"+testDomain+"/courses/"+courseIntro+"/*"; got != want {
		t.Errorf("Resource = %q, want %q", got, want)
	}
	if got, want := p.Statement[0].Condition["DateLessThan"]["AWS:EpochTime"], wantExpires.Unix(); got != want {
		t.Errorf("DateLessThan = %d, want %d", got, want)
	}
	sig, err := cfsign.Decode(cookies["CloudFront-Signature"].Value)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha1.Sum(policy)
	if err := rsa.VerifyPKCS1v15(e.key.Signer.Public().(*rsa.PublicKey), crypto.SHA1, digest[:], sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}

	m := e.lastEMF(t)
	if m["Decision"] != "granted" || m["Course"] != courseIntro || m["AccessDecision"] != 1.0 {
		t.Errorf("metric = %v, want granted intro-to-hls", m)
	}
}

func TestSession(t *testing.T) {
	e := newEnv(t)
	token := e.login(t, alice, alicePW)
	tests := []struct {
		name   string
		r      *http.Request
		status int
		body   string
	}{
		{"signed in", withSession(req("GET", "/api/session", ""), token), 200,
			`{"email":"alice@example.test","courses":[{"id":"intro-to-hls","title":"Intro to HLS"}]}` + "\n"},
		{"no cookie", req("GET", "/api/session", ""), 401, `{"error":"not signed in"}` + "\n"},
		{"forged cookie", withSession(req("GET", "/api/session", ""), strings.Repeat("A", 43)), 401, `{"error":"not signed in"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.r)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := readBody(t, resp); got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
	t.Run("disabled user", func(t *testing.T) {
		token := e.sessionFor(t, carol)
		if resp := e.do(withSession(req("GET", "/api/session", ""), token)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})
}

// sessionFor stores a session for email directly (for users who cannot log
// in, such as disabled ones) and returns its cookie value.
func (e *env) sessionFor(tb testing.TB, email string) string {
	tb.Helper()
	token, idHash := newSessionToken()
	now := e.clock.Now()
	if err := e.st.CreateSession(context.Background(), store.Session{IDHash: idHash, Email: email, CreatedAt: now, Expires: now.Add(time.Hour)}); err != nil {
		tb.Fatal(err)
	}
	return token
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	token := e.login(t, alice, alicePW)
	if resp := e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), token)); resp.StatusCode != 200 {
		t.Fatalf("access: %d", resp.StatusCode)
	}
	resp := e.do(withSession(req("POST", "/api/logout", "", "Origin", ownOrigin), token))
	if got, want := resp.StatusCode, http.StatusNoContent; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if _, err := e.st.GetSession(context.Background(), hashToken(token)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session not deleted server-side: %v", err)
	}
	expired := map[string]bool{} // name+path of each expired cookie
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 {
			t.Errorf("cookie %s Path=%s not expired (MaxAge %d)", c.Name, c.Path, c.MaxAge)
		}
		if c.Value != "" && c.Name == SessionCookie {
			t.Errorf("expired session cookie carries a value")
		}
		expired[c.Name+" "+c.Path] = true
	}
	want := []string{SessionCookie + " /api/"}
	// Every course alice holds a grant for (expired and gone-course too),
	// and no other: advanced-streaming and bobs-course are in the catalogue
	// but not hers, and logout must not tell her they exist.
	for _, id := range []string{courseIntro, "old-course", "gone-course"} {
		for _, name := range []string{"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"} {
			want = append(want, name+" /courses/"+id+"/")
		}
	}
	for _, w := range want {
		if !expired[w] {
			t.Errorf("logout does not expire %s", w)
		}
	}
	for c := range expired {
		if strings.Contains(c, "advanced-streaming") || strings.Contains(c, "bobs-course") {
			t.Errorf("logout expires %s, a course alice holds no grant for", c)
		}
	}
	// The old cookie no longer works.
	if resp := e.do(withSession(req("GET", "/api/session", ""), token)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d, want 401", resp.StatusCode)
	}
	// Logout without a session is still 204 and clears the session cookie
	// and its user hint, and nothing else: no course cookie names the
	// catalogue, with no cookie, a malformed one, or one whose session is
	// gone.
	for name, r := range map[string]*http.Request{
		"no cookie":       req("POST", "/api/logout", ""),
		"malformed token": withSession(req("POST", "/api/logout", ""), "not-a-token"),
		"ended session":   withSession(req("POST", "/api/logout", ""), token),
	} {
		resp = e.do(r)
		if resp.StatusCode != http.StatusNoContent || findCookie(resp, SessionCookie) == nil {
			t.Errorf("%s: logout status %d, session cookie cleared %v", name, resp.StatusCode, findCookie(resp, SessionCookie) != nil)
		}
		if n, hint := len(resp.Cookies()), findCookie(resp, UserHintCookie); n != 2 || hint == nil || hint.MaxAge >= 0 {
			t.Errorf("%s: logout set %d cookies, want only the deletions of the session cookie and its hint: %v", name, n, resp.Header.Values("Set-Cookie"))
		}
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		r      *http.Request
		status int
		allow  string
	}{
		{"unknown api path", req("GET", "/api/nope", ""), 404, ""},
		{"trailing slash", req("POST", "/api/login/", loginBodyJSON(alice, alicePW)), 404, ""},
		{"outside api", req("GET", "/courses/intro-to-hls/master.m3u8", ""), 404, ""},
		{"access without id", req("POST", "/api/courses/access", ""), 404, ""},
		{"access extra segment", req("POST", "/api/courses/a/b/access", ""), 404, ""},
		{"login GET", req("GET", "/api/login", ""), 405, "POST, OPTIONS"},
		{"session POST", req("POST", "/api/session", ""), 405, "GET, OPTIONS"},
		{"logout GET", req("GET", "/api/logout", ""), 405, "POST, OPTIONS"},
		{"access GET", req("GET", "/api/courses/intro-to-hls/access", ""), 405, "POST, OPTIONS"},
		{"access DELETE", req("DELETE", "/api/courses/intro-to-hls/access", ""), 405, "POST, OPTIONS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.r)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			errorText(t, resp)
		})
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	preflight := func(origin string) *http.Request {
		return req("OPTIONS", "/api/courses/intro-to-hls/access", "",
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	t.Run("player origin preflight", func(t *testing.T) {
		resp := e.do(preflight(playerOrig))
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", resp.StatusCode)
		}
		for h, want := range map[string]string{
			"Access-Control-Allow-Origin":      playerOrig,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "POST",
			"Access-Control-Allow-Headers":     "Content-Type",
			"Access-Control-Max-Age":           "600",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary = %q lacks Origin", resp.Header.Values("Vary"))
		}
	})
	t.Run("foreign origin preflight", func(t *testing.T) {
		resp := e.do(preflight("https://evil.example"))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status = %d, want 403", resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q for a foreign origin", got)
		}
	})
	t.Run("player origin login", func(t *testing.T) {
		resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW), "Origin", playerOrig))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != playerOrig {
			t.Errorf("status %d, ACAO %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("no origin", func(t *testing.T) {
		resp := e.do(req("GET", "/api/session", ""))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q without Origin", got)
		}
	})
}

func TestNewRejectsBadOrigins(t *testing.T) {
	for _, o := range []string{"example.com", "https://example.com/path", "ftp://example.com", "https://", "https://u@example.com", "null"} {
		t.Run(o, func(t *testing.T) {
			_, err := New(Config{AllowedOrigins: []string{o}}, nil, nil, nil, nil)
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
	t.Run("origins normalised", func(t *testing.T) {
		e := newEnv(t, withConfig(func(c *Config) { c.AllowedOrigins = []string{"HTTPS://Player.Example.TEST/"} }))
		if resp := e.do(req("GET", "/api/session", "", "Origin", playerOrig)); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401 (origin allowed, no session)", resp.StatusCode)
		}
	})
}

// faultyStore is the embedded store with one method failing (fault
// injection for the error mapping); everything else is the real store.
type faultyStore struct {
	store.Store
	err error
}

func (f faultyStore) GetSession(context.Context, string) (store.Session, error) {
	return store.Session{}, f.err
}

func TestStoreErrors(t *testing.T) {
	secret := errors.New("dynamodb: table cfgate-prod in 123456789012 unreachable")
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"throttled", fmtWrap(store.ErrThrottled), 503, "service unavailable, try again later"},
		{"other", secret, 500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withStore(func(s store.Store) store.Store { return faultyStore{s, tt.err} }))
			token := e.login(t, alice, alicePW)
			resp := e.do(withSession(req("POST", "/api/courses/intro-to-hls/access", ""), token))
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := errorText(t, resp); got != tt.msg {
				t.Errorf("error = %q, want %q", got, tt.msg)
			}
			if n := len(cloudFrontCookies(resp)); n != 0 {
				t.Errorf("%d CloudFront cookies", n)
			}
			if !strings.Contains(e.logs.String(), tt.err.Error()) {
				t.Errorf("the internal error is not logged for the operator")
			}
		})
	}
}

func fmtWrap(err error) error { return fmt.Errorf("dynamodb GetItem: %w", err) }

// TestLogsCarryNoSecrets runs a login, an access without and one with the
// user hint, and a logout, and checks that no password, session id, user
// hint, signature or email appears in the logs or metrics.
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	e.do(req("POST", "/api/login", loginBodyJSON(alice, "a wrong password")))
	token, hint := e.loginHinted(t, alice, alicePW)
	e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), token))
	resp := e.do(withHint(req("POST", "/api/courses/"+courseIntro+"/access", ""), token, hint))
	sig := findCookie(resp, "CloudFront-Signature")
	if sig == nil {
		t.Fatal("no signature cookie")
	}
	e.do(withSession(req("POST", "/api/logout", ""), token))
	out := e.logs.String() + e.metrics.String()
	for name, secret := range map[string]string{
		"password": alicePW, "wrong password": "a wrong password", "session id": token,
		"session hash": hashToken(token), "signature": sig.Value, "email": alice,
		"user hint": hint,
	} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
	if !strings.Contains(out, userHash(alice)) {
		t.Errorf("logs lack the user pseudonym %s", userHash(alice))
	}
}

func TestMetricFormat(t *testing.T) {
	e := newEnv(t)
	e.do(req("POST", "/api/courses/"+courseIntro+"/access", ""))
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(e.metrics.String())), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_aws": map[string]any{
			"Timestamp": float64(t0.UnixMilli()),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "cfgate",
				"Dimensions": []any{[]any{"Decision"}},
				"Metrics":    []any{map[string]any{"Name": "AccessDecision", "Unit": "Count"}},
			}},
		},
		"Decision":       "denied",
		"Reason":         "no_session",
		"Course":         courseIntro,
		"Status":         401.0,
		"AccessDecision": 1.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metric line\n got %v\nwant %v", got, want)
	}
}

// TestConcurrentAccess runs access, session and login requests in parallel
// (meaningful under -race) and checks that every metric line stays whole.
func TestConcurrentAccess(t *testing.T) {
	e := newEnv(t)
	tokens := []string{e.login(t, alice, alicePW), e.login(t, bob, bobPW)}
	courses := []string{courseIntro, "bobs-course"}
	before := len(e.emfLines(t))
	const workers, perWorker = 4, 25
	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range perWorker {
				i := w % 2
				resp := e.do(withSession(req("POST", "/api/courses/"+courses[i]+"/access", ""), tokens[i]))
				if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) != 3 {
					errs <- fmt.Errorf("worker %d: status %d", w, resp.StatusCode)
				}
				if resp := e.do(withSession(req("GET", "/api/session", ""), tokens[i])); resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("worker %d: session status %d", w, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lines := e.emfLines(t) // fails on any torn line
	if got, want := len(lines)-before, workers*perWorker; got != want {
		t.Errorf("%d metric lines, want %d", got, want)
	}
}

// TestAccessECDSA: with an ECDSA P-256 key the cookie set carries
// CloudFront-Hash-Algorithm=SHA256 and the signature verifies over SHA-256.
func TestAccessECDSA(t *testing.T) {
	signer, err := cfsign.GenerateKey(cfsign.ECDSASHA256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cfsign.NewKey("KECDSATEST01", cfsign.ECDSASHA256, signer)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withKeys(keysource.Static{K: k}))
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got, want := len(cloudFrontCookies(resp)), 4; got != want {
		t.Fatalf("%d CloudFront cookies, want %d", got, want)
	}
	if c := findCookie(resp, "CloudFront-Hash-Algorithm"); c == nil || c.Value != "SHA256" {
		t.Fatalf("CloudFront-Hash-Algorithm = %v, want SHA256", c)
	}
	policy, err := cfsign.Decode(findCookie(resp, "CloudFront-Policy").Value)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cfsign.Decode(findCookie(resp, "CloudFront-Signature").Value)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(policy)
	if !ecdsa.VerifyASN1(signer.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Error("ECDSA signature does not verify")
	}
}
