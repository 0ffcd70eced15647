package api

import (
	"reflect"
	"strings"
	"testing"
)

// TestRouteTable: every route naming a course ({id}) is a course route, so
// it cannot run without checkCourse; every route has exactly one handler;
// and no two routes share a method and pattern.
func TestRouteTable(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range routes {
		if (rt.handle == nil) == (rt.course == nil) {
			t.Errorf("%s %s: want exactly one of handle and course", rt.method, rt.pattern)
		}
		if strings.Contains(rt.pattern, "{id}") != (rt.course != nil) {
			t.Errorf("%s %s: a route with {id} must be a course route and a course route must have {id}", rt.method, rt.pattern)
		}
		if (rt.manifest || rt.validate != nil) && rt.course == nil {
			t.Errorf("%s %s: manifest and validate apply to course routes only", rt.method, rt.pattern)
		}
		k := rt.method + " " + rt.pattern
		if seen[k] {
			t.Errorf("%s: twice", k)
		}
		seen[k] = true
	}
}

func TestMatchPattern(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          []param // nil: no match
	}{
		{"/api/login", "/api/login", []param{}},
		{"/api/login", "/api/login/", nil},
		{"/api/login", "/api/logins", nil},
		{"/api/courses/{id}/access", "/api/courses/a/access", []param{{"id", "a"}}},
		{"/api/courses/{id}/access", "/api/courses//access", []param{{"id", ""}}},
		{"/api/courses/{id}/access", "/api/courses/a%2Fb/access", []param{{"id", "a%2Fb"}}},
		{"/api/courses/{id}/access", "/api/courses/a/b/access", nil},
		{"/api/courses/{id}/access", "/api/courses/access", nil},
		{"/api/courses/{id}/files/{name}/link", "/api/courses/a/files/b.pdf/link", []param{{"id", "a"}, {"name", "b.pdf"}}},
		{"/api/play/{id}/{path...}", "/api/play/a/ts/master.m3u8", []param{{"id", "a"}, {"path", "ts/master.m3u8"}}},
		{"/api/play/{id}/{path...}", "/api/play/a/master.m3u8", []param{{"id", "a"}, {"path", "master.m3u8"}}},
		{"/api/play/{id}/{path...}", "/api/play/a/", nil},
		{"/api/play/{id}/{path...}", "/api/play/a", nil},
		{"/api/play/{id}/{path...}", "/api/play/a/ts//x.m3u8", nil},
		{"/api/play/{id}/{path...}", "/api/play/a/ts/", nil},
	}
	for _, c := range cases {
		got, ok := matchPattern(c.pattern, c.path, nil)
		if ok != (c.want != nil) || (ok && len(got)+len(c.want) > 0 && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("matchPattern(%q, %q) = %v, %v; want %v", c.pattern, c.path, got, ok, c.want)
		}
	}
}
