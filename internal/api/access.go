package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/store"
)

type accessBody struct {
	Course  string `json:"course"`
	Expires string `json:"expires"` // RFC 3339, UTC
}

// prepareCookies runs beside /access's user and grant read (route.prepare):
// with a key that signs in memory it signs the course's cookies as access
// will if the grant and the session end after the cookies do (the common
// case), so that a signature-cache miss costs no time after the read: on a
// cold start the first cookie's RSA-2048 signature (about 1.4 ms here,
// several times that on Lambda's CPU share) overlaps the DynamoDB round
// trip instead of following it. Nothing signed here leaves the cache unless
// access passes every check and asks for the same cookies; a grant or
// session that ends sooner makes access sign its own. s is the session when
// it was read first (its end caps the cookies), and zero when it is read in
// the same round (with a user hint): the cookies are then signed uncapped.
// A KMS key is never used here: each signature is a charged, rate-limited
// call, made only for a viewer who passed the checks.
func (h *Handler) prepareCookies(ctx context.Context, id string, s store.Session) {
	key, err := h.keys.Key(ctx)
	if err != nil || !key.InMemory() {
		return
	}
	_ = h.issuer.Warm(key, id, cfsign.Conditions{NotAfter: s.Expires})
}

// access answers POST /api/courses/{courseId}/access. Every check
// (checkCourse) comes before any cookie is handed out; only prepareCookies
// may sign earlier, into the signature cache.
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
	if err != nil {
		return c.signError(err, "issue cookies for")
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
