package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// sessionTokenLen is the length of a session cookie value: 32 random bytes
// (256 bits) in unpadded base64url.
const sessionTokenLen = 43

// newSessionToken returns a fresh session cookie value and the hash that the
// store keeps.
func newSessionToken() (token, idHash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

// hashToken is the stored form of a session cookie value: the lower-case hex
// SHA-256 of the value as sent.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validToken reports whether v has the shape of a session token, so forged
// values are refused without a store lookup.
func validToken(v string) bool {
	if len(v) != sessionTokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == 32
}

func (h *Handler) sessionCookie(token string, maxAge int) *http.Cookie {
	return h.apiCookie(SessionCookie, token, maxAge)
}

// apiCookie is a cookie of the API's own (the session and its user hint):
// sent only to /api/, never to scripts or other sites.
func (h *Handler) apiCookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/api/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   !h.cfg.InsecureCookies,
		SameSite: http.SameSiteStrictMode,
	}
}

// sessionToken returns the request's session cookie value ("" if absent).
func sessionToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// currentSession returns the live session of the request, or a 401 failure
// (no, malformed, unknown or expired session).
func (h *Handler) currentSession(ctx context.Context, r *http.Request, now time.Time) (store.Session, error) {
	token, err := requestToken(r)
	if err != nil {
		return store.Session{}, err
	}
	return h.tokenSession(ctx, token, now)
}

// tokenSession is currentSession for a token already checked by
// requestToken.
func (h *Handler) tokenSession(ctx context.Context, token string, now time.Time) (store.Session, error) {
	s, err := h.store.GetSession(ctx, hashToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Session{}, fail(kindUnauthorized, "unknown_session", "")
	case err != nil:
		return store.Session{}, internal("store_error", err, "get session")
	}
	return liveSession(s, now)
}

// requestToken returns the request's session token, or a 401 failure when
// it has none or one of the wrong shape (refused without a store lookup).
func requestToken(r *http.Request) (string, error) {
	token := sessionToken(r)
	if token == "" {
		return "", fail(kindUnauthorized, "no_session", "")
	}
	if !validToken(token) {
		return "", fail(kindUnauthorized, "malformed_session", "")
	}
	return token, nil
}

// liveSession returns s, or a 401 failure if it has expired at now.
func liveSession(s store.Session, now time.Time) (store.Session, error) {
	if !now.Before(s.Expires) {
		return store.Session{}, fail(kindUnauthorized, "session_expired", "")
	}
	return s, nil
}

// sessionUser is currentSession plus the session's user, who must still
// exist. A disabled user is refused with disabledKind: 401 where the
// session is being checked (GET /session signs them out), 403 where an
// action is refused (/access).
func (h *Handler) sessionUser(ctx context.Context, r *http.Request, req *request, now time.Time, disabledKind kind, disabledText string) (store.Session, error) {
	s, err := h.currentSession(ctx, r, now)
	if err != nil {
		return store.Session{}, err
	}
	req.user = userHash(s.Email)
	h.touch(ctx, req, s, now)
	u, err := h.store.GetUser(ctx, s.Email)
	if err := checkUser(u, err, disabledKind, disabledText); err != nil {
		return store.Session{}, err
	}
	return s, nil
}

// checkUser turns the read of a session's user into a failure: gone (401),
// unreadable (500) or disabled (disabledKind).
func checkUser(u store.User, err error, disabledKind kind, disabledText string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(kindUnauthorized, "unknown_user", "")
	case err != nil:
		return internal("store_error", err, "get user")
	case u.Disabled:
		return fail(disabledKind, "user_disabled", disabledText)
	}
	return nil
}

// touch updates the session's LastSeen when it is TouchInterval old or more
// (never seen: its CreatedAt), in a goroutine that runs alongside the
// request's remaining store work, never as one more round trip in a row;
// req.joinTouch waits for it. A failure is logged and otherwise ignored.
func (h *Handler) touch(ctx context.Context, req *request, s store.Session, now time.Time) {
	seen := s.LastSeen
	if seen.IsZero() {
		seen = s.CreatedAt
	}
	if now.Sub(seen) < TouchInterval || req.touched != nil {
		return
	}
	done := make(chan struct{})
	req.touched = done
	user := req.user
	go func() {
		defer close(done)
		if err := h.store.TouchSession(ctx, s.IDHash, s.Email, now); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "update session last seen",
				slog.String("user", user), slog.String("error", err.Error()))
		}
	}()
}

// courseJSON is a course in the login and session answers.
type courseJSON struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type sessionBody struct {
	Email   string       `json:"email"`
	Courses []courseJSON `json:"courses"`
}

// courses lists the courses that email may watch at now: active grants on
// courses in the catalogue, sorted by id. The grants and, when the copy is
// stale, the catalogue are read in one round.
func (h *Handler) courses(ctx context.Context, email string, now time.Time) ([]courseJSON, error) {
	var (
		wg     sync.WaitGroup
		catErr error
	)
	cat, fresh := h.cat.cached(now)
	if !fresh {
		wg.Go(func() { cat, catErr = h.cat.load(ctx, now) })
	}
	grants, err := h.store.ListGrants(ctx, email)
	wg.Wait()
	if err != nil {
		return nil, internal("store_error", err, "list grants")
	}
	if catErr != nil {
		return nil, internal("store_error", catErr, "list courses")
	}
	out := make([]courseJSON, 0, len(grants))
	for _, g := range grants {
		if !g.Active(now) {
			continue
		}
		c, ok := cat[g.CourseID]
		if !ok {
			continue // a grant on a course removed from the catalogue
		}
		out = append(out, courseJSON{ID: c.ID, Title: c.Title})
	}
	return out, nil
}

// session answers GET /api/session.
func (h *Handler) session(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx, now := r.Context(), h.now()
	// A disabled account is signed out everywhere it asks.
	s, err := h.sessionUser(ctx, r, req, now, kindUnauthorized, "")
	if err != nil {
		return err
	}
	courses, err := h.courses(ctx, s.Email, now)
	if err != nil {
		return err
	}
	req.joinTouch()
	// A session without a hint that opens (one from before hints, or a
	// cookie the browser lost) gets one: the player asks here first.
	if token := sessionToken(r); userHint(r, token) != s.Email {
		h.setUserHint(w, token, s.Email, s.Expires, now)
	}
	writeJSON(w, http.StatusOK, sessionBody{Email: s.Email, Courses: courses})
	return nil
}

// maxLogoutCourses bounds the CloudFront cookies expired at logout (four
// Set-Cookie lines per course).
const maxLogoutCourses = 100

// logout answers POST /api/logout: the session is deleted server-side, and
// the session cookie is expired and, with a valid session, the CloudFront
// cookies of the courses the user holds grants for (up to maxLogoutCourses);
// nothing else, and no store query without a valid session token.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	var (
		ids    []string
		seen   = map[string]bool{}
		delErr error
	)
	add := func(id string) {
		if !seen[id] && len(ids) < maxLogoutCourses {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if token := sessionToken(r); validToken(token) {
		idHash := hashToken(token)
		if s, err := h.store.GetSession(ctx, idHash); err == nil {
			req.user = userHash(s.Email)
			if grants, err := h.store.ListGrants(ctx, s.Email); err == nil {
				for _, g := range grants {
					add(g.CourseID)
				}
			}
		}
		if err := h.store.DeleteSession(ctx, idHash); err != nil {
			delErr = internal("store_error", err, "delete session")
		}
	}
	// Only the courses of the session's own grants: without a valid session
	// there is nobody to log out but the session cookie, and a list of the
	// catalogue (unreleased courses included) would tell anyone what it holds.
	// Cookies are expired even when the server-side delete failed: the
	// browser forgets them either way.
	http.SetCookie(w, h.sessionCookie("", -1))
	http.SetCookie(w, h.apiCookie(UserHintCookie, "", -1))
	for _, id := range ids {
		for _, c := range h.issuer.Expired(id) {
			http.SetCookie(w, c)
		}
	}
	if delErr != nil {
		return delErr
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "logout", slog.String("user", req.user))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
