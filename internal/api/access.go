package api

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

type accessBody struct {
	Course  string `json:"course"`
	Expires string `json:"expires"` // RFC 3339, UTC
}

// access answers POST /api/courses/{courseId}/access. Every check comes
// before the key is fetched and anything is signed.
func (h *Handler) access(w http.ResponseWriter, r *http.Request, req *request) error {
	// The id is the raw, still-escaped path segment: %2A, %2F, "..", upper
	// case and non-ASCII all fail here, so nothing unchecked can reach a
	// policy's Resource.
	id := req.courseID
	if err := cfsign.ValidateCourseID(id); err != nil {
		req.courseID = "" // not echoed into metrics
		return fail(kindNotFound, "malformed_course_id", "")
	}
	// Two DynamoDB round trips: the session, then the user and the grant in
	// one request; the course comes from the catalogue copy (read in the
	// same round when it is stale), and a stale LastSeen is written in that
	// round too.
	ctx, now := r.Context(), h.now()
	s, err := h.currentSession(ctx, r, now)
	if err != nil {
		return err
	}
	req.user = userHash(s.Email)
	h.touch(ctx, req, s, now) // LastSeen, alongside the next round
	var (
		wg     sync.WaitGroup
		catErr error
	)
	cat, fresh := h.cat.cached(now)
	if !fresh {
		wg.Go(func() { cat, catErr = h.cat.load(ctx, now) })
	}
	u, g, granted, err := h.store.GetUserGrant(ctx, s.Email, id)
	wg.Wait()
	if err := checkUser(u, err, kindForbidden, "account disabled"); err != nil {
		return err
	}
	if catErr != nil {
		return internal("store_error", catErr, "list courses")
	}
	if _, ok := cat[id]; !ok {
		return fail(kindNotFound, "unknown_course", "")
	}
	switch {
	case !granted:
		return fail(kindForbidden, "not_granted", "no access to this course")
	case !g.Active(now):
		return fail(kindForbidden, "grant_expired", "no access to this course")
	}

	key, err := h.keys.Key(ctx)
	if err == nil && key == nil {
		err = errors.New("key provider returned no key")
	}
	if err != nil {
		return unavailable("key_unavailable", err)
	}
	// Cookies must not outlive the grant or the session: cap the expiry at
	// whichever ends first (the bucketed expiry applies when both end later).
	limit, limitIsGrant := s.Expires, false
	if !g.Expires.IsZero() && g.Expires.Before(limit) {
		limit, limitIsGrant = g.Expires, true
	}
	cc, err := h.issuer.Issue(key, id, cfsign.Conditions{NotAfter: limit})
	if errors.Is(err, cfsign.ErrNotAfterPassed) {
		if limitIsGrant {
			return fail(kindForbidden, "grant_expired", "no access to this course")
		}
		return fail(kindUnauthorized, "session_expired", "")
	}
	if errors.Is(err, keysource.ErrUnavailable) {
		// The signer (KMS) is throttled or down on a cache miss: 503 with
		// Retry-After (as every 503); cached signatures keep being served.
		return unavailable("signer_unavailable", err)
	}
	if err != nil {
		return internal("sign_error", err, "issue cookies for %q", id)
	}
	req.joinTouch()
	for _, c := range cc.SetCookies() {
		w.Header().Add("Set-Cookie", c)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "access granted",
		slog.String("user", req.user), slog.String("course", id),
		slog.String("keyPairId", key.ID), slog.Time("expires", cc.Expires))
	writeJSON(w, http.StatusOK, accessBody{Course: id, Expires: cc.Expires.UTC().Format(time.RFC3339)})
	return nil
}
