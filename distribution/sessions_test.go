package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cfgate/cfgate/internal/admincli"
)

// TestMaxSessionsOverHTTP: with -max-sessions 2, a third login of the same
// account through the local distribution signs the first device out and
// keeps the other two; the operator sees the two remaining devices by their
// user agents with the admin CLI on the same state folder.
func TestMaxSessionsOverHTTP(t *testing.T) {
	var state string
	_, base := startWith(t, func(o *options) { o.maxSessions = 2; state = o.state })
	c := fromLoopback(t, "127.0.0.1")
	do := func(method, path, body, cookie, ua string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if cookie != "" {
			req.Header.Set("Cookie", "cfgate_session="+cookie)
		}
		req.Header.Set("User-Agent", ua)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	devices := []string{"device-one/1.0", "device-two/2.0", "device-three/3.0"}
	var tokens []string
	for _, ua := range devices {
		resp := do("POST", "/api/login", `{"email":"`+demoEmail+`","password":"`+testPassword+`"}`, "", ua)
		var tok string
		for _, ck := range resp.Cookies() {
			if ck.Name == "cfgate_session" {
				tok = ck.Value
			}
		}
		if resp.StatusCode != http.StatusOK || tok == "" {
			t.Fatalf("login from %s: %d, session cookie %v", ua, resp.StatusCode, tok != "")
		}
		tokens = append(tokens, tok)
	}
	for i, want := range []int{http.StatusUnauthorized, http.StatusOK, http.StatusOK} {
		if got := do("GET", "/api/session", "", tokens[i], devices[i]).StatusCode; got != want {
			t.Errorf("%s: /api/session = %d, want %d", devices[i], got, want)
		}
	}

	var out, errb bytes.Buffer
	if err := admincli.Run(context.Background(), []string{"--local", "--state", state, "sessions", "list", demoEmail, "--json"},
		strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("admin sessions list: %v\n%s", err, errb.String())
	}
	var list []admincli.SessionJSON
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].UserAgent != devices[1] || list[1].UserAgent != devices[2] {
		t.Errorf("admin sessions list = %+v, want %s then %s", list, devices[1], devices[2])
	}
	for _, tok := range tokens {
		if strings.Contains(out.String(), tok) {
			t.Error("sessions list shows a session cookie value")
		}
	}
}
