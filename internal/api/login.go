package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
)

type loginBody struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

// maxEmailLen is the longest address accepted (RFC 5321 path limit).
const maxEmailLen = 254

// badCredentials is the one answer for unknown user, disabled user and
// wrong password.
func badCredentials(reason string) error {
	return fail(kindUnauthorized, reason, "invalid email or password")
}

// login answers POST /api/login.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, req *request) error {
	var body loginBody
	if err := decodeStrict(req.body, &body); err != nil {
		return err
	}
	if body.Email == nil || body.Password == nil {
		return fail(kindInvalid, "missing_field", "email and password are required")
	}
	email := store.NormalizeEmail(*body.Email)
	pw := *body.Password
	if email == "" || len(email) > maxEmailLen || !strings.Contains(email, "@") || strings.ContainsFunc(email, unicode.IsControl) {
		return fail(kindInvalid, "bad_email", "invalid email")
	}
	if pw == "" || len(pw) > password.MaxPasswordLen {
		return fail(kindInvalid, "bad_password", "invalid password")
	}
	req.user = userHash(email)
	ctx, now := r.Context(), h.now()

	// Lockout, before any password work, in two counters: one for this
	// email from this source (the viewer's address), one for the email from
	// all sources. Every attempt is counted first, atomically, as if it
	// failed, which closes the race in which N parallel attempts all read a
	// count under the threshold and all get a password verification. The
	// user is read beside the first count, so the counting costs no round
	// trip of its own before the password work; the two counts stay in
	// order (a source past its threshold is not counted account-wide).
	//
	// 1. Past LockoutThreshold from this source: 429 for this source only,
	//    the right password too, until its window passes. Such refused
	//    attempts are not counted account-wide, so that one source cannot
	//    lock the account for everyone.
	var (
		wg      sync.WaitGroup
		u       store.User
		userErr error
	)
	wg.Go(func() { u, userErr = h.store.GetUser(ctx, email) })
	n, err := h.store.RecordSourceFailure(ctx, email, req.source, now, h.cfg.LockoutWindow)
	wg.Wait()
	if err != nil {
		return internal("store_error", err, "record attempt")
	}
	if n > h.cfg.LockoutThreshold {
		return fail(kindLocked, "locked_out", "")
	}
	// 2. Past LockoutAccountThreshold from all sources: 429 for every
	//    source for the rest of the account-wide window. A success takes
	//    its attempt back (ForgiveFailure), so only failures add up.
	n, err = h.store.RecordFailure(ctx, email, now, h.cfg.LockoutWindow)
	if err != nil {
		return internal("store_error", err, "record attempt")
	}
	if n > h.cfg.LockoutAccountThreshold {
		return fail(kindLocked, "locked_out_account", "")
	}

	// Password work (the check, and a rehash after a success), at most
	// PasswordConcurrency at once (see passwordSlots); the slot is released
	// before the store writes that follow.
	release, err := h.pwSlots.acquire(ctx, h.cfg.PasswordWait)
	if err != nil {
		return err
	}
	reason, err := func() (string, error) {
		defer release()
		reason, err := h.checkPassword(ctx, req, u, userErr, pw)
		if err == nil && reason == "" {
			h.rehash(ctx, u, pw, req.user)
		}
		return reason, err
	}()
	if err != nil {
		return err
	}
	if reason != "" {
		// The attempt stays counted. Unknown accounts are counted too, so
		// that 429 does not tell which accounts exist.
		return badCredentials(reason)
	}

	// After the password, in one round: reset this source's counter, take
	// the attempt back account-wide, create the session (two sequential
	// writes), list the courses and delete a replaced session.
	token, idHash := newSessionToken()
	var (
		courses                                  []courseJSON
		resetErr, forgiveErr, createErr, listErr error
	)
	wg.Go(func() { resetErr = h.store.ResetSourceFailures(ctx, email, req.source) })
	wg.Go(func() { forgiveErr = h.store.ForgiveFailure(ctx, email, now) })
	wg.Go(func() { courses, listErr = h.courses(ctx, email, now) })
	// A session presented with the login is replaced, not kept alive.
	oldHash := ""
	if old := sessionToken(r); validToken(old) {
		oldHash = hashToken(old)
		wg.Go(func() {
			if err := h.store.DeleteSession(ctx, oldHash); err != nil {
				h.log.LogAttrs(ctx, slog.LevelWarn, "delete previous session", slog.String("error", err.Error()))
			}
		})
	}
	createErr = h.store.CreateSession(ctx, store.Session{
		IDHash: idHash, Email: email, CreatedAt: now, Expires: now.Add(h.cfg.SessionTTL),
		UserAgent: cleanUserAgent(r.UserAgent()),
	})
	wg.Wait()
	switch {
	case resetErr != nil:
		return internal("store_error", resetErr, "reset failures")
	case forgiveErr != nil:
		return internal("store_error", forgiveErr, "forgive attempt")
	case listErr != nil:
		return listErr
	case createErr != nil:
		return internal("store_error", createErr, "create session")
	}
	// Then, once the session exists (so that concurrent logins of one
	// account see each other's), one more round: the account's sessions,
	// and the revocation of the oldest past MaxSessions.
	if err := h.limitSessions(ctx, email, idHash, oldHash, now, req.user); err != nil {
		// Without the limit enforced the new session is not handed out.
		if derr := h.store.DeleteSession(ctx, idHash); derr != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "delete unlimited session", slog.String("user", req.user), slog.String("error", derr.Error()))
		}
		return err
	}
	http.SetCookie(w, h.sessionCookie(token, int(h.cfg.SessionTTL/time.Second)))
	h.setUserHint(w, token, email, now.Add(h.cfg.SessionTTL), now)
	h.log.LogAttrs(ctx, slog.LevelInfo, "login", slog.String("user", req.user), slog.Int("courses", len(courses)))
	writeJSON(w, http.StatusOK, sessionBody{Email: email, Courses: courses})
	return nil
}

// limitSessions revokes the oldest active sessions of email until, with the
// new session newHash, at most MaxSessions remain. Expired sessions do not
// count (the store's TTL removes them); neither does replaced, the session
// presented with this login, which was just deleted.
func (h *Handler) limitSessions(ctx context.Context, email, newHash, replaced string, now time.Time, user string) error {
	all, err := h.store.ListUserSessions(ctx, email)
	if err != nil {
		return internal("store_error", err, "list sessions")
	}
	others := make([]store.Session, 0, len(all)) // oldest first
	for _, s := range all {
		if s.IDHash != newHash && s.IDHash != replaced && now.Before(s.Expires) {
			others = append(others, s)
		}
	}
	revoked := 0
	for len(others) > h.cfg.MaxSessions-1 {
		if err := h.store.DeleteSession(ctx, others[0].IDHash); err != nil {
			return internal("store_error", err, "revoke oldest session")
		}
		others = others[1:]
		revoked++
	}
	if revoked > 0 {
		h.log.LogAttrs(ctx, slog.LevelInfo, "oldest sessions revoked: too many devices",
			slog.String("user", user), slog.Int("revoked", revoked), slog.Int("maxSessions", h.cfg.MaxSessions))
	}
	return nil
}

// cleanUserAgent is the User-Agent kept with a session: control characters
// and invalid UTF-8 dropped, at most store.MaxUserAgentLen bytes (cut at a
// character boundary).
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "")
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, ua)
	ua = strings.TrimSpace(ua)
	if len(ua) <= store.MaxUserAgentLen {
		return ua
	}
	cut := store.MaxUserAgentLen
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// rehash replaces, after a successful login, a stored hash made with other
// parameters than the current ones (an import, or a hash from before the
// defaults changed): such hashes cost other work than a Default one, so they
// should not last. A failure is logged; the login goes on.
func (h *Handler) rehash(ctx context.Context, u store.User, pw, user string) {
	r, ok := h.pw.(Rehasher)
	if !ok || !r.NeedsRehash(u.PasswordHash) {
		return
	}
	hash, err := r.Hash(pw)
	if err == nil {
		err = h.store.ReplacePasswordHash(ctx, u.Email, u.PasswordHash, hash)
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "rehash password", slog.String("user", user), slog.String("error", err.Error()))
		return
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "password rehashed with the current parameters", slog.String("user", user))
}

// checkPassword does the argon2id work of a login: against the user's hash,
// or DummyVerify for an unknown user. It returns the failure reason ("" for
// the right password of an enabled user), or an error if the user could not
// be read.
func (h *Handler) checkPassword(ctx context.Context, req *request, u store.User, userErr error, pw string) (string, error) {
	var reason string
	switch err := userErr; {
	case errors.Is(err, store.ErrNotFound):
		h.pw.DummyVerify(pw) // same argon2id work as a known user
		reason = "unknown_user"
	case err != nil:
		return "", internal("store_error", err, "get user")
	default:
		ok, verr := h.pw.Verify(u.PasswordHash, pw)
		switch {
		case verr != nil:
			// A corrupt stored hash: the client sees a failed login; the
			// operator sees why.
			h.log.LogAttrs(ctx, slog.LevelError, "stored password hash unusable",
				slog.String("user", req.user), slog.String("error", verr.Error()))
			reason = "bad_hash"
		case !ok:
			reason = "wrong_password"
		case u.Disabled:
			reason = "user_disabled"
		}
	}
	return reason, nil
}
