package api

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

type accessBody struct {
	Course  string `json:"course"`
	Expires string `json:"expires"` // RFC 3339, UTC
}

// access answers POST /api/courses/{courseId}/access. Every check
// (checkCourse) comes before the key is fetched and anything is signed.
func (h *Handler) access(w http.ResponseWriter, r *http.Request, req *request, c *courseGrant) error {
	ctx, id := r.Context(), c.id
	key, err := h.signingKey(ctx)
	if err != nil {
		return err
	}
	// Cookies must not outlive the grant or the session: cap the expiry at
	// whichever ends first (the bucketed expiry applies when both end later).
	limit, _ := c.limit()
	cc, err := h.issuer.Issue(key, id, cfsign.Conditions{NotAfter: limit})
	if errors.Is(err, cfsign.ErrNotAfterPassed) {
		return c.ended()
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
