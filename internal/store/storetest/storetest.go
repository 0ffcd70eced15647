// Package storetest is the conformance suite of store.Store: every
// implementation (store/mem, store/dynamo against moto_server) runs Run and
// so has the same semantics.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// base is the suite's fixed clock reading, at millisecond precision (what
// the stores keep).
var base = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// Concurrency is how many parallel RecordFailure calls the lockout test makes.
const Concurrency = 25

// Run runs the conformance suite. newStore must return an empty store of its
// own (for DynamoDB: a fresh table) for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, st store.Store)
	}{
		{"Users", testUsers},
		{"Courses", testCourses},
		{"Grants", testGrants},
		{"GrantExpiry", testGrantExpiry},
		{"UserGrant", testUserGrant},
		{"UserGrantSent", testUserGrantSent},
		{"SessionGrant", testSessionGrant},
		{"SessionGrantSent", testSessionGrantSent},
		{"Sessions", testSessions},
		{"DeleteUserSessions", testDeleteUserSessions},
		{"ListUserSessions", testListUserSessions},
		{"TouchSession", testTouchSession},
		{"FailureWindow", testFailureWindow},
		{"FailuresPerUser", testFailuresPerUser},
		{"ConcurrentFailures", testConcurrentFailures},
		{"ConcurrentFailuresAcrossReset", testConcurrentFailuresAcrossReset},
		{"SourceFailures", testSourceFailures},
		{"ConcurrentSourceFailures", testConcurrentSourceFailures},
		{"ForgiveFailure", testForgiveFailure},
		{"EmptyKeys", testEmptyKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testUsers(t *testing.T, st store.Store) {
	_, err := st.GetUser(ctx(t), "nobody@example.com")
	wantErr(t, "GetUser(absent)", err, store.ErrNotFound)

	u := store.User{Email: "ada@example.com", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: base}
	must(t, "CreateUser", st.CreateUser(ctx(t), u))
	got, err := st.GetUser(ctx(t), u.Email)
	must(t, "GetUser", err)
	if got != u {
		t.Errorf("GetUser = %+v, want %+v", got, u)
	}

	dup := u
	dup.PasswordHash = "other"
	wantErr(t, "CreateUser(again)", st.CreateUser(ctx(t), dup), store.ErrExists)
	got, err = st.GetUser(ctx(t), u.Email)
	must(t, "GetUser", err)
	if got.PasswordHash != u.PasswordHash {
		t.Errorf("a failed CreateUser changed the hash to %q", got.PasswordHash)
	}

	u.Disabled, u.PasswordHash = true, "new-hash"
	must(t, "PutUser(replace)", st.PutUser(ctx(t), u))
	got, err = st.GetUser(ctx(t), u.Email)
	must(t, "GetUser", err)
	if got != u {
		t.Errorf("after PutUser: GetUser = %+v, want %+v", got, u)
	}

	// ReplacePasswordHash: only from the expected hash, and nothing else changes.
	wantErr(t, "ReplacePasswordHash(stale)", st.ReplacePasswordHash(ctx(t), u.Email, "not-the-hash", "x"), store.ErrNotFound)
	wantErr(t, "ReplacePasswordHash(absent)", st.ReplacePasswordHash(ctx(t), "nobody@example.com", "h", "x"), store.ErrNotFound)
	must(t, "ReplacePasswordHash", st.ReplacePasswordHash(ctx(t), u.Email, "new-hash", "rehashed"))
	got, err = st.GetUser(ctx(t), u.Email)
	must(t, "GetUser", err)
	if want := (store.User{Email: u.Email, PasswordHash: "rehashed", Disabled: true, CreatedAt: u.CreatedAt}); got != want {
		t.Errorf("after ReplacePasswordHash: GetUser = %+v, want %+v", got, want)
	}
	u.PasswordHash = "rehashed"

	fresh := store.User{Email: "bob@example.com", PasswordHash: "h"} // zero CreatedAt stays zero
	must(t, "PutUser(create)", st.PutUser(ctx(t), fresh))
	got, err = st.GetUser(ctx(t), fresh.Email)
	must(t, "GetUser", err)
	if got != fresh {
		t.Errorf("GetUser = %+v, want %+v", got, fresh)
	}
	_, err = st.GetUser(ctx(t), "ADA@example.com")
	wantErr(t, "GetUser(other case)", err, store.ErrNotFound)
}

func testCourses(t *testing.T, st store.Store) {
	_, err := st.GetCourse(ctx(t), "intro")
	wantErr(t, "GetCourse(absent)", err, store.ErrNotFound)
	list, err := st.ListCourses(ctx(t))
	must(t, "ListCourses(empty)", err)
	if list == nil || len(list) != 0 {
		t.Fatalf("ListCourses(empty) = %#v, want an empty non-nil slice (it is encoded as [])", list)
	}

	for _, c := range []store.Course{{ID: "zeta", Title: "Z"}, {ID: "alpha-2", Title: "A2"}, {ID: "alpha", Title: "A"}, {ID: "0-start", Title: "Zero"}} {
		must(t, "PutCourse", st.PutCourse(ctx(t), c))
	}
	must(t, "PutCourse(replace)", st.PutCourse(ctx(t), store.Course{ID: "zeta", Title: "Zeta, retitled"}))

	got, err := st.GetCourse(ctx(t), "zeta")
	must(t, "GetCourse", err)
	if want := (store.Course{ID: "zeta", Title: "Zeta, retitled"}); got != want {
		t.Errorf("GetCourse = %+v, want %+v", got, want)
	}
	list, err = st.ListCourses(ctx(t))
	must(t, "ListCourses", err)
	want := []store.Course{{ID: "0-start", Title: "Zero"}, {ID: "alpha", Title: "A"}, {ID: "alpha-2", Title: "A2"}, {ID: "zeta", Title: "Zeta, retitled"}}
	if !slices.Equal(list, want) {
		t.Errorf("ListCourses = %v, want %v", list, want)
	}
}

func testGrants(t *testing.T, st store.Store) {
	const ada, bob = "ada@example.com", "bob@example.com"
	_, err := st.GetGrant(ctx(t), ada, "intro")
	wantErr(t, "GetGrant(absent)", err, store.ErrNotFound)
	list, err := st.ListGrants(ctx(t), ada)
	must(t, "ListGrants(none)", err)
	if list == nil || len(list) != 0 {
		t.Fatalf("ListGrants(none) = %#v, want an empty non-nil slice (it is encoded as [])", list)
	}

	grants := []store.Grant{
		{Email: ada, CourseID: "zeta"},
		{Email: ada, CourseID: "intro", Expires: base.Add(30 * 24 * time.Hour)},
		{Email: ada, CourseID: "intro-2"},
		{Email: bob, CourseID: "intro"},
	}
	for _, g := range grants {
		must(t, "PutGrant", st.PutGrant(ctx(t), g))
	}
	got, err := st.GetGrant(ctx(t), ada, "intro")
	must(t, "GetGrant", err)
	if got != grants[1] {
		t.Errorf("GetGrant = %+v, want %+v", got, grants[1])
	}
	list, err = st.ListGrants(ctx(t), ada)
	must(t, "ListGrants", err)
	if want := []store.Grant{grants[1], grants[2], grants[0]}; !slices.Equal(list, want) {
		t.Errorf("ListGrants = %v, want %v (sorted by course)", list, want)
	}

	// Replacing a grant can remove its expiry.
	must(t, "PutGrant(no expiry)", st.PutGrant(ctx(t), store.Grant{Email: ada, CourseID: "intro"}))
	got, err = st.GetGrant(ctx(t), ada, "intro")
	must(t, "GetGrant", err)
	if !got.Expires.IsZero() {
		t.Errorf("replaced grant still expires %v", got.Expires)
	}

	must(t, "DeleteGrant", st.DeleteGrant(ctx(t), ada, "intro"))
	_, err = st.GetGrant(ctx(t), ada, "intro")
	wantErr(t, "GetGrant(deleted)", err, store.ErrNotFound)
	must(t, "DeleteGrant(absent)", st.DeleteGrant(ctx(t), ada, "intro"))
	if _, err := st.GetGrant(ctx(t), bob, "intro"); err != nil {
		t.Errorf("deleting ada's grant touched bob's: %v", err)
	}
	list, err = st.ListGrants(ctx(t), ada)
	must(t, "ListGrants", err)
	if want := []store.Grant{grants[2], grants[0]}; !slices.Equal(list, want) {
		t.Errorf("ListGrants = %v, want %v", list, want)
	}
}

func testUserGrant(t *testing.T, st store.Store) {
	const ada, bob = "ada@example.com", "bob@example.com"
	// A grant without its user: the user is what is missing.
	must(t, "PutGrant", st.PutGrant(ctx(t), store.Grant{Email: bob, CourseID: "intro"}))
	_, _, _, err := st.GetUserGrant(ctx(t), bob, "intro")
	wantErr(t, "GetUserGrant(no user)", err, store.ErrNotFound)

	u := store.User{Email: ada, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", Disabled: true, CreatedAt: base}
	must(t, "PutUser", st.PutUser(ctx(t), u))
	gotU, gotG, granted, err := st.GetUserGrant(ctx(t), ada, "intro")
	must(t, "GetUserGrant(no grant)", err)
	if gotU != u || granted || gotG != (store.Grant{}) {
		t.Errorf("GetUserGrant(no grant) = %+v, %+v, %v; want %+v, no grant", gotU, gotG, granted, u)
	}

	expired := store.Grant{Email: ada, CourseID: "intro", Expires: base.Add(-time.Hour)}
	other := store.Grant{Email: ada, CourseID: "intro-2"}
	must(t, "PutGrant", st.PutGrant(ctx(t), expired))
	must(t, "PutGrant", st.PutGrant(ctx(t), other))
	gotU, gotG, granted, err = st.GetUserGrant(ctx(t), ada, "intro")
	must(t, "GetUserGrant", err)
	if gotU != u || !granted || gotG != expired {
		t.Errorf("GetUserGrant = %+v, %+v, %v; want %+v, %+v (expired grants as stored)", gotU, gotG, granted, u, expired)
	}
	// The course id is matched exactly: "intro" is not "intro-2" or "intr".
	_, gotG, granted, err = st.GetUserGrant(ctx(t), ada, "intro-2")
	must(t, "GetUserGrant(intro-2)", err)
	if !granted || gotG != other {
		t.Errorf("GetUserGrant(intro-2) = %+v, %v; want %+v", gotG, granted, other)
	}
	_, _, granted, err = st.GetUserGrant(ctx(t), ada, "intr")
	must(t, "GetUserGrant(intr)", err)
	if granted {
		t.Error("GetUserGrant(intr) found a grant")
	}
	// Another user's grant is not this user's.
	_, _, granted, err = st.GetUserGrant(ctx(t), ada, "bobs")
	must(t, "GetUserGrant(bobs)", err)
	must(t, "PutGrant", st.PutGrant(ctx(t), store.Grant{Email: bob, CourseID: "bobs"}))
	if _, _, granted2, err := st.GetUserGrant(ctx(t), ada, "bobs"); err != nil || granted || granted2 {
		t.Errorf("GetUserGrant(ada, bobs) = %v, %v, %v: bob's grant leaked to ada", granted, granted2, err)
	}
}

// testUserGrantSent: GetUserGrant calls ctx's OnSent function exactly once
// before it returns (its request went out), for a user with a grant,
// without one, and for no user at all; and the function belongs to its
// context only.
func testUserGrantSent(t *testing.T, st store.Store) {
	const ada, bob = "ada@example.com", "bob@example.com"
	must(t, "PutUser", st.PutUser(ctx(t), store.User{Email: ada, PasswordHash: "h", CreatedAt: base}))
	must(t, "PutGrant", st.PutGrant(ctx(t), store.Grant{Email: ada, CourseID: "intro"}))
	for _, c := range []struct{ email, course string }{{ada, "intro"}, {ada, "other"}, {bob, "intro"}} {
		n := 0
		_, _, _, err := st.GetUserGrant(store.OnSent(ctx(t), func() { n++ }), c.email, c.course)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetUserGrant(%s, %s): %v", c.email, c.course, err)
		}
		if n != 1 {
			t.Errorf("GetUserGrant(%s, %s) called OnSent's function %d times, want 1", c.email, c.course, n)
		}
	}
	if _, _, _, err := st.GetUserGrant(ctx(t), ada, "intro"); err != nil { // no hook: nothing to call
		t.Fatal(err)
	}
}

// testSessionGrant: GetSessionGrant returns the session, and the user and
// grant of the email asked for only when the session is that user's; an
// expired session and grant come back as stored.
func testSessionGrant(t *testing.T, st store.Store) {
	const ada, bob = "ada@example.com", "bob@example.com"
	u := store.User{Email: ada, PasswordHash: "h", CreatedAt: base}
	sess := store.Session{IDHash: "a1b2c3", Email: ada, CreatedAt: base, Expires: base.Add(12 * time.Hour), UserAgent: "UA"}
	read := func(what, idHash, email, course string) store.SessionGrant {
		t.Helper()
		r, err := st.GetSessionGrant(ctx(t), idHash, email, course)
		must(t, "GetSessionGrant("+what+")", err)
		return r
	}
	if r := read("nothing", sess.IDHash, ada, "intro"); r != (store.SessionGrant{}) {
		t.Errorf("GetSessionGrant(nothing stored) = %+v, want nothing found", r)
	}
	must(t, "PutUser", st.PutUser(ctx(t), u))
	must(t, "PutGrant", st.PutGrant(ctx(t), store.Grant{Email: ada, CourseID: "intro"}))
	if r := read("no session", sess.IDHash, ada, "intro"); r != (store.SessionGrant{}) {
		t.Errorf("GetSessionGrant(no session) = %+v: a user or grant came back without their session", r)
	}
	must(t, "CreateSession", st.CreateSession(ctx(t), sess))
	want := store.SessionGrant{Session: sess, SessionFound: true, Matched: true, User: u, UserFound: true, Grant: store.Grant{Email: ada, CourseID: "intro"}, Granted: true}
	if r := read("all", sess.IDHash, ada, "intro"); r != want {
		t.Errorf("GetSessionGrant = %+v, want %+v", r, want)
	}
	want.Grant, want.Granted = store.Grant{}, false
	if r := read("no grant", sess.IDHash, ada, "other"); r != want {
		t.Errorf("GetSessionGrant(no grant) = %+v, want %+v", r, want)
	}
	// The session of another user: only the session comes back, never
	// that user's profile or grant.
	must(t, "PutUser(bob)", st.PutUser(ctx(t), store.User{Email: bob, PasswordHash: "h2", CreatedAt: base}))
	must(t, "PutGrant(bob)", st.PutGrant(ctx(t), store.Grant{Email: bob, CourseID: "intro"}))
	if r := read("bob's email, ada's session", sess.IDHash, bob, "intro"); r != (store.SessionGrant{Session: sess, SessionFound: true}) {
		t.Errorf("GetSessionGrant(ada's session, bob) = %+v, want ada's session alone", r)
	}
	// The session's user is gone: the session, matched, and no user.
	gone := store.Session{IDHash: "d4e5", Email: "gone@example.com", CreatedAt: base, Expires: base.Add(time.Hour)}
	must(t, "CreateSession(gone)", st.CreateSession(ctx(t), gone))
	if r := read("no user", gone.IDHash, gone.Email, "intro"); r != (store.SessionGrant{Session: gone, SessionFound: true, Matched: true}) {
		t.Errorf("GetSessionGrant(no user) = %+v, want the session alone, matched", r)
	}
	// Expired records come back as stored.
	past := base.Add(-time.Hour)
	expired := store.Session{IDHash: "dead", Email: ada, CreatedAt: past.Add(-time.Hour), Expires: past}
	must(t, "CreateSession(expired)", st.CreateSession(ctx(t), expired))
	must(t, "PutGrant(expired)", st.PutGrant(ctx(t), store.Grant{Email: ada, CourseID: "old", Expires: past}))
	r := read("expired", expired.IDHash, ada, "old")
	if r.Session != expired || !r.Granted || !r.Grant.Expires.Equal(past) {
		t.Errorf("GetSessionGrant(expired) = %+v, want the expired session and grant as stored", r)
	}
}

// testSessionGrantSent: GetSessionGrant calls ctx's OnSent function exactly
// once, whatever it finds.
func testSessionGrantSent(t *testing.T, st store.Store) {
	const ada = "ada@example.com"
	must(t, "PutUser", st.PutUser(ctx(t), store.User{Email: ada, PasswordHash: "h", CreatedAt: base}))
	must(t, "CreateSession", st.CreateSession(ctx(t), store.Session{IDHash: "a1", Email: ada, CreatedAt: base, Expires: base.Add(time.Hour)}))
	for _, c := range [][2]string{{"a1", ada}, {"a1", "bob@example.com"}, {"b2", ada}} {
		n := 0
		if _, err := st.GetSessionGrant(store.OnSent(ctx(t), func() { n++ }), c[0], c[1], "intro"); err != nil {
			t.Fatalf("GetSessionGrant%q: %v", c, err)
		}
		if n != 1 {
			t.Errorf("GetSessionGrant%q called OnSent's function %d times, want 1", c, n)
		}
	}
}

func testGrantExpiry(t *testing.T, st store.Store) {
	// An expired grant is returned as stored (until TTL removes it); the
	// caller decides with Active. Expiry keeps millisecond precision.
	past := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	g := store.Grant{Email: "ada@example.com", CourseID: "old", Expires: past}
	must(t, "PutGrant", st.PutGrant(ctx(t), g))
	got, err := st.GetGrant(ctx(t), g.Email, g.CourseID)
	must(t, "GetGrant", err)
	if !got.Expires.Equal(past) {
		t.Errorf("Expires = %v, want %v", got.Expires, past)
	}
	if got.Active(time.Now()) {
		t.Error("expired grant is Active")
	}
	if !got.Active(past.Add(-time.Millisecond)) || got.Active(past) {
		t.Error("Active is not now < Expires")
	}
	// Sub-millisecond parts are dropped, never rounded up.
	fine := base.Add(999_999 * time.Nanosecond)
	must(t, "PutGrant", st.PutGrant(ctx(t), store.Grant{Email: "ada@example.com", CourseID: "fine", Expires: fine.In(time.FixedZone("X", 3600))}))
	got, err = st.GetGrant(ctx(t), "ada@example.com", "fine")
	must(t, "GetGrant", err)
	if !got.Expires.Equal(base) || got.Expires.Location() != time.UTC {
		t.Errorf("Expires = %v, want %v in UTC", got.Expires, base)
	}
}

func testSessions(t *testing.T, st store.Store) {
	s := store.Session{IDHash: "a1b2c3", Email: "ada@example.com", CreatedAt: base, Expires: base.Add(12 * time.Hour), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
	_, err := st.GetSession(ctx(t), s.IDHash)
	wantErr(t, "GetSession(absent)", err, store.ErrNotFound)
	must(t, "CreateSession", st.CreateSession(ctx(t), s))
	got, err := st.GetSession(ctx(t), s.IDHash)
	must(t, "GetSession", err)
	if got != s {
		t.Errorf("GetSession = %+v, want %+v", got, s)
	}
	other := s
	other.Email = "mallory@example.com"
	wantErr(t, "CreateSession(same id)", st.CreateSession(ctx(t), other), store.ErrExists)
	if got, _ := st.GetSession(ctx(t), s.IDHash); got.Email != s.Email {
		t.Errorf("a failed CreateSession changed the owner to %q", got.Email)
	}

	// An expired session is still returned; callers check Expires.
	expired := store.Session{IDHash: "dead", Email: "ada@example.com", CreatedAt: base.Add(-2 * time.Hour), Expires: base.Add(-time.Hour)}
	must(t, "CreateSession(expired)", st.CreateSession(ctx(t), expired))
	got, err = st.GetSession(ctx(t), expired.IDHash)
	must(t, "GetSession(expired)", err)
	if got != expired {
		t.Errorf("GetSession(expired) = %+v, want %+v", got, expired)
	}

	must(t, "DeleteSession", st.DeleteSession(ctx(t), s.IDHash))
	_, err = st.GetSession(ctx(t), s.IDHash)
	wantErr(t, "GetSession(deleted)", err, store.ErrNotFound)
	must(t, "DeleteSession(absent)", st.DeleteSession(ctx(t), s.IDHash))
	n, err := st.DeleteUserSessions(ctx(t), "ada@example.com")
	must(t, "DeleteUserSessions", err)
	if n != 1 {
		t.Errorf("DeleteUserSessions = %d after one DeleteSession of two, want 1", n)
	}
}

func testDeleteUserSessions(t *testing.T, st store.Store) {
	n, err := st.DeleteUserSessions(ctx(t), "ada@example.com")
	must(t, "DeleteUserSessions(none)", err)
	if n != 0 {
		t.Errorf("DeleteUserSessions(none) = %d", n)
	}
	for i := range 5 {
		email := "ada@example.com"
		if i%2 == 1 {
			email = "bob@example.com"
		}
		must(t, "CreateSession", st.CreateSession(ctx(t), store.Session{
			IDHash: fmt.Sprintf("%064x", i), Email: email, CreatedAt: base, Expires: base.Add(time.Hour),
		}))
	}
	n, err = st.DeleteUserSessions(ctx(t), "ada@example.com")
	must(t, "DeleteUserSessions", err)
	if n != 3 {
		t.Errorf("DeleteUserSessions = %d, want 3", n)
	}
	for i := range 5 {
		_, err := st.GetSession(ctx(t), fmt.Sprintf("%064x", i))
		if i%2 == 0 {
			wantErr(t, fmt.Sprintf("GetSession(ada's #%d)", i), err, store.ErrNotFound)
		} else if err != nil {
			t.Errorf("bob's session #%d: %v", i, err)
		}
	}
	n, err = st.DeleteUserSessions(ctx(t), "ada@example.com")
	must(t, "DeleteUserSessions(again)", err)
	if n != 0 {
		t.Errorf("DeleteUserSessions(again) = %d, want 0", n)
	}
}

func testListUserSessions(t *testing.T, st store.Store) {
	got, err := st.ListUserSessions(ctx(t), "ada@example.com")
	must(t, "ListUserSessions(none)", err)
	if len(got) != 0 {
		t.Errorf("ListUserSessions(none) = %+v", got)
	}
	// Created out of order, one of them expired, one of another user.
	want := []store.Session{
		{IDHash: fmt.Sprintf("%064x", 1), Email: "ada@example.com", CreatedAt: base.Add(-3 * time.Hour), Expires: base.Add(-time.Hour), UserAgent: "old phone"},
		{IDHash: fmt.Sprintf("%064x", 2), Email: "ada@example.com", CreatedAt: base.Add(-2 * time.Hour), Expires: base.Add(10 * time.Hour), LastSeen: base.Add(-time.Hour)},
		{IDHash: fmt.Sprintf("%064x", 3), Email: "ada@example.com", CreatedAt: base, Expires: base.Add(12 * time.Hour), UserAgent: "laptop"},
	}
	for _, i := range []int{2, 0, 1} {
		must(t, "CreateSession", st.CreateSession(ctx(t), want[i]))
	}
	must(t, "CreateSession(bob)", st.CreateSession(ctx(t), store.Session{
		IDHash: fmt.Sprintf("%064x", 4), Email: "bob@example.com", CreatedAt: base.Add(-4 * time.Hour), Expires: base.Add(time.Hour),
	}))
	got, err = st.ListUserSessions(ctx(t), "ada@example.com")
	must(t, "ListUserSessions", err)
	if !slices.Equal(got, want) {
		t.Errorf("ListUserSessions =\n%+v\nwant (sorted by CreatedAt)\n%+v", got, want)
	}
	must(t, "DeleteSession", st.DeleteSession(ctx(t), want[1].IDHash))
	got, err = st.ListUserSessions(ctx(t), "ada@example.com")
	must(t, "ListUserSessions(after delete)", err)
	if !slices.Equal(got, []store.Session{want[0], want[2]}) {
		t.Errorf("ListUserSessions after DeleteSession = %+v, want the other two", got)
	}
	if _, err := st.DeleteUserSessions(ctx(t), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err = st.ListUserSessions(ctx(t), "ada@example.com")
	must(t, "ListUserSessions(after delete all)", err)
	if len(got) != 0 {
		t.Errorf("ListUserSessions after DeleteUserSessions = %+v", got)
	}
	got, err = st.ListUserSessions(ctx(t), "bob@example.com")
	must(t, "ListUserSessions(bob)", err)
	if len(got) != 1 {
		t.Errorf("ListUserSessions(bob) = %+v, want his one session", got)
	}
}

func testTouchSession(t *testing.T, st store.Store) {
	s := store.Session{IDHash: fmt.Sprintf("%064x", 7), Email: "ada@example.com", CreatedAt: base, Expires: base.Add(12 * time.Hour), UserAgent: "laptop"}
	must(t, "CreateSession", st.CreateSession(ctx(t), s))
	seen := base.Add(7*time.Minute + 123*time.Millisecond)
	must(t, "TouchSession", st.TouchSession(ctx(t), s.IDHash, s.Email, seen))
	want := s
	want.LastSeen = seen
	got, err := st.GetSession(ctx(t), s.IDHash)
	must(t, "GetSession", err)
	if got != want {
		t.Errorf("GetSession after TouchSession = %+v, want %+v", got, want)
	}
	list, err := st.ListUserSessions(ctx(t), s.Email)
	must(t, "ListUserSessions", err)
	if !slices.Equal(list, []store.Session{want}) {
		t.Errorf("ListUserSessions after TouchSession = %+v, want [%+v]", list, want)
	}

	// Another user's email changes nothing.
	must(t, "TouchSession(other email)", st.TouchSession(ctx(t), s.IDHash, "bob@example.com", seen.Add(time.Hour)))
	if got, _ := st.GetSession(ctx(t), s.IDHash); got != want {
		t.Errorf("TouchSession with another email changed the session to %+v", got)
	}
	if list, _ := st.ListUserSessions(ctx(t), "bob@example.com"); len(list) != 0 {
		t.Errorf("TouchSession with another email created %+v", list)
	}
	// A deleted session is not brought back.
	must(t, "DeleteSession", st.DeleteSession(ctx(t), s.IDHash))
	must(t, "TouchSession(deleted)", st.TouchSession(ctx(t), s.IDHash, s.Email, seen.Add(time.Hour)))
	_, err = st.GetSession(ctx(t), s.IDHash)
	wantErr(t, "GetSession(touched after delete)", err, store.ErrNotFound)
	if list, _ := st.ListUserSessions(ctx(t), s.Email); len(list) != 0 {
		t.Errorf("TouchSession after DeleteSession left %+v", list)
	}
}

func testFailureWindow(t *testing.T, st store.Store) {
	const email, window = "ada@example.com", 15 * time.Minute
	count := func(now time.Time) int {
		t.Helper()
		n, err := st.Failures(ctx(t), email, now)
		must(t, "Failures", err)
		return n
	}
	record := func(now time.Time) int {
		t.Helper()
		n, err := st.RecordFailure(ctx(t), email, now, window)
		must(t, "RecordFailure", err)
		return n
	}
	if n := count(base); n != 0 {
		t.Fatalf("Failures(none) = %d", n)
	}
	for i := 1; i <= 3; i++ {
		if n := record(base.Add(time.Duration(i) * time.Minute)); n != i {
			t.Fatalf("RecordFailure #%d = %d", i, n)
		}
	}
	// The window started at the first failure (base+1m) and ends at base+16m.
	start := base.Add(time.Minute)
	if n := count(start.Add(window - time.Millisecond)); n != 3 {
		t.Errorf("Failures(last ms of window) = %d, want 3", n)
	}
	if n := count(start.Add(window)); n != 0 {
		t.Errorf("Failures(window end) = %d, want 0", n)
	}
	// A failure in the last millisecond counts in the old window; at the
	// end a new window starts at 1.
	if n := record(start.Add(window - time.Millisecond)); n != 4 {
		t.Errorf("RecordFailure(last ms) = %d, want 4", n)
	}
	if n := record(start.Add(window)); n != 1 {
		t.Errorf("RecordFailure(window end) = %d, want 1 (new window)", n)
	}
	if n := record(start.Add(window + time.Second)); n != 2 {
		t.Errorf("RecordFailure(new window) = %d, want 2", n)
	}
	must(t, "ResetFailures", st.ResetFailures(ctx(t), email))
	if n := count(start.Add(window + time.Second)); n != 0 {
		t.Errorf("Failures(after reset) = %d", n)
	}
	if n := record(start.Add(window + 2*time.Second)); n != 1 {
		t.Errorf("RecordFailure(after reset) = %d, want 1", n)
	}
	must(t, "ResetFailures(again)", st.ResetFailures(ctx(t), email))
	must(t, "ResetFailures(absent)", st.ResetFailures(ctx(t), email))
}

func testFailuresPerUser(t *testing.T, st store.Store) {
	for range 3 {
		if _, err := st.RecordFailure(ctx(t), "ada@example.com", base, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.RecordFailure(ctx(t), "bob@example.com", base, time.Minute)
	must(t, "RecordFailure(bob)", err)
	if n != 1 {
		t.Errorf("bob's first failure = %d, want 1", n)
	}
	must(t, "ResetFailures(bob)", st.ResetFailures(ctx(t), "bob@example.com"))
	if n, _ := st.Failures(ctx(t), "ada@example.com", base); n != 3 {
		t.Errorf("ada's failures after resetting bob = %d, want 3", n)
	}
	if _, err := st.RecordFailure(ctx(t), "ada@example.com", base, 0); err == nil {
		t.Error("RecordFailure with a zero window succeeded")
	}
}

// recordConcurrently makes Concurrency parallel RecordFailure calls at now
// and checks that they returned 1..Concurrency, each exactly once: every call
// was counted, none twice.
func recordConcurrently(t *testing.T, st store.Store, email string, now time.Time, window time.Duration) {
	t.Helper()
	counts := make([]int, Concurrency)
	errs := make([]error, Concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range Concurrency {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = st.RecordFailure(ctx(t), email, now, window)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("RecordFailure: %v", err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted counts returned = %v, want 1..%d", counts, Concurrency)
		}
	}
	n, err := st.Failures(ctx(t), email, now)
	must(t, "Failures", err)
	if n != Concurrency {
		t.Fatalf("Failures = %d after %d parallel failures", n, Concurrency)
	}
}

func testConcurrentFailures(t *testing.T, st store.Store) {
	recordConcurrently(t, st, "ada@example.com", base, 15*time.Minute)
}

func testConcurrentFailuresAcrossReset(t *testing.T, st store.Store) {
	// The old window has passed: every caller races to start the new one.
	for range 5 {
		if _, err := st.RecordFailure(ctx(t), "ada@example.com", base, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	recordConcurrently(t, st, "ada@example.com", base.Add(time.Hour), time.Minute)
}

func testEmptyKeys(t *testing.T, st store.Store) {
	checks := map[string]error{
		"CreateUser":    st.CreateUser(ctx(t), store.User{}),
		"PutUser":       st.PutUser(ctx(t), store.User{}),
		"PutCourse":     st.PutCourse(ctx(t), store.Course{Title: "x"}),
		"PutGrant":      st.PutGrant(ctx(t), store.Grant{Email: "a@b.c"}),
		"CreateSession": st.CreateSession(ctx(t), store.Session{Email: "a@b.c"}),
	}
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s with an empty key succeeded", name)
		}
	}
	_, err := st.RecordFailure(ctx(t), "", base, time.Minute)
	if err == nil {
		t.Error("RecordFailure with an empty email succeeded")
	}
	if _, err := st.RecordSourceFailure(ctx(t), "a@b.c", "", base, time.Minute); err == nil {
		t.Error("RecordSourceFailure with an empty source succeeded")
	}
	if _, err := st.RecordSourceFailure(ctx(t), "", "192.0.2.1", base, time.Minute); err == nil {
		t.Error("RecordSourceFailure with an empty email succeeded")
	}
	for _, k := range [][3]string{{"", "a@b.c", "c"}, {"h", "", "c"}, {"h", "a@b.c", ""}} {
		if _, err := st.GetSessionGrant(ctx(t), k[0], k[1], k[2]); err == nil {
			t.Errorf("GetSessionGrant%q succeeded", k)
		}
	}
	long := strings.Repeat("1", store.MaxSourceLen+1)
	if _, err := st.RecordSourceFailure(ctx(t), "a@b.c", long, base, time.Minute); err == nil {
		t.Error("RecordSourceFailure with a source over MaxSourceLen succeeded")
	}
}

// testSourceFailures: each source has its own window, apart from the
// account-wide counter and the other sources; ResetSourceFailures clears one
// source, ResetFailures every counter of the user and no other user's.
func testSourceFailures(t *testing.T, st store.Store) {
	const ada, bob = "ada@example.com", "bob@example.com"
	const src1, src2 = "192.0.2.1", "2001:db8:1:2::/64"
	window := time.Minute
	record := func(email, src string, now time.Time) int {
		t.Helper()
		n, err := st.RecordSourceFailure(ctx(t), email, src, now, window)
		must(t, "RecordSourceFailure", err)
		return n
	}
	count := func(email, src string, now time.Time) int {
		t.Helper()
		n, err := st.SourceFailures(ctx(t), email, src, now)
		must(t, "SourceFailures", err)
		return n
	}
	for i := 1; i <= 3; i++ {
		if n := record(ada, src1, base); n != i {
			t.Fatalf("RecordSourceFailure(ada, src1) #%d = %d", i, n)
		}
	}
	if n := record(ada, src2, base); n != 1 {
		t.Fatalf("RecordSourceFailure(ada, src2) = %d, want 1 (own counter)", n)
	}
	if n := record(bob, src1, base); n != 1 {
		t.Fatalf("RecordSourceFailure(bob, src1) = %d, want 1 (own counter)", n)
	}
	if n, err := st.Failures(ctx(t), ada, base); err != nil || n != 0 {
		t.Fatalf("account-wide Failures(ada) = %d, %v; want 0 (sources are apart)", n, err)
	}
	if _, err := st.RecordFailure(ctx(t), ada, base, window); err != nil {
		t.Fatal(err)
	}
	if n := count(ada, src1, base.Add(window-time.Millisecond)); n != 3 {
		t.Errorf("SourceFailures(last ms of window) = %d, want 3", n)
	}
	if n := count(ada, src1, base.Add(window)); n != 0 {
		t.Errorf("SourceFailures(window end) = %d, want 0", n)
	}
	if n := record(ada, src1, base.Add(window)); n != 1 {
		t.Errorf("RecordSourceFailure(window end) = %d, want 1 (new window)", n)
	}

	must(t, "ResetSourceFailures", st.ResetSourceFailures(ctx(t), ada, src1))
	if n := count(ada, src1, base.Add(window)); n != 0 {
		t.Errorf("SourceFailures(src1 after its reset) = %d", n)
	}
	if n := count(ada, src2, base); n != 1 {
		t.Errorf("SourceFailures(src2 after src1's reset) = %d, want 1", n)
	}
	must(t, "ResetSourceFailures(absent)", st.ResetSourceFailures(ctx(t), ada, src1))

	must(t, "ResetFailures", st.ResetFailures(ctx(t), ada))
	if n := count(ada, src2, base); n != 0 {
		t.Errorf("SourceFailures(src2 after ResetFailures) = %d", n)
	}
	if n, _ := st.Failures(ctx(t), ada, base); n != 0 {
		t.Errorf("Failures(after ResetFailures) = %d", n)
	}
	if n := count(bob, src1, base); n != 1 {
		t.Errorf("SourceFailures(bob) after ada's ResetFailures = %d, want 1", n)
	}
}

func testConcurrentSourceFailures(t *testing.T, st store.Store) {
	counts := make([]int, Concurrency)
	errs := make([]error, Concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range Concurrency {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = st.RecordSourceFailure(ctx(t), "ada@example.com", "192.0.2.7", base, time.Minute)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("RecordSourceFailure: %v", err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("sorted counts returned = %v, want 1..%d", counts, Concurrency)
		}
	}
}

// testForgiveFailure: one failure taken back from a current window; nothing
// below zero, nothing once the window has passed.
func testForgiveFailure(t *testing.T, st store.Store) {
	const ada = "ada@example.com"
	window := time.Minute
	must(t, "ForgiveFailure(no counter)", st.ForgiveFailure(ctx(t), ada, base))
	for range 2 {
		if _, err := st.RecordFailure(ctx(t), ada, base, window); err != nil {
			t.Fatal(err)
		}
	}
	must(t, "ForgiveFailure", st.ForgiveFailure(ctx(t), ada, base))
	if n, _ := st.Failures(ctx(t), ada, base); n != 1 {
		t.Fatalf("Failures after one forgiven of 2 = %d, want 1", n)
	}
	must(t, "ForgiveFailure", st.ForgiveFailure(ctx(t), ada, base))
	must(t, "ForgiveFailure(at zero)", st.ForgiveFailure(ctx(t), ada, base))
	if n, _ := st.Failures(ctx(t), ada, base); n != 0 {
		t.Fatalf("Failures after forgiving past zero = %d, want 0", n)
	}
	if n, _ := st.RecordFailure(ctx(t), ada, base, window); n != 1 {
		t.Fatalf("RecordFailure after forgiving to zero = %d, want 1", n)
	}
	must(t, "ForgiveFailure(window passed)", st.ForgiveFailure(ctx(t), ada, base.Add(window)))
	if n, _ := st.Failures(ctx(t), ada, base); n != 1 {
		t.Fatalf("Failures after forgiving in a passed window = %d, want 1", n)
	}
}
