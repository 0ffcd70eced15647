package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/store"
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
	ctx, now := r.Context(), h.now()
	s, err := h.sessionUser(ctx, r, req, now, kindForbidden, "account disabled")
	if err != nil {
		return err
	}

	if _, err := h.store.GetCourse(ctx, id); errors.Is(err, store.ErrNotFound) {
		return fail(kindNotFound, "unknown_course", "")
	} else if err != nil {
		return internal("store_error", err, "get course %q", id)
	}

	g, err := h.store.GetGrant(ctx, s.Email, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(kindForbidden, "not_granted", "no access to this course")
	case err != nil:
		return internal("store_error", err, "get grant")
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
	for _, c := range cc.SetCookies() {
		w.Header().Add("Set-Cookie", c)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "access granted",
		slog.String("user", req.user), slog.String("course", id),
		slog.String("keyPairId", key.ID), slog.Time("expires", cc.Expires))
	writeJSON(w, http.StatusOK, accessBody{Course: id, Expires: cc.Expires.UTC().Format(time.RFC3339)})
	return nil
}
