package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/cfgate/cfgate/internal/store"
)

// route is one API endpoint: a method on a path pattern.
type route struct {
	method string
	// pattern is matched against the request's escaped path, segment by
	// segment (see match). A segment "{x}" matches any one segment,
	// even an empty one (the route's checks refuse it), and binds it to x; a last segment "{x...}" matches one or
	// more segments (the rest of the path). "{id}" is a course id: only a
	// route with course set may use it (TestRouteTable).
	pattern string
	// metric is the EMF metric written for every request that reaches the
	// route with the right method ("" = none).
	metric string
	// body: the route reads a JSON body (a body is required).
	body bool
	// optionalBody: the route reads a JSON body if one is sent (its
	// handler decodes it strictly); without it or body, a body may be an
	// empty JSON object at most.
	optionalBody bool
	// handle serves a route that is not about one course.
	handle func(h *Handler, w http.ResponseWriter, r *http.Request, req *request) error
	// course serves a course route. It runs only after checkCourse has
	// passed every check (valid id, live session, enabled user, course in
	// the catalogue, active grant), so no course route can forget one.
	course func(h *Handler, w http.ResponseWriter, r *http.Request, req *request, c *courseGrant) error
	// validate checks the route's other path parameters before anything
	// else (no store call for a malformed one); its error is the answer.
	validate func(req *request) error
	// manifest: checkCourse also reads the course's manifest (materials),
	// in the same round as the grant when the cached copy is stale.
	manifest bool
	// prepare, when set, runs beside the user and grant read (the second
	// round, once the session is live; or, with a user hint, the one
	// round that reads the session too, with a zero session), when the
	// course is in the catalogue and the read's request is on its way
	// (store.OnSent), to
	// do work whose result the route hands out only after every check has
	// passed (warming the signature cache). It does not run when the read
	// ends first. checkCourse waits for it; its failure is the route's to
	// find again.
	prepare func(h *Handler, ctx context.Context, id string, s store.Session)
}

// serve runs the route's handler, through checkCourse for a course route.
func (rt *route) serve(h *Handler, w http.ResponseWriter, r *http.Request, req *request) error {
	if rt.course == nil {
		return rt.handle(h, w, r, req)
	}
	c, err := h.checkCourse(r, req, rt)
	if err != nil {
		return err
	}
	return rt.course(h, w, r, req, c)
}

// routes is the API. Every route under /api/courses/{id}/ is a course route.
var routes = []*route{
	{method: http.MethodPost, pattern: "/api/login", metric: metricLogin, body: true, handle: (*Handler).login},
	{method: http.MethodGet, pattern: "/api/session", handle: (*Handler).session},
	{method: http.MethodPost, pattern: "/api/logout", handle: (*Handler).logout},
	{method: http.MethodPost, pattern: "/api/courses/{id}/access", metric: metricAccess, course: (*Handler).access, prepare: (*Handler).prepareCookies},
	{method: http.MethodGet, pattern: "/api/courses/{id}/files", course: (*Handler).files, manifest: true},
	{method: http.MethodPost, pattern: "/api/courses/{id}/files/{name}/link", course: (*Handler).fileLink, manifest: true, validate: validateFileParam},
	{method: http.MethodPost, pattern: "/api/courses/{id}/playback", optionalBody: true, manifest: true, validate: validatePlayback, course: (*Handler).playback},
	// No session: the signed query is the authorization (checked as
	// CloudFront checks it); hence {course}, not a course route's {id}.
	{method: http.MethodGet, pattern: "/api/play/{course}/{path...}", handle: (*Handler).play},
}

// param is one path parameter: its name in the pattern and the raw (still
// escaped) segment(s) it matched.
type param struct{ name, value string }

// request carries what the router extracted and what handlers report back
// for logs and metrics.
type request struct {
	body     []byte
	params   []param
	paramBuf [2]param    // params' backing array (no route has more)
	grant    courseGrant // what checkCourse found, for a course route
	courseID string      // raw (still-escaped) {id} segment; "" once found malformed
	source   string      // the viewer's address (IPv6: its /64), for lockout
	user     string      // short hash of the email, for logs and metrics
	// touched is closed when the session's LastSeen update, which runs
	// alongside the request's other store work, has finished; nil when
	// none was started. See joinTouch.
	touched chan struct{}
}

// param returns the raw (still-escaped) value of path parameter name.
func (req *request) param(name string) (string, bool) {
	for _, p := range req.params {
		if p.name == name {
			return p.value, true
		}
	}
	return "", false
}

// joinTouch waits for the request's LastSeen update, if any: in Lambda
// nothing may run after the response.
func (req *request) joinTouch() {
	if req.touched != nil {
		<-req.touched
	}
}

// routeGroup is the routes of one pattern, one per method.
type routeGroup struct {
	pattern string
	routes  []*route
	methods string // "GET, POST": for Allow and CORS preflights
}

// groups is routes grouped by pattern, in table order.
var groups = groupRoutes(routes)

func groupRoutes(rs []*route) []*routeGroup {
	var out []*routeGroup
	byPattern := map[string]*routeGroup{}
	for _, rt := range rs {
		g := byPattern[rt.pattern]
		if g == nil {
			g = &routeGroup{pattern: rt.pattern}
			byPattern[rt.pattern] = g
			out = append(out, g)
		}
		g.routes = append(g.routes, rt)
		if g.methods != "" {
			g.methods += ", "
		}
		g.methods += rt.method
	}
	return out
}

// pick returns the group's route of method, or nil.
func (g *routeGroup) pick(method string) *route {
	for _, rt := range g.routes {
		if rt.method == method {
			return rt
		}
	}
	return nil
}

// match finds the route group of an escaped path and appends its
// parameters to params. It works on the escaped path so that %2F or %2A in
// a course id stay visible (and rejected) and nothing is cleaned or
// redirected; a parameter never contains "/" unless it is a "{x...}" rest
// parameter.
func match(escapedPath string, params []param) (*routeGroup, []param) {
	for _, g := range groups {
		if p, ok := matchPattern(g.pattern, escapedPath, params); ok {
			return g, p
		}
	}
	return nil, params
}

// matchPattern matches one pattern against an escaped path, appending the
// parameters to params (params unchanged when it does not match).
func matchPattern(pattern, path string, params []param) ([]param, bool) {
	n := len(params)
	for {
		pseg, prest, pmore := strings.Cut(pattern, "/")
		if name, ok := strings.CutSuffix(pseg, "...}"); ok && !pmore && strings.HasPrefix(name, "{") {
			// The rest: one or more non-empty segments.
			if path == "" || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
				return params[:n], false
			}
			return append(params, param{name[1:], path}), true
		}
		seg, rest, more := strings.Cut(path, "/")
		if more != pmore {
			return params[:n], false
		}
		if name, ok := strings.CutPrefix(pseg, "{"); ok && strings.HasSuffix(name, "}") {
			params = append(params, param{strings.TrimSuffix(name, "}"), seg})
		} else if seg != pseg {
			return params[:n], false
		}
		if !more {
			return params, true
		}
		pattern, path = prest, rest
	}
}
