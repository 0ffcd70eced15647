package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAccessAttacks: every request here must fail with the given status and
// set no CloudFront cookie, and (when it reaches the access route) write a
// "denied" metric line with the given reason.
func TestAccessAttacks(t *testing.T) {
	e := newEnv(t)
	aliceToken := e.login(t, alice, alicePW)
	carolToken := e.sessionFor(t, carol)

	expiredToken := e.sessionFor(t, alice) // lives one hour
	deletedToken := e.login(t, alice, alicePW)
	if resp := e.do(withSession(req("POST", "/api/logout", ""), deletedToken)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	forgedToken, _ := newSessionToken() // well-formed, never stored

	access := func(id string) string { return "/api/courses/" + id + "/access" }
	asAlice := func(r *http.Request) *http.Request { return withSession(r, aliceToken) }
	tests := []struct {
		name    string
		r       *http.Request
		advance time.Duration // clock moved before the request
		status  int
		reason  string // metric reason; "" = no metric expected (route not reached)
	}{
		// Malformed course ids: 404 before any session or store lookup.
		{"id star", asAlice(req("POST", access("*"), "")), 0, 404, "malformed_course_id"},
		{"id star suffix", asAlice(req("POST", access("intro-to-hls*"), "")), 0, 404, "malformed_course_id"},
		{"id question mark escaped", asAlice(req("POST", access("intro-to-hl%3F"), "")), 0, 404, "malformed_course_id"},
		{"id question mark raw", asAlice(req("POST", access("intro-to-hl?"), "")), 0, 404, ""},
		{"id dot dot", asAlice(req("POST", access(".."), "")), 0, 404, "malformed_course_id"},
		{"id dot dot traversal", asAlice(req("POST", access("intro-to-hls/../bobs-course"), "")), 0, 404, ""},
		{"id escaped dots", asAlice(req("POST", access("%2e%2e"), "")), 0, 404, "malformed_course_id"},
		{"id %2A", asAlice(req("POST", access("%2A"), "")), 0, 404, "malformed_course_id"},
		{"id %2a lower", asAlice(req("POST", access("intro-%2a"), "")), 0, 404, "malformed_course_id"},
		{"id %2F", asAlice(req("POST", access("intro-to-hls%2F..%2Fbobs-course"), "")), 0, 404, "malformed_course_id"},
		{"id upper case", asAlice(req("POST", access("Intro-To-HLS"), "")), 0, 404, "malformed_course_id"},
		{"id 64 chars", asAlice(req("POST", access(strings.Repeat("a", 64)), "")), 0, 404, "malformed_course_id"},
		{"id unicode", asAlice(req("POST", access("intro-t%C3%B6-hls"), "")), 0, 404, "malformed_course_id"},
		{"id unicode raw", asAlice(req("POST", access("intro-tö-hls"), "")), 0, 404, "malformed_course_id"},
		{"id leading hyphen", asAlice(req("POST", access("-intro"), "")), 0, 404, "malformed_course_id"},
		{"id empty", asAlice(req("POST", access(""), "")), 0, 404, "malformed_course_id"},
		{"id with space", asAlice(req("POST", access("intro%20to"), "")), 0, 404, "malformed_course_id"},
		{"id null byte", asAlice(req("POST", access("intro%00"), "")), 0, 404, "malformed_course_id"},

		// Authorization.
		{"another user's course", asAlice(req("POST", access("bobs-course"), "")), 0, 403, "not_granted"},
		{"course granted to nobody", asAlice(req("POST", access("advanced-streaming"), "")), 0, 403, "not_granted"},
		{"expired grant", asAlice(req("POST", access("old-course"), "")), 0, 403, "grant_expired"},
		{"unknown course", asAlice(req("POST", access("no-such-course"), "")), 0, 404, "unknown_course"},
		{"disabled user", withSession(req("POST", access(courseIntro), ""), carolToken), 0, 403, "user_disabled"},

		// Sessions.
		{"no session", req("POST", access(courseIntro), ""), 0, 401, "no_session"},
		{"forged session", withSession(req("POST", access(courseIntro), ""), forgedToken), 0, 401, "unknown_session"},
		{"malformed session", withSession(req("POST", access(courseIntro), ""), "x*y"), 0, 401, "malformed_session"},
		{"session hash as cookie", withSession(req("POST", access(courseIntro), ""), hashToken(aliceToken)), 0, 401, "malformed_session"},
		{"deleted session", withSession(req("POST", access(courseIntro), ""), deletedToken), 0, 401, "unknown_session"},

		// CSRF and request shape.
		{"foreign origin", asAlice(req("POST", access(courseIntro), "", "Origin", "https://evil.example")), 0, 403, "origin_not_allowed"},
		{"null origin", asAlice(req("POST", access(courseIntro), "", "Origin", "null")), 0, 403, "origin_not_allowed"},
		{"origin other scheme", asAlice(req("POST", access(courseIntro), "", "Origin", "http://"+testDomain)), 0, 403, "origin_not_allowed"},
		{"missing content type", asAlice(req("POST", access(courseIntro), "{}", "Content-Type", "")), 0, 415, "content_type"},
		{"form content type", asAlice(req("POST", access(courseIntro), "{}", "Content-Type", "application/x-www-form-urlencoded")), 0, 415, "content_type"},
		{"text plain", asAlice(req("POST", access(courseIntro), "{}", "Content-Type", "text/plain")), 0, 415, "content_type"},
		{"1 MB body", asAlice(req("POST", access(courseIntro), `{"a":"`+strings.Repeat("x", 1<<20)+`"}`)), 0, 413, "body_too_large"},
		{"malformed JSON", asAlice(req("POST", access(courseIntro), "{")), 0, 400, "malformed_json"},
		{"unknown field", asAlice(req("POST", access(courseIntro), `{"course":"bobs-course"}`)), 0, 400, "malformed_json"},
		{"trailing data", asAlice(req("POST", access(courseIntro), `{}{}`)), 0, 400, "malformed_json"},
		{"wrong method", asAlice(req("GET", access(courseIntro), "")), 0, 405, ""},

		// Last: moves the clock past the one-hour session.
		{"expired session", withSession(req("POST", access(courseIntro), ""), expiredToken), time.Hour, 401, "session_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Add(tt.advance)
			before := len(e.emfLines(t))
			resp := e.do(tt.r)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if cf := cloudFrontCookies(resp); len(cf) != 0 {
				t.Errorf("CloudFront cookies set: %d", len(cf))
			}
			errorText(t, resp)
			lines := e.emfLines(t)
			if tt.reason == "" {
				if len(lines) != before {
					t.Errorf("metric written for a request outside the route")
				}
				return
			}
			if len(lines) != before+1 {
				t.Fatalf("%d metric lines written, want 1", len(lines)-before)
			}
			m := lines[len(lines)-1]
			if m["Decision"] != "denied" || m["Reason"] != tt.reason || m["Status"] != float64(tt.status) {
				t.Errorf("metric Decision/Reason/Status = %v/%v/%v, want denied/%s/%d", m["Decision"], m["Reason"], m["Status"], tt.reason, tt.status)
			}
		})
	}

	// The same attacks must not have broken the legitimate path.
	t.Run("control", func(t *testing.T) {
		token := e.login(t, alice, alicePW)
		resp := e.do(withSession(req("POST", access(courseIntro), ""), token))
		if resp.StatusCode != http.StatusOK || len(cloudFrontCookies(resp)) != 3 {
			t.Errorf("status %d, %d CloudFront cookies; want 200 and 3", resp.StatusCode, len(cloudFrontCookies(resp)))
		}
	})
}

// TestAccessKeyUnavailable: when the key provider fails the answer is 503
// with no cookie (fail closed), after all authorization checks passed.
func TestAccessKeyUnavailable(t *testing.T) {
	e := newEnv(t, withKeys(failingKeys{}))
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", "/api/courses/"+courseIntro+"/access", ""), token))
	if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	if cf := cloudFrontCookies(resp); len(cf) != 0 {
		t.Errorf("CloudFront cookies set: %d", len(cf))
	}
	if got, want := errorText(t, resp), "service unavailable, try again later"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if m := e.lastEMF(t); m["Reason"] != "key_unavailable" {
		t.Errorf("metric reason = %v, want key_unavailable", m["Reason"])
	}
}

// TestLoginAttacks: malformed login requests are refused before any
// password work and set no cookie.
func TestLoginAttacks(t *testing.T) {
	e := newEnv(t)
	good := loginBodyJSON(alice, alicePW)
	tests := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"missing content type", req("POST", "/api/login", good, "Content-Type", ""), 415},
		{"text plain", req("POST", "/api/login", good, "Content-Type", "text/plain"), 415},
		{"no body", req("POST", "/api/login", "", "Content-Type", "application/json"), 400},
		{"foreign origin", req("POST", "/api/login", good, "Origin", "https://evil.example"), 403},
		{"1 MB body", req("POST", "/api/login", `{"email":"`+alice+`","password":"`+strings.Repeat("x", 1<<20)+`"}`), 413},
		{"1 MB body undeclared length", chunked(req("POST", "/api/login", `{"email":"`+strings.Repeat("x", 1<<20)+`"}`)), 413},
		{"malformed JSON", req("POST", "/api/login", `{"email":`), 400},
		{"unknown field", req("POST", "/api/login", `{"email":"`+alice+`","password":"`+alicePW+`","admin":true}`), 400},
		{"trailing data", req("POST", "/api/login", good+`{}`), 400},
		{"trailing garbage", req("POST", "/api/login", good+`x`), 400},
		{"array", req("POST", "/api/login", `[`+good+`]`), 400},
		{"wrong types", req("POST", "/api/login", `{"email":1,"password":true}`), 400},
		{"missing password", req("POST", "/api/login", `{"email":"`+alice+`"}`), 400},
		{"null password", req("POST", "/api/login", `{"email":"`+alice+`","password":null}`), 400},
		{"empty password", req("POST", "/api/login", `{"email":"`+alice+`","password":""}`), 400},
		{"password too long", req("POST", "/api/login", loginBodyJSON(alice, strings.Repeat("p", 1025))), 400},
		{"email without at", req("POST", "/api/login", loginBodyJSON("alice", alicePW)), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.r)
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
				t.Errorf("%d cookies set", n)
			}
			errorText(t, resp)
		})
	}
	if v, d := e.pw.verify.Load(), e.pw.dummy.Load(); v != 0 || d != 0 {
		t.Errorf("password work for malformed requests: %d verifications, %d dummy", v, d)
	}
	if n, _ := e.st.Failures(context.Background(), alice, e.clock.Now()); n != 0 {
		t.Errorf("malformed requests counted as %d failures", n)
	}
}

// chunked hides the request's length, as a chunked upload does.
func chunked(r *http.Request) *http.Request {
	r.ContentLength = -1
	return r
}
