package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/store"
)

// courseGrant is what a course route knows once checkCourse has passed:
// the viewer holds a live session of an enabled account and an active grant
// on a course of the catalogue.
type courseGrant struct {
	id      string // the validated course id
	now     time.Time
	session store.Session
	grant   store.Grant
	course  store.Course
	// manifest is the course's manifest, for a route with manifest set
	// (never nil there; empty for a course without materials).
	manifest *materials.Manifest
}

// limit is when whatever the route signs must end at the latest: the
// session's end or the grant's, whichever comes first; isGrant tells which.
func (c *courseGrant) limit() (limit time.Time, isGrant bool) {
	limit = c.session.Expires
	if !c.grant.Expires.IsZero() && c.grant.Expires.Before(limit) {
		return c.grant.Expires, true
	}
	return limit, false
}

// ended is the refusal when the limit has passed by the time of signing
// (cfsign.ErrNotAfterPassed): the grant's end is 403, the session's 401.
func (c *courseGrant) ended() error {
	if _, isGrant := c.limit(); isGrant {
		return fail(kindForbidden, "grant_expired", "no access to this course")
	}
	return fail(kindUnauthorized, "session_expired", "")
}

// signError is the answer to an error in signing for this course: the
// limit passed while signing (ended), the signer (KMS) throttled or down on a
// cache miss (503 with Retry-After, as every 503; cached signatures keep
// being served), or anything else (500, logged as what, for the course).
func (c *courseGrant) signError(err error, what string) error {
	switch {
	case errors.Is(err, cfsign.ErrNotAfterPassed):
		return c.ended()
	case errors.Is(err, keysource.ErrUnavailable):
		return unavailable("signer_unavailable", err)
	}
	return internal("sign_error", err, "%s %q", what, c.id)
}

// checkCourse runs every check of a course route, in this order: the
// route's own parameters (rt.validate), the course id (the raw, still-escaped
// path segment: %2A, %2F, "..", upper case and non-ASCII all fail here, so
// nothing unchecked can reach a policy's Resource), the session, then the
// user, the course and the grant.
//
// One DynamoDB round trip when the request's user hint opens (see hint.go):
// the session, the user and the grant in one request; two otherwise (or
// when the hint names someone else): the session, then the user and the
// grant. The course comes from the catalogue copy, read in the same round
// when it is stale. A stale LastSeen is written alongside the user and
// grant's read, or, with a hint, alongside what follows the read (the
// route's signing), once per TouchInterval. A route with manifest set also
// reads the course's manifest in the read's round when its copy is stale
// (one GetObject; none for a course missing from a fresh catalogue copy;
// kept only for a course of the catalogue). A bucket error answers only a
// viewer who passed every check.
func (h *Handler) checkCourse(r *http.Request, req *request, rt *route) (*courseGrant, error) {
	if rt.validate != nil {
		if err := rt.validate(req); err != nil {
			return nil, err
		}
	}
	id := req.courseID
	if err := cfsign.ValidateCourseID(id); err != nil {
		req.courseID = "" // not echoed into metrics
		return nil, fail(kindNotFound, "malformed_course_id", "")
	}
	ctx, now := r.Context(), h.now()
	token, err := requestToken(r)
	if err != nil {
		return nil, err
	}
	hint := userHint(r, token)
	var s store.Session // known before the read only without a hint
	if hint == "" {
		if s, err = h.tokenSession(ctx, token, now); err != nil {
			return nil, err
		}
		req.user = userHash(s.Email)
		h.touch(ctx, req, s, now) // LastSeen, alongside the next round
	}
	var (
		wg     sync.WaitGroup
		catErr error
	)
	cat, fresh := h.cat.cached(now)
	_, knownBefore := cat[id] // read before the catalogue may be replaced below
	if !fresh {
		wg.Go(func() { cat, catErr = h.cat.load(ctx, now) })
	}
	var (
		man  *materials.Manifest
		load *manifestLoad // a read under way (only then allocated)
	)
	if rt.manifest && (knownBefore || !fresh) {
		var manFresh bool
		man, manFresh = h.mans.cached(id, now)
		if !manFresh {
			load = &manifestLoad{}
			wg.Go(func() { load.man, load.err = h.mans.load(ctx, id) })
		}
	}
	readCtx, readDone := ctx, chan struct{}(nil)
	if rt.prepare != nil && fresh && knownBefore {
		readDone = make(chan struct{})
		// The preparation (a signature: CPU work) starts once the read's
		// request is on its way, never before: started first, it could
		// hold that request back on a small CPU share. A read that ends
		// before its request is written leaves the signature to the
		// route, which signs only for a viewer who passed every check.
		sent := make(chan struct{})
		readCtx = store.OnSent(ctx, func() { close(sent) })
		known := s // zero with a hint: the read below sets s
		wg.Go(func() {
			select {
			case <-sent:
				select {
				case <-readDone: // the read ended as soon as it went out
					return
				default:
				}
				rt.prepare(h, ctx, id, known)
			case <-readDone:
			}
		})
	}
	var rd grantRead
	if hint == "" {
		rd.u, rd.g, rd.granted, rd.err = h.getUserGrant(readCtx, s.Email, id, readDone)
	} else {
		rd = h.getSessionGrant(ctx, readCtx, req, hashToken(token), hint, id, now, readDone)
		s = rd.s
	}
	wg.Wait()
	var manErr error
	if load != nil {
		man, manErr = load.man, load.err
		if _, known := cat[id]; manErr == nil && catErr == nil && known {
			// A course's manifest is the same for every viewer: kept
			// even when this one is refused below.
			h.mans.set(id, man, now)
		}
	}
	if rd.sessErr != nil {
		return nil, rd.sessErr
	}
	if err := checkUser(rd.u, rd.err, kindForbidden, "account disabled"); err != nil {
		return nil, err
	}
	if catErr != nil {
		return nil, internal("store_error", catErr, "list courses")
	}
	co, ok := cat[id]
	if !ok {
		return nil, fail(kindNotFound, "unknown_course", "")
	}
	switch {
	case !rd.granted:
		return nil, fail(kindForbidden, "not_granted", "no access to this course")
	case !rd.g.Active(now):
		return nil, fail(kindForbidden, "grant_expired", "no access to this course")
	}
	if manErr != nil {
		return nil, internal("manifest_error", manErr, "read manifest of %q", id)
	}
	req.grant = courseGrant{id: id, now: now, session: s, grant: rd.g, course: co, manifest: man}
	return &req.grant, nil
}

// grantRead is the read of a course route's user and grant (and, with a
// hint, of its session).
type grantRead struct {
	s       store.Session // with a hint: the session read
	sessErr error         // with a hint: the session's failure (401, 500, 503)
	u       store.User
	g       store.Grant
	granted bool
	err     error // the user's read: store.ErrNotFound or a store error
}

// getUserGrant reads the user and grant and then closes done (when not
// nil), whatever the read does.
func (h *Handler) getUserGrant(ctx context.Context, email, id string, done chan struct{}) (store.User, store.Grant, bool, error) {
	if done != nil {
		defer close(done)
	}
	return h.store.GetUserGrant(ctx, email, id)
}

// getSessionGrant reads the session idHash with the user hint's user and
// grant (one round; readCtx carries the preparation's OnSent function), then
// closes done (when not nil). A hint that is not the session's user's costs
// a second read, of the session's own user and grant (with ctx: its OnSent
// function has been called). A live session's LastSeen is touched when stale,
// alongside whatever follows.
func (h *Handler) getSessionGrant(ctx, readCtx context.Context, req *request, idHash, hint, id string, now time.Time, done chan struct{}) grantRead {
	if done != nil {
		defer close(done)
	}
	r, err := h.store.GetSessionGrant(readCtx, idHash, hint, id)
	var rd grantRead
	switch {
	case err != nil:
		rd.sessErr = internal("store_error", err, "get session")
		return rd
	case !r.SessionFound:
		rd.sessErr = fail(kindUnauthorized, "unknown_session", "")
		return rd
	}
	if rd.s, rd.sessErr = liveSession(r.Session, now); rd.sessErr != nil {
		return rd
	}
	req.user = userHash(rd.s.Email)
	h.touch(ctx, req, rd.s, now)
	if !r.Matched {
		rd.u, rd.g, rd.granted, rd.err = h.store.GetUserGrant(ctx, rd.s.Email, id)
		return rd
	}
	if !r.UserFound {
		rd.err = fmt.Errorf("get %s: %w", store.UserRef(rd.s.Email), store.ErrNotFound)
		return rd
	}
	rd.u, rd.g, rd.granted = r.User, r.Grant, r.Granted
	return rd
}

// signingKey returns the current signing key, or 503 (fail closed).
func (h *Handler) signingKey(ctx context.Context) (*cfsign.Key, error) {
	key, err := h.keys.Key(ctx)
	if err == nil && key == nil {
		err = errors.New("key provider returned no key")
	}
	if err != nil {
		return nil, unavailable("key_unavailable", err)
	}
	return key, nil
}

// manifestLoad is the result of a manifest read that runs alongside the
// grant's round.
type manifestLoad struct {
	man *materials.Manifest
	err error
}
