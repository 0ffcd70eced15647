// Package mem is the embedded implementation of store.Store: maps behind a
// mutex, optionally persisted to a JSON file so that the operator CLI
// (`go run ./functions/login/admin --local FILE …`) and the local
// distribution can share one store without a database server.
//
// It has the same semantics as the DynamoDB implementation (package
// store/dynamo), checked by the same conformance suite (store/storetest):
// times are kept to the millisecond in UTC, expired sessions and grants are
// returned until removed (callers check expiry), and failure counting is
// atomic.
package mem

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// Store is an in-memory store.Store, safe for concurrent use.
type Store struct {
	mu   sync.Mutex
	d    data
	file *fileState // nil: memory only
	// volatile holds, for a file-backed store, the failure counters of
	// emails that have no account: counted the same way (so 429 reveals
	// nothing), but never written to the file, so that attempts with
	// random emails neither grow the file nor cost a rewrite of it.
	// They are lost on a restart, which locally is harmless.
	volatile map[string]failures
	// pruneAt is the size of volatile at which its expired windows are
	// dropped next (amortised: doubled after each pass).
	pruneAt int
}

// minPruneAt is the smallest pruneAt.
const minPruneAt = 1024

// pruneAfter is how long after its window ended a failure counter is
// dropped: later than any caller still reading at a slightly earlier time
// (another process's clock, a test's), as DynamoDB's TTL deletes an
// expired item only some time after it expired.
const pruneAfter = time.Hour

// data is everything the store holds.
type data struct {
	Users    map[string]store.User
	Courses  map[string]store.Course
	Grants   map[string]map[string]store.Grant // email → course id → grant
	Sessions map[string]store.Session
	// Failures are the failed-login counters: the account-wide one under
	// the email, a source's under sourceKey(email, source).
	Failures map[string]failures
}

// failures is one user's failed-login window.
type failures struct {
	Count int
	Start time.Time
	End   time.Time // the window is current while now < End
}

var _ store.Store = (*Store)(nil)

// New returns an empty store that lives in memory only.
func New() *Store {
	return &Store{d: newData()}
}

func newData() data {
	return data{
		Users:    map[string]store.User{},
		Courses:  map[string]store.Course{},
		Grants:   map[string]map[string]store.Grant{},
		Sessions: map[string]store.Session{},
		Failures: map[string]failures{},
	}
}

// ms normalises a time as the DynamoDB store keeps it: UTC, millisecond
// precision, no monotonic reading; the zero time stays zero.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// view runs f under the lock after picking up changes to the backing file.
func (s *Store) view(f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(); err != nil {
		return err
	}
	return f()
}

// update is view for mutations: when f succeeds and changed reports true,
// the backing file is rewritten before update returns (see persist: changes
// made while a write is under way share the next one). If the write fails
// the in-memory state is rolled back to the last saved state, and every
// change it carried reports the error.
func (s *Store) update(f func() (changed bool, err error)) error {
	s.mu.Lock()
	if err := s.reloadLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	changed, err := f()
	if err != nil || !changed || s.file == nil {
		s.mu.Unlock()
		return err
	}
	s.file.gen++
	gen := s.file.gen
	s.mu.Unlock()
	return s.persist(gen)
}

// GetUser implements store.Store.
func (s *Store) GetUser(_ context.Context, email string) (store.User, error) {
	var u store.User
	err := s.view(func() error {
		var ok bool
		if u, ok = s.d.Users[email]; !ok {
			return fmt.Errorf("get %s: %w", store.UserRef(email), store.ErrNotFound)
		}
		return nil
	})
	return u, err
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(_ context.Context, u store.User) error {
	if err := store.NeedKey("email", u.Email); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return s.update(func() (bool, error) {
		if _, ok := s.d.Users[u.Email]; ok {
			return false, fmt.Errorf("create %s: %w", store.UserRef(u.Email), store.ErrExists)
		}
		u.CreatedAt = ms(u.CreatedAt)
		s.d.Users[u.Email] = u
		return true, nil
	})
}

// PutUser implements store.Store.
func (s *Store) PutUser(_ context.Context, u store.User) error {
	if err := store.NeedKey("email", u.Email); err != nil {
		return fmt.Errorf("put user: %w", err)
	}
	return s.update(func() (bool, error) {
		u.CreatedAt = ms(u.CreatedAt)
		s.d.Users[u.Email] = u
		return true, nil
	})
}

// ReplacePasswordHash implements store.Store.
func (s *Store) ReplacePasswordHash(_ context.Context, email, oldHash, newHash string) error {
	if err := store.NeedKey("email", email); err != nil {
		return fmt.Errorf("replace password hash: %w", err)
	}
	if newHash == "" {
		return errors.New("replace password hash: empty hash")
	}
	return s.update(func() (bool, error) {
		u, ok := s.d.Users[email]
		if !ok || u.PasswordHash != oldHash {
			return false, fmt.Errorf("replace password hash of %s: %w", store.UserRef(email), store.ErrNotFound)
		}
		u.PasswordHash = newHash
		s.d.Users[email] = u
		return true, nil
	})
}

// GetCourse implements store.Store.
func (s *Store) GetCourse(_ context.Context, id string) (store.Course, error) {
	var c store.Course
	err := s.view(func() error {
		var ok bool
		if c, ok = s.d.Courses[id]; !ok {
			return fmt.Errorf("get course %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
	return c, err
}

// PutCourse implements store.Store.
func (s *Store) PutCourse(_ context.Context, c store.Course) error {
	if err := store.NeedKey("course id", c.ID); err != nil {
		return fmt.Errorf("put course: %w", err)
	}
	return s.update(func() (bool, error) {
		s.d.Courses[c.ID] = c
		return true, nil
	})
}

// ListCourses implements store.Store.
func (s *Store) ListCourses(context.Context) ([]store.Course, error) {
	var out []store.Course
	err := s.view(func() error {
		out = slices.SortedFunc(maps.Values(s.d.Courses), func(a, b store.Course) int { return cmp.Compare(a.ID, b.ID) })
		if out == nil {
			out = []store.Course{} // as the DynamoDB store: empty, not nil
		}
		return nil
	})
	return out, err
}

// GetGrant implements store.Store.
func (s *Store) GetGrant(_ context.Context, email, courseID string) (store.Grant, error) {
	var g store.Grant
	err := s.view(func() error {
		var ok bool
		if g, ok = s.d.Grants[email][courseID]; !ok {
			return fmt.Errorf("get grant %s → %q: %w", store.UserRef(email), courseID, store.ErrNotFound)
		}
		return nil
	})
	return g, err
}

// GetUserGrant implements store.Store.
func (s *Store) GetUserGrant(ctx context.Context, email, courseID string) (u store.User, g store.Grant, granted bool, err error) {
	store.Sent(ctx) // an in-process read is under way as soon as it is asked for
	err = s.view(func() error {
		var ok bool
		if u, ok = s.d.Users[email]; !ok {
			return fmt.Errorf("get %s: %w", store.UserRef(email), store.ErrNotFound)
		}
		g, granted = s.d.Grants[email][courseID]
		return nil
	})
	return u, g, granted, err
}

// GetSessionGrant implements store.Store: one read under the store's lock.
func (s *Store) GetSessionGrant(ctx context.Context, idHash, email, courseID string) (store.SessionGrant, error) {
	var r store.SessionGrant
	if err := errors.Join(store.NeedKey("session", idHash), store.NeedKey("email", email), store.NeedKey("course id", courseID)); err != nil {
		return r, fmt.Errorf("get session, user and grant: %w", err)
	}
	store.Sent(ctx) // as GetUserGrant
	err := s.view(func() error {
		r.Session, r.SessionFound = s.d.Sessions[idHash]
		if !r.SessionFound || r.Session.Email != email {
			return nil
		}
		r.Matched = true
		r.User, r.UserFound = s.d.Users[email]
		r.Grant, r.Granted = s.d.Grants[email][courseID]
		return nil
	})
	return r, err
}

// PutGrant implements store.Store.
func (s *Store) PutGrant(_ context.Context, g store.Grant) error {
	if err := errors.Join(store.NeedKey("email", g.Email), store.NeedKey("course id", g.CourseID)); err != nil {
		return fmt.Errorf("put grant: %w", err)
	}
	return s.update(func() (bool, error) {
		m := s.d.Grants[g.Email]
		if m == nil {
			m = map[string]store.Grant{}
			s.d.Grants[g.Email] = m
		}
		g.Expires = ms(g.Expires)
		m[g.CourseID] = g
		return true, nil
	})
}

// DeleteGrant implements store.Store.
func (s *Store) DeleteGrant(_ context.Context, email, courseID string) error {
	return s.update(func() (bool, error) {
		m := s.d.Grants[email]
		if _, ok := m[courseID]; !ok {
			return false, nil
		}
		delete(m, courseID)
		if len(m) == 0 {
			delete(s.d.Grants, email)
		}
		return true, nil
	})
}

// ListGrants implements store.Store.
func (s *Store) ListGrants(_ context.Context, email string) ([]store.Grant, error) {
	var out []store.Grant
	err := s.view(func() error {
		out = slices.SortedFunc(maps.Values(s.d.Grants[email]), func(a, b store.Grant) int { return cmp.Compare(a.CourseID, b.CourseID) })
		if out == nil {
			out = []store.Grant{}
		}
		return nil
	})
	return out, err
}

// CreateSession implements store.Store. It also drops sessions that expired
// before the new one was created (DynamoDB's TTL does the same in the other
// implementation), so a long-running local store does not grow without bound.
func (s *Store) CreateSession(_ context.Context, sess store.Session) error {
	if err := errors.Join(store.NeedKey("session id hash", sess.IDHash), store.NeedKey("email", sess.Email)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return s.update(func() (bool, error) {
		if _, ok := s.d.Sessions[sess.IDHash]; ok {
			return false, fmt.Errorf("create session: %w", store.ErrExists)
		}
		if !sess.CreatedAt.IsZero() {
			for k, old := range s.d.Sessions {
				if !old.Expires.IsZero() && old.Expires.Before(sess.CreatedAt) {
					delete(s.d.Sessions, k)
				}
			}
		}
		sess.CreatedAt, sess.Expires, sess.LastSeen = ms(sess.CreatedAt), ms(sess.Expires), ms(sess.LastSeen)
		s.d.Sessions[sess.IDHash] = sess
		return true, nil
	})
}

// GetSession implements store.Store.
func (s *Store) GetSession(_ context.Context, idHash string) (store.Session, error) {
	var sess store.Session
	err := s.view(func() error {
		var ok bool
		if sess, ok = s.d.Sessions[idHash]; !ok {
			// The id hash is not a secret, but it is not logged either.
			return fmt.Errorf("get session: %w", store.ErrNotFound)
		}
		return nil
	})
	return sess, err
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(_ context.Context, idHash string) error {
	return s.update(func() (bool, error) {
		if _, ok := s.d.Sessions[idHash]; !ok {
			return false, nil
		}
		delete(s.d.Sessions, idHash)
		return true, nil
	})
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(_ context.Context, email string) (int, error) {
	n := 0
	err := s.update(func() (bool, error) {
		for k, sess := range s.d.Sessions {
			if sess.Email == email {
				delete(s.d.Sessions, k)
				n++
			}
		}
		return n > 0, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(_ context.Context, email string) ([]store.Session, error) {
	var out []store.Session
	err := s.view(func() error {
		for _, sess := range s.d.Sessions {
			if sess.Email == email {
				out = append(out, sess)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.SortSessions(out)
	return out, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(_ context.Context, idHash, email string, at time.Time) error {
	return s.update(func() (bool, error) {
		sess, ok := s.d.Sessions[idHash]
		if !ok || sess.Email != email {
			return false, nil
		}
		sess.LastSeen = ms(at)
		s.d.Sessions[idHash] = sess
		return true, nil
	})
}

// sourceKey is the key of a source's counter in data.Failures (an email
// holds no NUL: the API refuses control characters in emails).
func sourceKey(email, source string) string { return email + "\x00" + source }

// RecordFailure implements store.Store.
func (s *Store) RecordFailure(_ context.Context, email string, now time.Time, window time.Duration) (int, error) {
	if err := store.NeedKey("email", email); err != nil {
		return 0, fmt.Errorf("record failure: %w", err)
	}
	return s.recordFailure(email, now, window)
}

// RecordSourceFailure implements store.Store.
func (s *Store) RecordSourceFailure(_ context.Context, email, source string, now time.Time, window time.Duration) (int, error) {
	if err := store.CheckSource(email, source); err != nil {
		return 0, fmt.Errorf("record failure: %w", err)
	}
	return s.recordFailure(sourceKey(email, source), now, window)
}

func (s *Store) recordFailure(k string, now time.Time, window time.Duration) (int, error) {
	if window < time.Millisecond {
		return 0, fmt.Errorf("record failure: window %v shorter than 1ms", window)
	}
	now = ms(now)
	count := func(m map[string]failures) int {
		f, ok := m[k]
		if !ok || !now.Before(f.End) {
			f = failures{Start: now, End: ms(now.Add(window))}
		}
		f.Count++
		m[k] = f
		return f.Count
	}
	var n int
	err := s.update(func() (bool, error) {
		if s.isVolatileLocked(k) {
			n = count(s.volatile)
			s.pruneVolatileLocked(now)
			return false, nil // nothing for the file
		}
		// Every write rewrites the file: drop the windows that have
		// passed, so the file holds only current counters.
		for key, f := range s.d.Failures {
			if !now.Before(f.End.Add(pruneAfter)) && key != k {
				delete(s.d.Failures, key)
			}
		}
		n = count(s.d.Failures)
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// isVolatileLocked reports whether the counter k (an email, or a source
// key) belongs in volatile: a file-backed store, and no account for the
// email. A counter already in the file stays there.
func (s *Store) isVolatileLocked(k string) bool {
	if s.file == nil {
		return false
	}
	if _, ok := s.d.Failures[k]; ok {
		return false
	}
	email, _, _ := strings.Cut(k, "\x00")
	if _, ok := s.d.Users[email]; ok {
		return false
	}
	if s.volatile == nil {
		s.volatile = map[string]failures{}
	}
	return true
}

// pruneVolatileLocked drops volatile's passed windows once it has grown to
// pruneAt, then sets pruneAt to twice what is left (at least minPruneAt):
// linear work spread over as many inserts, so each stays O(1) on average.
func (s *Store) pruneVolatileLocked(now time.Time) {
	if len(s.volatile) < max(s.pruneAt, minPruneAt) {
		return
	}
	for k, f := range s.volatile {
		if !now.Before(f.End.Add(pruneAfter)) {
			delete(s.volatile, k)
		}
	}
	s.pruneAt = max(2*len(s.volatile), minPruneAt)
}

// counterLocked returns the counter k from the file's map or volatile.
func (s *Store) counterLocked(k string) (failures, bool) {
	if f, ok := s.d.Failures[k]; ok {
		return f, true
	}
	f, ok := s.volatile[k]
	return f, ok
}

// ForgiveFailure implements store.Store.
func (s *Store) ForgiveFailure(_ context.Context, email string, now time.Time) error {
	if err := store.NeedKey("email", email); err != nil {
		return fmt.Errorf("forgive failure: %w", err)
	}
	now = ms(now)
	return s.update(func() (bool, error) {
		if f, ok := s.volatile[email]; ok {
			if now.Before(f.End) && f.Count > 0 {
				f.Count--
				s.volatile[email] = f
			}
			return false, nil
		}
		f, ok := s.d.Failures[email]
		if !ok || !now.Before(f.End) || f.Count <= 0 {
			return false, nil
		}
		f.Count--
		s.d.Failures[email] = f
		return true, nil
	})
}

// Failures implements store.Store.
func (s *Store) Failures(_ context.Context, email string, now time.Time) (int, error) {
	return s.failures(email, now)
}

// SourceFailures implements store.Store.
func (s *Store) SourceFailures(_ context.Context, email, source string, now time.Time) (int, error) {
	if err := store.CheckSource(email, source); err != nil {
		return 0, fmt.Errorf("failures: %w", err)
	}
	return s.failures(sourceKey(email, source), now)
}

func (s *Store) failures(k string, now time.Time) (int, error) {
	now = ms(now)
	var n int
	err := s.view(func() error {
		if f, ok := s.counterLocked(k); ok && now.Before(f.End) {
			n = f.Count
		}
		return nil
	})
	return n, err
}

// ResetSourceFailures implements store.Store.
func (s *Store) ResetSourceFailures(_ context.Context, email, source string) error {
	if err := store.CheckSource(email, source); err != nil {
		return fmt.Errorf("reset failures: %w", err)
	}
	k := sourceKey(email, source)
	return s.update(func() (bool, error) {
		delete(s.volatile, k)
		if _, ok := s.d.Failures[k]; !ok {
			return false, nil
		}
		delete(s.d.Failures, k)
		return true, nil
	})
}

// ResetFailures implements store.Store.
func (s *Store) ResetFailures(_ context.Context, email string) error {
	return s.update(func() (bool, error) {
		for k := range s.volatile {
			if k == email || strings.HasPrefix(k, email+"\x00") {
				delete(s.volatile, k)
			}
		}
		changed := false
		for k := range s.d.Failures {
			if k == email || strings.HasPrefix(k, email+"\x00") {
				delete(s.d.Failures, k)
				changed = true
			}
		}
		return changed, nil
	})
}
