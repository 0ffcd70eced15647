package api

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// recordingStore records which store methods the handler calls.
type recordingStore struct {
	store.Store
	mu    sync.Mutex
	calls []string
}

func (r *recordingStore) add(m string) {
	r.mu.Lock()
	r.calls = append(r.calls, m)
	r.mu.Unlock()
}

// take returns the calls so far, sorted, and forgets them.
func (r *recordingStore) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	slices.Sort(c)
	return c
}

func (r *recordingStore) GetUser(ctx context.Context, email string) (store.User, error) {
	r.add("GetUser")
	return r.Store.GetUser(ctx, email)
}

func (r *recordingStore) GetCourse(ctx context.Context, id string) (store.Course, error) {
	r.add("GetCourse")
	return r.Store.GetCourse(ctx, id)
}

func (r *recordingStore) ListCourses(ctx context.Context) ([]store.Course, error) {
	r.add("ListCourses")
	return r.Store.ListCourses(ctx)
}

func (r *recordingStore) GetGrant(ctx context.Context, email, id string) (store.Grant, error) {
	r.add("GetGrant")
	return r.Store.GetGrant(ctx, email, id)
}

func (r *recordingStore) GetUserGrant(ctx context.Context, email, id string) (store.User, store.Grant, bool, error) {
	r.add("GetUserGrant")
	return r.Store.GetUserGrant(ctx, email, id)
}

func (r *recordingStore) GetSessionGrant(ctx context.Context, idHash, email, id string) (store.SessionGrant, error) {
	r.add("GetSessionGrant")
	return r.Store.GetSessionGrant(ctx, idHash, email, id)
}

func (r *recordingStore) TouchSession(ctx context.Context, idHash, email string, at time.Time) error {
	r.add("TouchSession")
	return r.Store.TouchSession(ctx, idHash, email, at)
}

func (r *recordingStore) ListGrants(ctx context.Context, email string) ([]store.Grant, error) {
	r.add("ListGrants")
	return r.Store.ListGrants(ctx, email)
}

func (r *recordingStore) CreateSession(ctx context.Context, s store.Session) error {
	r.add("CreateSession")
	return r.Store.CreateSession(ctx, s)
}

func (r *recordingStore) GetSession(ctx context.Context, idHash string) (store.Session, error) {
	r.add("GetSession")
	return r.Store.GetSession(ctx, idHash)
}

func (r *recordingStore) DeleteSession(ctx context.Context, idHash string) error {
	r.add("DeleteSession")
	return r.Store.DeleteSession(ctx, idHash)
}

func (r *recordingStore) RecordFailure(ctx context.Context, email string, now time.Time, window time.Duration) (int, error) {
	r.add("RecordFailure")
	return r.Store.RecordFailure(ctx, email, now, window)
}

func (r *recordingStore) ResetFailures(ctx context.Context, email string) error {
	r.add("ResetFailures")
	return r.Store.ResetFailures(ctx, email)
}

func (r *recordingStore) ForgiveFailure(ctx context.Context, email string, now time.Time) error {
	r.add("ForgiveFailure")
	return r.Store.ForgiveFailure(ctx, email, now)
}

func (r *recordingStore) RecordSourceFailure(ctx context.Context, email, source string, now time.Time, window time.Duration) (int, error) {
	r.add("RecordSourceFailure")
	return r.Store.RecordSourceFailure(ctx, email, source, now, window)
}

func (r *recordingStore) ResetSourceFailures(ctx context.Context, email, source string) error {
	r.add("ResetSourceFailures")
	return r.Store.ResetSourceFailures(ctx, email, source)
}

func recordingEnv(t *testing.T) (*env, *recordingStore) {
	rec := &recordingStore{}
	e := newEnv(t, withStore(func(s store.Store) store.Store { rec.Store = s; return rec }))
	return e, rec
}

func accessReq(course, token string) *http.Request {
	return withSession(req("POST", "/api/courses/"+course+"/access", "", "Origin", playerOrig), token)
}

// TestAccessStoreCalls: /access reads the session and then the user and
// grant together; the course comes from the catalogue copy, read once.
func TestAccessStoreCalls(t *testing.T) {
	e, rec := recordingEnv(t)
	token := e.login(t, alice, alicePW) // reads the catalogue
	rec.take()
	for i := range 3 {
		if resp := e.do(accessReq(courseIntro, token)); resp.StatusCode != http.StatusOK {
			t.Fatalf("access %d: %d %s", i, resp.StatusCode, readBody(t, resp))
		}
		if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
			t.Fatalf("access %d: store calls %v, want %v", i, got, want)
		}
	}
	// An unknown course costs the same two reads, no course lookup.
	if resp := e.do(accessReq("no-such-course", token)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown course: %d", resp.StatusCode)
	}
	if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
		t.Fatalf("unknown course: store calls %v, want %v", got, want)
	}
	// Once the copy is stale, the catalogue is read again, in the same round.
	e.clock.Add(DefaultCatalogueTTL)
	if resp := e.do(accessReq(courseIntro, token)); resp.StatusCode != http.StatusOK {
		t.Fatalf("access after TTL: %d", resp.StatusCode)
	}
	if got, want := rec.take(), []string{"GetSession", "GetUserGrant", "ListCourses"}; !slices.Equal(got, want) {
		t.Fatalf("access after TTL: store calls %v, want %v", got, want)
	}
}

// TestLoginStoreCalls: a login makes no per-course reads.
func TestLoginStoreCalls(t *testing.T) {
	e, rec := recordingEnv(t)
	e.login(t, alice, alicePW)
	want := []string{"CreateSession", "ForgiveFailure", "GetUser", "ListCourses", "ListGrants", "RecordFailure", "RecordSourceFailure", "ResetSourceFailures"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("first login: store calls %v, want %v", got, want)
	}
	token := e.login(t, alice, alicePW)
	want = []string{"CreateSession", "ForgiveFailure", "GetUser", "ListGrants", "RecordFailure", "RecordSourceFailure", "ResetSourceFailures"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("second login: store calls %v, want %v", got, want)
	}
	// A login presenting a session replaces it.
	resp := e.do(withSession(req("POST", "/api/login", loginBodyJSON(alice, alicePW)), token))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("re-login: %d", resp.StatusCode)
	}
	want = []string{"CreateSession", "DeleteSession", "ForgiveFailure", "GetUser", "ListGrants", "RecordFailure", "RecordSourceFailure", "ResetSourceFailures"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("re-login: store calls %v, want %v", got, want)
	}
	if resp := e.do(accessReq(courseIntro, token)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replaced session still works: %d", resp.StatusCode)
	}
}

// TestCatalogueCopy: a course added to the store is refused until the copy
// is stale, then served; CatalogueTTL sets how long that is.
func TestCatalogueCopy(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Second} {
		e := newEnv(t, withConfig(func(c *Config) { c.CatalogueTTL = ttl }))
		if ttl == 0 {
			ttl = DefaultCatalogueTTL
		}
		token := e.login(t, alice, alicePW)
		ctx := context.Background()
		if err := e.st.PutCourse(ctx, store.Course{ID: "new-course", Title: "New"}); err != nil {
			t.Fatal(err)
		}
		if err := e.st.PutGrant(ctx, store.Grant{Email: alice, CourseID: "new-course"}); err != nil {
			t.Fatal(err)
		}
		if resp := e.do(accessReq("new-course", token)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("ttl %v: new course before the copy is stale: %d, want 404", ttl, resp.StatusCode)
		}
		e.clock.Add(ttl - time.Millisecond)
		if resp := e.do(accessReq("new-course", token)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("ttl %v: new course just before the copy is stale: %d, want 404", ttl, resp.StatusCode)
		}
		e.clock.Add(time.Millisecond)
		if resp := e.do(accessReq("new-course", token)); resp.StatusCode != http.StatusOK {
			t.Fatalf("ttl %v: new course after the copy is stale: %d %s", ttl, resp.StatusCode, readBody(t, resp))
		}
	}
	if _, err := New(Config{CatalogueTTL: -time.Second}, newEnv(t).st, failingKeys{}, newEnv(t).issuer, nil); err == nil {
		t.Fatal("negative CatalogueTTL accepted")
	}
}

// TestCatalogueGivenAtStart: a handler given the catalogue (as the login
// function reads it during init) reads no catalogue on its first /access.
func TestCatalogueGivenAtStart(t *testing.T) {
	rec := &recordingStore{}
	e := newEnv(t, withStore(func(s store.Store) store.Store { rec.Store = s; return rec }), withConfig(func(c *Config) {
		c.Catalogue = []store.Course{{ID: courseIntro, Title: "Intro to HLS"}}
	}))
	token, idHash := newSessionToken()
	now := e.clock.Now()
	if err := e.st.CreateSession(context.Background(), store.Session{IDHash: idHash, Email: alice, CreatedAt: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	if resp := e.do(accessReq(courseIntro, token)); resp.StatusCode != http.StatusOK {
		t.Fatalf("access: %d %s", resp.StatusCode, readBody(t, resp))
	}
	if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
		t.Fatalf("first access: store calls %v, want %v", got, want)
	}
	// Only the given courses are known until the copy is stale.
	if resp := e.do(accessReq("advanced-streaming", token)); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("course outside the given catalogue: %d, want 404", resp.StatusCode)
	}
}
