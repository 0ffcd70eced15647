package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cfgate/cfgate/internal/store"
)

// sessionStatus is the status of GET /api/session with token.
func (e *env) sessionStatus(t *testing.T, token string) int {
	t.Helper()
	resp := e.do(withSession(req("GET", "/api/session", ""), token))
	readBody(t, resp)
	return resp.StatusCode
}

func TestMaxSessionsRevokesOldest(t *testing.T) {
	e := newEnv(t)
	bobs := e.login(t, bob, bobPW)
	var tokens []string
	for range DefaultMaxSessions + 1 {
		tokens = append(tokens, e.login(t, alice, alicePW))
		e.clock.Add(time.Second)
	}
	if got := e.sessionStatus(t, tokens[0]); got != http.StatusUnauthorized {
		t.Errorf("oldest of %d sessions: /api/session = %d, want 401", len(tokens), got)
	}
	for i, tok := range tokens[1:] {
		if got := e.sessionStatus(t, tok); got != http.StatusOK {
			t.Errorf("session %d of %d: /api/session = %d, want 200", i+2, len(tokens), got)
		}
	}
	if got := e.sessionStatus(t, bobs); got != http.StatusOK {
		t.Errorf("another user's session: /api/session = %d, want 200", got)
	}
	list, err := e.st.ListUserSessions(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != DefaultMaxSessions {
		t.Errorf("alice has %d stored sessions, want %d", len(list), DefaultMaxSessions)
	}
	if strings.Contains(e.logs.String(), hashToken(tokens[0])) || strings.Contains(e.logs.String(), tokens[0]) {
		t.Error("a log line carries the revoked session's id or hash")
	}
	if !strings.Contains(e.logs.String(), "oldest sessions revoked") {
		t.Errorf("no log line for the revocation:\n%s", e.logs.String())
	}
}

func TestMaxSessionsSameInstant(t *testing.T) {
	// Logins in the same millisecond: the new session is never the one
	// revoked, whatever the order of the ids.
	e := newEnv(t, withConfig(func(c *Config) { c.MaxSessions = 1 }))
	for i := range 20 {
		tok := e.login(t, alice, alicePW)
		if got := e.sessionStatus(t, tok); got != http.StatusOK {
			t.Fatalf("login %d: its own session answers %d", i, got)
		}
	}
	list, err := e.st.ListUserSessions(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d stored sessions with MaxSessions 1", len(list))
	}
}

func TestMaxSessionsIgnoresExpiredAndReplaced(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MaxSessions = 2 }))
	now := e.clock.Now()
	// An expired session, newer than the live ones: it must not count.
	if err := e.st.CreateSession(context.Background(), store.Session{
		IDHash: strings.Repeat("e", 64), Email: alice, CreatedAt: now.Add(time.Minute), Expires: now.Add(-time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	first := e.login(t, alice, alicePW)
	e.clock.Add(time.Second)
	second := e.login(t, alice, alicePW)
	e.clock.Add(time.Second)
	// A login presenting the second session replaces it: the first stays.
	resp := e.do(withSession(req("POST", "/api/login", loginBodyJSON(alice, alicePW)), second))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	third := findCookie(resp, SessionCookie).Value
	for name, want := range map[string]int{"first": 200, "second (replaced)": 401, "third": 200} {
		tok := map[string]string{"first": first, "second (replaced)": second, "third": third}[name]
		if got := e.sessionStatus(t, tok); got != want {
			t.Errorf("%s session: /api/session = %d, want %d", name, got, want)
		}
	}
}

func TestNewRejectsBadMaxSessions(t *testing.T) {
	for _, n := range []int{-1, MaxMaxSessions + 1} {
		_, err := New(Config{MaxSessions: n}, newEnv(t).st, failingKeys{}, newEnv(t).issuer, nil)
		if err == nil || !strings.Contains(err.Error(), "MaxSessions") {
			t.Errorf("MaxSessions %d: err = %v, want one naming MaxSessions", n, err)
		}
	}
}

func TestLoginStoresUserAgent(t *testing.T) {
	e := newEnv(t)
	ua := "Mozilla/5.0 (X11;\x00 Linux)\x1b[31m " + strings.Repeat("é", 200)
	resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW), "User-Agent", ua))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	list, err := e.st.ListUserSessions(context.Background(), alice)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListUserSessions = %v, %v", list, err)
	}
	got := list[0].UserAgent
	if !strings.HasPrefix(got, "Mozilla/5.0 (X11; Linux)[31m éé") || len(got) > store.MaxUserAgentLen ||
		len(got) < store.MaxUserAgentLen-1 || !utf8.ValidString(got) {
		t.Errorf("stored user agent %q (%d bytes): want the control characters gone, cut to at most %d bytes of valid UTF-8",
			got, len(got), store.MaxUserAgentLen)
	}
}

func (e *env) lastSeen(t *testing.T) time.Time {
	t.Helper()
	list, err := e.st.ListUserSessions(context.Background(), alice)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListUserSessions = %v, %v", list, err)
	}
	return list[0].LastSeen
}

func TestLastSeen(t *testing.T) {
	e := newEnv(t)
	tok := e.login(t, alice, alicePW)
	access := func() {
		t.Helper()
		resp := e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), tok))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/access: %d %s", resp.StatusCode, readBody(t, resp))
		}
	}

	e.clock.Add(TouchInterval - time.Millisecond)
	e.sessionStatus(t, tok)
	access()
	if got := e.lastSeen(t); !got.IsZero() {
		t.Errorf("LastSeen = %v before %v passed, want unset", got, TouchInterval)
	}
	e.clock.Add(time.Millisecond)
	if got := e.sessionStatus(t, tok); got != http.StatusOK {
		t.Fatalf("/session: %d", got)
	}
	seen := e.clock.Now()
	if got := e.lastSeen(t); !got.Equal(seen) {
		t.Errorf("LastSeen = %v after /session at %v", got, seen)
	}
	e.clock.Add(TouchInterval - time.Millisecond)
	access()
	if got := e.lastSeen(t); !got.Equal(seen) {
		t.Errorf("LastSeen = %v, moved within %v of the last update (%v)", got, TouchInterval, seen)
	}
	e.clock.Add(time.Millisecond)
	access()
	if got := e.lastSeen(t); !got.Equal(e.clock.Now()) {
		t.Errorf("LastSeen = %v after /access at %v", got, e.clock.Now())
	}
}

// touchOrderStore checks that TouchSession runs alongside the request's
// other store work: TouchSession waits until a read that follows the
// session's in the request (the user, the grant, the grants, the catalogue)
// has been called, which deadlocks if the touch were one more sequential
// call before them. done records that the touch finished before the
// response.
type touchOrderStore struct {
	store.Store
	userCalled chan struct{} // closed at the first later read
	once       atomic.Bool
	done       atomic.Bool
}

func (s *touchOrderStore) later() {
	if s.once.CompareAndSwap(false, true) {
		close(s.userCalled)
	}
}

func (s *touchOrderStore) GetUser(ctx context.Context, email string) (store.User, error) {
	s.later()
	return s.Store.GetUser(ctx, email)
}

func (s *touchOrderStore) GetCourse(ctx context.Context, id string) (store.Course, error) {
	s.later()
	return s.Store.GetCourse(ctx, id)
}

func (s *touchOrderStore) GetGrant(ctx context.Context, email, id string) (store.Grant, error) {
	s.later()
	return s.Store.GetGrant(ctx, email, id)
}

func (s *touchOrderStore) GetUserGrant(ctx context.Context, email, id string) (store.User, store.Grant, bool, error) {
	s.later()
	return s.Store.GetUserGrant(ctx, email, id)
}

func (s *touchOrderStore) ListCourses(ctx context.Context) ([]store.Course, error) {
	s.later()
	return s.Store.ListCourses(ctx)
}

func (s *touchOrderStore) ListGrants(ctx context.Context, email string) ([]store.Grant, error) {
	s.later()
	return s.Store.ListGrants(ctx, email)
}

func (s *touchOrderStore) TouchSession(ctx context.Context, idHash, email string, at time.Time) error {
	select {
	case <-s.userCalled:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := s.Store.TouchSession(ctx, idHash, email, at)
	s.done.Store(true)
	return err
}

func TestTouchRunsAlongsideAndBeforeResponse(t *testing.T) {
	var ts *touchOrderStore
	e := newEnv(t, withStore(func(st store.Store) store.Store {
		ts = &touchOrderStore{Store: st, userCalled: make(chan struct{})}
		return ts
	}))
	tok := e.sessionFor(t, alice)
	e.clock.Add(TouchInterval)
	for _, r := range []*http.Request{
		withSession(req("GET", "/api/session", ""), tok),
		withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), tok),
		withSession(req("POST", "/api/courses/not-granted-course/access", ""), tok), // an error answer
	} {
		ts.done.Store(false)
		ts.once.Store(false)
		ts.userCalled = make(chan struct{})
		e.clock.Add(TouchInterval)
		resp := e.do(r)
		readBody(t, resp)
		if !ts.done.Load() {
			t.Errorf("%s %s answered %d before the LastSeen update finished", r.Method, r.URL.Path, resp.StatusCode)
		}
	}
	if got := e.lastSeen(t); !got.Equal(e.clock.Now()) {
		t.Errorf("LastSeen = %v, want %v", got, e.clock.Now())
	}
}

// failingTouchStore fails TouchSession.
type failingTouchStore struct{ store.Store }

func (failingTouchStore) TouchSession(context.Context, string, string, time.Time) error {
	return errors.New("dynamodb: touch failed")
}

func TestTouchFailureIgnored(t *testing.T) {
	e := newEnv(t, withStore(func(st store.Store) store.Store { return failingTouchStore{st} }))
	tok := e.login(t, alice, alicePW)
	e.clock.Add(TouchInterval)
	if got := e.sessionStatus(t, tok); got != http.StatusOK {
		t.Errorf("/session with a failing LastSeen update: %d, want 200", got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "update session last seen") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
	if strings.Contains(logs, hashToken(tok)) || strings.Contains(logs, alice) {
		t.Error("a log line carries the session hash or the email")
	}
}
