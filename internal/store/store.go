// Package store defines cfgate's domain records (users, courses, grants,
// sessions, failed-login counters) and the Store interface that the login
// handler and the operator CLI use. Implementations live in subpackages:
// dynamo (one DynamoDB table, single-table design) and mem (embedded, for
// local use and tests). storetest holds the conformance suite both pass.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// NormalizeEmail is how every part of cfgate turns a typed email into the
// key of its account: surrounding space trimmed, lower case. The login
// handler and the admin CLI both call it, so an account the CLI creates is
// the one a login finds.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// UserRef is the pseudonymous name of an account in logs, metrics and error
// texts: the first 8 bytes of the SHA-256 of the normalised email, in hex.
// No log line, error or metric carries an email address; an operator who
// knows the email computes the same reference to find its lines.
func UserRef(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "user " + hex.EncodeToString(sum[:8])
}

// UserHash is UserRef without the "user " prefix: the value of the "user"
// field in the login function's logs and metrics.
func UserHash(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:8])
}

// Errors returned by every Store implementation. Callers test them with
// errors.Is; implementations wrap them with context.
var (
	// ErrNotFound means the record does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrExists means a create-only write found the record already present.
	ErrExists = errors.New("already exists")
	// ErrThrottled means the backend refused the call for capacity reasons;
	// the handler answers 503 and the caller may retry later.
	ErrThrottled = errors.New("throttled")
)

// User is a viewer account.
type User struct {
	Email        string // normalised: trimmed, lower case
	PasswordHash string // PHC-format argon2id hash, parameters included
	Disabled     bool
	CreatedAt    time.Time
}

// Course is an entry of the catalogue. Its ID is the path segment under
// /courses/ and must match ^[a-z0-9][a-z0-9-]{0,62}$.
type Course struct {
	ID    string
	Title string
}

// Grant says that a user may watch a course, until Expires when it is not zero.
type Grant struct {
	Email    string
	CourseID string
	Expires  time.Time // zero: no expiry
}

// Active reports whether the grant is in force at now.
func (g Grant) Active(now time.Time) bool {
	return g.Expires.IsZero() || now.Before(g.Expires)
}

// Session is a login session. Only the SHA-256 hash of the random session id
// is ever stored (IDHash, lower-case hex), so a leaked table grants nothing.
type Session struct {
	IDHash    string
	Email     string
	CreatedAt time.Time
	Expires   time.Time
	// UserAgent is the User-Agent of the login that created the session,
	// bounded and cleaned by the caller (see MaxUserAgentLen); shown to the
	// operator so that a viewer's devices can be told apart.
	UserAgent string
	// LastSeen is when the session was last used, coarsely: the handler
	// updates it (TouchSession) at most every few minutes. Zero: never
	// since it was created.
	LastSeen time.Time
}

// MaxUserAgentLen bounds Session.UserAgent in bytes.
const MaxUserAgentLen = 200

// Store is what cfgate needs from its database. Every method is safe for
// concurrent use. Reads of records that carry an expiry (sessions, grants)
// return them even when expired only if the backend has not removed them
// yet; callers check expiry themselves with their own clock.
type Store interface {
	// Users.
	GetUser(ctx context.Context, email string) (User, error)
	CreateUser(ctx context.Context, u User) error // ErrExists if present
	PutUser(ctx context.Context, u User) error    // create or replace
	// ReplacePasswordHash sets the user's password hash to newHash if it is
	// still oldHash, atomically and touching no other field (a rehash after
	// login must not undo an operator's concurrent change); ErrNotFound if
	// the user is gone or the hash has changed.
	ReplacePasswordHash(ctx context.Context, email, oldHash, newHash string) error

	// Catalogue.
	GetCourse(ctx context.Context, id string) (Course, error)
	PutCourse(ctx context.Context, c Course) error
	ListCourses(ctx context.Context) ([]Course, error) // sorted by ID

	// Grants.
	GetGrant(ctx context.Context, email, courseID string) (Grant, error)
	PutGrant(ctx context.Context, g Grant) error
	DeleteGrant(ctx context.Context, email, courseID string) error // no error if absent
	ListGrants(ctx context.Context, email string) ([]Grant, error) // sorted by CourseID

	// GetUserGrant returns a user and their grant on one course, read
	// together (one BatchGetItem on DynamoDB): what /access needs once it
	// has the session. ErrNotFound if the user does not exist; a user
	// without that grant gives granted == false and no error. The grant is
	// returned as stored, even if expired (see above). It calls ctx's
	// OnSent function once its request is under way.
	GetUserGrant(ctx context.Context, email, courseID string) (u User, g Grant, granted bool, err error)
	// GetSessionGrant reads the session idHash and, for the email the
	// caller expects that session to belong to, the user and their grant on
	// one course, all together (one BatchGetItem on DynamoDB): /access's
	// single round when the request names its user. The user and grant
	// are returned only when the session exists and belongs to email
	// (Matched); otherwise only the session is (if it exists), and the
	// caller reads the user and grant of the session's own email. The
	// grant is returned as stored, like the session, even if expired. It
	// calls ctx's OnSent function once its request is under way.
	GetSessionGrant(ctx context.Context, idHash, email, courseID string) (SessionGrant, error)

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, idHash string) (Session, error)
	DeleteSession(ctx context.Context, idHash string) error // no error if absent
	// DeleteUserSessions revokes every session of a user and returns how many.
	DeleteUserSessions(ctx context.Context, email string) (int, error)
	// ListUserSessions returns the sessions of a user, sorted by CreatedAt
	// (then IDHash); expired ones too until the backend removes them.
	ListUserSessions(ctx context.Context, email string) ([]Session, error)
	// TouchSession sets the LastSeen of the session idHash to at, if the
	// session exists and belongs to email; otherwise it does nothing.
	TouchSession(ctx context.Context, idHash, email string, at time.Time) error

	// Failed-login counting, for lockout. Each user has one account-wide
	// counter and one counter per source (the address, or address block, the
	// attempts came from). A counter's window starts at its first failure and
	// lasts window long; N concurrent calls are counted exactly N times.
	//
	// RecordFailure atomically adds one failure to the user's account-wide
	// counter and returns its count in the current window.
	RecordFailure(ctx context.Context, email string, now time.Time, window time.Duration) (int, error)
	// Failures returns the account-wide count in the window that is current
	// at now (0 if none or it has passed).
	Failures(ctx context.Context, email string, now time.Time) (int, error)
	// ForgiveFailure atomically takes one failure back from the account-wide
	// counter if its window is still current at now and its count is
	// positive (a login counted first that then succeeded); otherwise it
	// does nothing.
	ForgiveFailure(ctx context.Context, email string, now time.Time) error
	// RecordSourceFailure is RecordFailure on the counter of one source
	// (non-empty, at most MaxSourceLen bytes).
	RecordSourceFailure(ctx context.Context, email, source string, now time.Time, window time.Duration) (int, error)
	// SourceFailures is Failures on the counter of one source.
	SourceFailures(ctx context.Context, email, source string, now time.Time) (int, error)
	// ResetSourceFailures clears the counter of one source (after a
	// successful login from it).
	ResetSourceFailures(ctx context.Context, email, source string) error
	// ResetFailures clears every counter of the user: the account-wide one
	// and those of every source (an operator's unlock).
	ResetFailures(ctx context.Context, email string) error
}

// SessionGrant is what GetSessionGrant read.
type SessionGrant struct {
	Session      Session
	SessionFound bool // the session exists
	// Matched: the session exists and belongs to the email asked for; only
	// then are the fields below set.
	Matched   bool
	User      User
	UserFound bool
	Grant     Grant
	Granted   bool // the user holds a grant (active or not) on the course
}

// MaxSourceLen bounds the source of a failure counter (an IPv6 address with
// a prefix length fits in 50 bytes).
const MaxSourceLen = 64

// NeedKey is the stores' check of a key part: what must not be empty.
func NeedKey(what, v string) error {
	if v == "" {
		return fmt.Errorf("empty %s", what)
	}
	return nil
}

// CheckSource is the stores' check of a failure counter's key: an email
// and a non-empty source of at most MaxSourceLen bytes.
func CheckSource(email, source string) error {
	if err := NeedKey("email", email); err != nil {
		return err
	}
	if err := NeedKey("source", source); err != nil {
		return err
	}
	if len(source) > MaxSourceLen {
		return fmt.Errorf("source longer than %d bytes", MaxSourceLen)
	}
	return nil
}

// SortSessions sorts sessions as ListUserSessions returns them: by
// CreatedAt, then IDHash.
func SortSessions(ss []Session) {
	slices.SortFunc(ss, func(a, b Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.IDHash, b.IDHash)
	})
}
