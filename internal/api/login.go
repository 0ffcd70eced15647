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
	if old := sessionToken(r); validToken(old) {
		wg.Go(func() {
			if err := h.store.DeleteSession(ctx, hashToken(old)); err != nil {
				h.log.LogAttrs(ctx, slog.LevelWarn, "delete previous session", slog.String("error", err.Error()))
			}
		})
	}
	createErr = h.store.CreateSession(ctx, store.Session{
		IDHash: idHash, Email: email, CreatedAt: now, Expires: now.Add(h.cfg.SessionTTL),
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
	http.SetCookie(w, h.sessionCookie(token, int(h.cfg.SessionTTL/time.Second)))
	h.log.LogAttrs(ctx, slog.LevelInfo, "login", slog.String("user", req.user), slog.Int("courses", len(courses)))
	writeJSON(w, http.StatusOK, sessionBody{Email: email, Courses: courses})
	return nil
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
