package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// loginHinted logs in and returns the session token and the user hint the
// login set.
func (e *env) loginHinted(tb testing.TB, email, pw string) (token, hint string) {
	tb.Helper()
	resp := e.do(req("POST", "/api/login", loginBodyJSON(email, pw)))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("login %s: status %d, body %s", email, resp.StatusCode, readBody(tb, resp))
	}
	s, h := findCookie(resp, SessionCookie), findCookie(resp, UserHintCookie)
	if s == nil || h == nil {
		tb.Fatalf("login %s: session cookie %v, hint cookie %v", email, s != nil, h != nil)
	}
	return s.Value, h.Value
}

// withHint adds the session cookie and a user hint cookie.
func withHint(r *http.Request, token, hint string) *http.Request {
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
	r.AddCookie(&http.Cookie{Name: UserHintCookie, Value: hint})
	return r
}

func TestUserHintOpensOnlyWithItsToken(t *testing.T) {
	tok, _ := newSessionToken()
	other, _ := newSessionToken()
	h := sealHint(tok, alice)
	if got := openHint(tok, h); got != alice {
		t.Fatalf("openHint(sealHint(alice)) = %q", got)
	}
	if h2 := sealHint(tok, alice); h2 == h {
		t.Error("two seals of one hint are equal: the nonce is not random")
	}
	if strings.Contains(h, "alice") || strings.Contains(h, base64.RawURLEncoding.EncodeToString([]byte(alice))[:8]) {
		t.Errorf("the hint %q shows the email", h)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(h)
	flipped := slices.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	long := sealHint(tok, strings.Repeat("a", maxEmailLen)+"@b")
	for name, v := range map[string]string{
		"another session's token": openHint(other, h),
		"a flipped bit":           openHint(tok, base64.RawURLEncoding.EncodeToString(flipped)),
		"cut short":               openHint(tok, h[:len(h)-4]),
		"padded base64":           openHint(tok, h+"="),
		"not base64":              openHint(tok, "!!!!"),
		"empty":                   openHint(tok, ""),
		"an address too long":     openHint(tok, long),
		"over maxHintLen":         openHint(tok, strings.Repeat("A", maxHintLen+1)),
	} {
		if v != "" {
			t.Errorf("a hint with %s opened: %q", name, v)
		}
	}
	longest := strings.Repeat("a", maxEmailLen-2) + "@b"
	if v := sealHint(tok, longest); len(v) > maxHintLen || openHint(tok, v) != longest {
		t.Errorf("the longest address's hint (%d bytes, bound %d) does not open", len(v), maxHintLen)
	}
}

// TestLoginSetsUserHint: the hint cookie has the session cookie's
// attributes and lifetime, and names the user for this session only.
func TestLoginSetsUserHint(t *testing.T) {
	e := newEnv(t)
	resp := e.do(req("POST", "/api/login", loginBodyJSON("  Alice@Example.TEST ", alicePW)))
	s, h := findCookie(resp, SessionCookie), findCookie(resp, UserHintCookie)
	if resp.StatusCode != http.StatusOK || s == nil || h == nil {
		t.Fatalf("login: %d, session cookie %v, hint %v", resp.StatusCode, s != nil, h != nil)
	}
	if h.Path != s.Path || h.MaxAge != s.MaxAge || !h.HttpOnly || !h.Secure || h.SameSite != http.SameSiteStrictMode || h.Domain != "" {
		t.Errorf("hint cookie %+v, want the attributes of %+v", h, s)
	}
	if got := openHint(s.Value, h.Value); got != alice {
		t.Errorf("the hint names %q, want the normalised %q", got, alice)
	}
}

// TestAccessWithUserHint: with the hint, /access is one store call (and the
// catalogue in the same round when stale), and answers as without it.
func TestAccessWithUserHint(t *testing.T) {
	e, rec := recordingEnv(t)
	token, hint := e.loginHinted(t, alice, alicePW)
	rec.take()
	var bodies []string
	for _, r := range []*http.Request{accessReq(courseIntro, token), withHint(req("POST", "/api/courses/"+courseIntro+"/access", "", "Origin", playerOrig), token, hint)} {
		resp := e.do(r)
		if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) != 3 {
			t.Fatalf("access: %d, cookies %v: %s", resp.StatusCode, cloudFrontCookies(resp), readBody(t, resp))
		}
		bodies = append(bodies, readBody(t, resp)+strings.Join(cloudFrontCookies(resp), ";"))
	}
	if bodies[0] != bodies[1] {
		t.Errorf("with and without the hint, the answers differ:\n%s\n%s", bodies[0], bodies[1])
	}
	if got, want := rec.take(), []string{"GetSession", "GetSessionGrant", "GetUserGrant"}; !slices.Equal(got, want) {
		t.Fatalf("store calls %v, want %v (two without the hint, one with it)", got, want)
	}
	for _, c := range []struct {
		course string
		status int
	}{{"advanced-streaming", 403}, {"old-course", 403}, {"no-such-course", 404}} {
		resp := e.do(withHint(req("POST", "/api/courses/"+c.course+"/access", "", "Origin", playerOrig), token, hint))
		if resp.StatusCode != c.status || len(cloudFrontCookies(resp)) != 0 {
			t.Errorf("%s with the hint: %d, cookies %v; want %d and none", c.course, resp.StatusCode, cloudFrontCookies(resp), c.status)
		}
		if got, want := rec.take(), []string{"GetSessionGrant"}; !slices.Equal(got, want) {
			t.Errorf("%s: store calls %v, want %v", c.course, got, want)
		}
	}
	e.clock.Add(DefaultCatalogueTTL)
	if resp := e.do(withHint(req("POST", "/api/courses/"+courseIntro+"/access", ""), token, hint)); resp.StatusCode != http.StatusOK {
		t.Fatalf("access after the catalogue's TTL: %d", resp.StatusCode)
	}
	if got, want := rec.take(), []string{"GetSessionGrant", "ListCourses"}; !slices.Equal(got, want) {
		t.Fatalf("access after the catalogue's TTL: store calls %v, want %v", got, want)
	}
}

// TestUserHintNamingSomeoneElse: the hint is not trusted. A session's
// holder who seals another user's address into the hint gets the session's
// own user and grants, never the named user's.
func TestUserHintNamingSomeoneElse(t *testing.T) {
	e, rec := recordingEnv(t)
	token, _ := e.loginHinted(t, alice, alicePW)
	forged := sealHint(token, bob) // bob holds bobs-course; alice does not
	rec.take()
	resp := e.do(withHint(req("POST", "/api/courses/bobs-course/access", ""), token, forged))
	if resp.StatusCode != http.StatusForbidden || len(cloudFrontCookies(resp)) != 0 {
		t.Fatalf("alice's session naming bob, on bob's course: %d, cookies %v; want 403 and none", resp.StatusCode, cloudFrontCookies(resp))
	}
	if got, want := rec.take(), []string{"GetSessionGrant", "GetUserGrant"}; !slices.Equal(got, want) {
		t.Fatalf("store calls %v, want %v (alice's own user and grant read after)", got, want)
	}
	resp = e.do(withHint(req("POST", "/api/courses/"+courseIntro+"/access", ""), token, forged))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice's session naming bob, on alice's course: %d", resp.StatusCode)
	}
	if logs := e.logs.String(); strings.Contains(logs, userHash(bob)) {
		t.Error("the logs name bob, whom only the hint named")
	}
	// A hint sealed for another session does not open: two reads, as
	// without one.
	_, bobHint := e.loginHinted(t, bob, bobPW)
	rec.take()
	resp = e.do(withHint(req("POST", "/api/courses/bobs-course/access", ""), token, bobHint))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("alice's session with bob's hint: %d, want 403", resp.StatusCode)
	}
	if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
		t.Fatalf("store calls %v, want %v", got, want)
	}
}

// TestUserHintRefusals: the single round refuses as the two rounds do, on
// /access and on a course route that signs nothing (/files).
func TestUserHintRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hinted := func(email string, lifetime time.Duration) (string, string) {
		token, idHash := newSessionToken()
		now := e.clock.Now()
		if err := e.st.CreateSession(ctx, store.Session{IDHash: idHash, Email: email, CreatedAt: now, Expires: now.Add(lifetime)}); err != nil {
			t.Fatal(err)
		}
		return token, sealHint(token, email)
	}
	live, liveHint := hinted(alice, time.Hour)
	ended, endedHint := hinted(alice, time.Minute)
	ghost, ghostHint := hinted("ghost@example.test", time.Hour)
	disabled, disabledHint := hinted(carol, time.Hour)
	unknown, _ := newSessionToken()
	e.clock.Add(time.Minute)
	for _, c := range []struct {
		name, token, hint, course string
		status                    int
		reason                    string
	}{
		{"no such session", unknown, sealHint(unknown, alice), courseIntro, 401, "unknown_session"},
		{"ended session", ended, endedHint, courseIntro, 401, "session_expired"},
		{"user gone", ghost, ghostHint, courseIntro, 401, "unknown_user"},
		{"user disabled", disabled, disabledHint, courseIntro, 403, "user_disabled"},
		{"grant ended", live, liveHint, "old-course", 403, "grant_expired"},
		{"no grant", live, liveHint, "bobs-course", 403, "not_granted"},
		{"granted, course gone", live, liveHint, "gone-course", 404, "unknown_course"},
	} {
		seen := len(e.metrics.String())
		resp := e.do(withHint(req("POST", "/api/courses/"+c.course+"/access", ""), c.token, c.hint))
		if resp.StatusCode != c.status || len(cloudFrontCookies(resp)) != 0 {
			t.Errorf("%s: %d, cookies %v; want %d and none", c.name, resp.StatusCode, cloudFrontCookies(resp), c.status)
		}
		if m := e.metrics.String()[seen:]; !strings.Contains(m, `"Reason":"`+c.reason+`"`) {
			t.Errorf("%s: metrics %s, want reason %s", c.name, m, c.reason)
		}
		// A course route that signs nothing refuses alike: the refusal
		// does not rest on the signing's own check of the session's end.
		resp = e.do(withHint(req("GET", "/api/courses/"+c.course+"/files", ""), c.token, c.hint))
		if resp.StatusCode != c.status {
			t.Errorf("%s: files %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}

// faultySessionGrantStore fails GetSessionGrant.
type faultySessionGrantStore struct {
	store.Store
	err error
}

func (f faultySessionGrantStore) GetSessionGrant(context.Context, string, string, string) (store.SessionGrant, error) {
	return store.SessionGrant{}, f.err
}

func TestUserHintStoreErrors(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{{fmtWrap(store.ErrThrottled), 503}, {errors.New("dynamodb: unreachable"), 500}} {
		e := newEnv(t, withStore(func(s store.Store) store.Store { return faultySessionGrantStore{s, c.err} }))
		token, hint := e.loginHinted(t, alice, alicePW)
		resp := e.do(withHint(req("POST", "/api/courses/"+courseIntro+"/access", ""), token, hint))
		if resp.StatusCode != c.status || len(cloudFrontCookies(resp)) != 0 {
			t.Errorf("%v: %d, cookies %v; want %d and none", c.err, resp.StatusCode, cloudFrontCookies(resp), c.status)
		}
		if !strings.Contains(e.logs.String(), c.err.Error()) {
			t.Errorf("%v: not logged for the operator", c.err)
		}
	}
}

// TestUserHintTouches: with the hint a stale LastSeen is still written,
// before the answer.
func TestUserHintTouches(t *testing.T) {
	e, rec := recordingEnv(t)
	token, hint := e.loginHinted(t, alice, alicePW)
	e.clock.Add(TouchInterval)
	rec.take()
	if resp := e.do(withHint(req("POST", "/api/courses/"+courseIntro+"/access", ""), token, hint)); resp.StatusCode != http.StatusOK {
		t.Fatalf("access: %d", resp.StatusCode)
	}
	if got, want := rec.take(), []string{"GetSessionGrant", "ListCourses", "TouchSession"}; !slices.Equal(got, want) { // the catalogue copy is stale too
		t.Fatalf("store calls %v, want %v", got, want)
	}
	if got := e.lastSeen(t); !got.Equal(e.clock.Now()) {
		t.Errorf("LastSeen = %v, want %v", got, e.clock.Now())
	}
}

// TestSessionSetsMissingHint: GET /api/session gives a session without a
// hint that opens one (the player asks there first), and leaves a good one.
func TestSessionSetsMissingHint(t *testing.T) {
	e := newEnv(t)
	token := e.sessionFor(t, alice) // as a session from before hints
	resp := e.do(withSession(req("GET", "/api/session", ""), token))
	h := findCookie(resp, UserHintCookie)
	if resp.StatusCode != http.StatusOK || h == nil {
		t.Fatalf("session without a hint: %d, hint set %v", resp.StatusCode, h != nil)
	}
	if openHint(token, h.Value) != alice || h.MaxAge != int(time.Hour/time.Second) || !h.HttpOnly || h.Path != "/api/" {
		t.Errorf("hint cookie %+v: want alice's, for the session's remaining hour", h)
	}
	resp = e.do(withHint(req("GET", "/api/session", ""), token, h.Value))
	if resp.StatusCode != http.StatusOK || findCookie(resp, UserHintCookie) != nil {
		t.Errorf("session with its hint: %d, hint set again %v", resp.StatusCode, findCookie(resp, UserHintCookie) != nil)
	}
	resp = e.do(withHint(req("GET", "/api/session", ""), token, sealHint(token, bob)))
	if h := findCookie(resp, UserHintCookie); resp.StatusCode != http.StatusOK || h == nil || openHint(token, h.Value) != alice {
		t.Errorf("session with a hint naming bob: %d, not replaced by alice's", resp.StatusCode)
	}
}

// FuzzOpenHint: no cookie value makes openHint panic or return more than
// an address's length, and every address up to maxEmailLen comes back from
// its own seal, and only with its own token.
func FuzzOpenHint(f *testing.F) {
	tok, _ := newSessionToken()
	other, _ := newSessionToken()
	f.Add(sealHint(tok, alice), alice)
	f.Add("", "")
	f.Add("AAAA", "x@y")
	f.Add(strings.Repeat("A", maxHintLen), strings.Repeat("a", maxEmailLen))
	f.Fuzz(func(t *testing.T, hint, email string) {
		if got := openHint(tok, hint); len(got) > maxEmailLen {
			t.Fatalf("openHint(%q) = %d bytes", hint, len(got))
		}
		if email == "" || len(email) > maxEmailLen {
			return
		}
		sealed := sealHint(tok, email)
		if got := openHint(tok, sealed); got != email {
			t.Fatalf("openHint(sealHint(%q)) = %q", email, got)
		}
		if got := openHint(other, sealed); got != "" {
			t.Fatalf("a hint opened with another token: %q", got)
		}
	})
}
