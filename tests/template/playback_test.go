package template

import (
	"testing"
)

// TestPlaylistRouteReachesFunction: cookie-less playback's playlist route
// (GET /api/play/<id>/<path>?<signed query>) reaches the login function:
// the HTTP API's /api/{proxy+} route takes every method, and the /api/*
// behavior allows GET, caches nothing and forwards every query string
// (TestAPIBehavior, TestAPIOriginRequestPolicy); /courses/* keeps the query
// out of the cache key (TestSignedBehavior).
func TestPlaylistRouteReachesFunction(t *testing.T) {
	p := load(t, nil)
	fn, err := p.tpl.GetServerlessFunctionWithName("LoginFunction")
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := fn.Events["Api"]
	if !ok || ev.Type != "HttpApi" || ev.Properties == nil {
		t.Fatalf("LoginFunction event Api = %+v, want an HttpApi event", ev)
	}
	var path, method string
	switch pr := ev.Properties; {
	case pr.HttpApiEvent != nil:
		path, method = str(pr.HttpApiEvent.Path), str(pr.HttpApiEvent.Method)
	case pr.ApiEvent != nil:
		path, method = pr.ApiEvent.Path, pr.ApiEvent.Method
	}
	if path != "/api/{proxy+}" || method != "ANY" {
		t.Errorf("HTTP API route %s %s, want ANY /api/{proxy+} (GET /api/play/… must reach the function)", method, path)
	}
}
