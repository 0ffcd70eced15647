package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/keyops"
)

// verifierCase is a case of distribution/verifier/testdata/cases.json, the
// verifier's own table tests in replayable form.
type verifierCase struct {
	Name     string            `json:"name"`
	URL      string            `json:"url"`
	Cookie   string            `json:"cookie"`
	SourceIP string            `json:"sourceIp"`
	Now      time.Time         `json:"now"`
	Keys     map[string]string `json:"keys"`
	Code     string            `json:"code"`
	Reason   string            `json:"reason"`
	Source   string            `json:"source"`
	Policy   string            `json:"policy"`
}

// TestExplainVerifierCases replays every verifier table-test case through
// `keys explain` and expects the verifier's verdict, code and reason, and a
// non-zero exit on every denial.
func TestExplainVerifierCases(t *testing.T) {
	dir := filepath.Join("..", "distribution", "verifier", "testdata")
	b, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []verifierCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases in cases.json", len(cases))
	}
	a, _ := testApp(t)
	var allowed, denied int
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"explain", "--json", "--url", c.URL, "--now", c.Now.Format(time.RFC3339)}
			if c.Cookie != "" {
				args = append(args, "--cookie", c.Cookie)
			}
			if c.SourceIP != "" {
				args = append(args, "--source-ip", c.SourceIP)
			}
			ids := make([]string, 0, len(c.Keys))
			for id := range c.Keys {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				args = append(args, "--public-key", id+"="+filepath.Join(dir, c.Keys[id]))
			}
			r := a.exec(args...)
			var e explanation
			if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
				t.Fatalf("explain output is not JSON (err %v): %s", r.err, r.stdout)
			}
			if e.Code != c.Code {
				t.Errorf("code = %q (%s), want %q", e.Code, e.Reason, c.Code)
			}
			if c.Code == "" {
				allowed++
				if r.err != nil || !e.Allowed || e.Status != 200 {
					t.Errorf("allowed case: err %v, %+v", r.err, e)
				}
			} else {
				denied++
				if ex, ok := r.err.(exitError); !ok || ex.code != 1 || e.Allowed || e.Status != 403 || e.Message == "" {
					t.Errorf("denied case: err %v, %+v; want exit status 1, 403 and CloudFront's message", r.err, e)
				}
			}
			if c.Reason != "" && !strings.Contains(e.Reason, c.Reason) {
				t.Errorf("reason = %q, want it to contain %q", e.Reason, c.Reason)
			}
			if c.Source != "" && e.Source != c.Source {
				t.Errorf("source = %q, want %q", e.Source, c.Source)
			}
			if c.Policy != "" && e.Policy != c.Policy {
				t.Errorf("policy = %q, want %q", e.Policy, c.Policy)
			}
		})
	}
	if allowed == 0 || denied == 0 {
		t.Errorf("replayed %d allowed and %d denied cases; want both kinds", allowed, denied)
	}
}

// TestExplainKeyGroup: explain fetches the key group's public keys (AWS) or
// the state folder's trusted keys (local) and follows a rotation: cookies
// of the retired key become InvalidKey, fresh ones are allowed.
func TestExplainKeyGroup(t *testing.T) {
	for _, local := range []bool{false, true} {
		t.Run(map[bool]string{false: "aws", true: "local"}[local], func(t *testing.T) {
			a, clk := testApp(t)
			w := where(t, local)
			with := func(args ...string) []string { return append(args, w...) }
			mustRun(t, a, with("init")...)
			b := backendFor(t, a, w)
			old := current(t, b)
			oldCookie := cookieHeader(t, old, clk.Now)

			r := mustRun(t, a, with("explain", "--url", courseURL, "--cookie", "Cookie: "+oldCookie)...)
			if !strings.Contains(r.stdout, "CloudFront answers: 200") || !strings.Contains(r.stdout, old.KeyPairID) {
				t.Errorf("explain of a fresh cookie:\n%s", r.stdout)
			}
			// The wrong course: AccessDenied with the reason.
			r = a.exec(with("explain", "--url", "https://"+testDomain+"/courses/advanced-streaming/ts/master.m3u8", "--cookie", oldCookie)...)
			if r.err == nil || !strings.Contains(r.stdout, "403 AccessDenied") || !strings.Contains(r.stdout, "why:") {
				t.Errorf("explain of another course's URL: err %v\n%s", r.err, r.stdout)
			}
			if strings.Contains(r.stdout, strings.Split(strings.Split(oldCookie, "CloudFront-Signature=")[1], ";")[0]) {
				t.Error("explain printed the cookie's signature")
			}

			if !local {
				// Only the key group, as an operator debugging another deployment would.
				gid := decode[keyops.Status](t, mustRun(t, a, with("status", "--json")...).stdout).KeyGroupID
				r := mustRun(t, a, "explain", "--key-group", gid, "--secret-name", "unused-secret", "--url", courseURL, "--cookie", oldCookie)
				if !strings.Contains(r.stdout, "CloudFront answers: 200") {
					t.Errorf("explain --key-group %s:\n%s", gid, r.stdout)
				}
			}
			mustRun(t, a, with("rotate", "start")...)
			mustRun(t, a, with("rotate", "wait")...)
			mustRun(t, a, with("rotate", "promote")...)
			mustRun(t, a, with("rotate", "finish", "--force")...)
			r = a.exec(with("explain", "--json", "--url", courseURL, "--cookie", oldCookie)...)
			if e := decodeExplanation(t, r.stdout); e.Code != "InvalidKey" || r.err == nil {
				t.Errorf("cookie of the retired key: %+v, err %v; want InvalidKey and a failure exit", e, r.err)
			}
			fresh := cookieHeader(t, current(t, b), clk.Now)
			if r := mustRun(t, a, with("explain", "--json", "--url", courseURL, "--cookie", fresh)...); !decodeExplanation(t, r.stdout).Allowed {
				t.Errorf("fresh cookie denied: %s", r.stdout)
			}
		})
	}
}

func decodeExplanation(t *testing.T, s string) explanation {
	t.Helper()
	var e explanation
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return e
}

func TestExplainHuman(t *testing.T) {
	a, _ := testApp(t)
	dir := filepath.Join("..", "distribution", "verifier", "testdata")
	r := a.exec("explain", "--url", courseURL, "--cookie", "CloudFront-Key-Pair-Id=K1RSATESTKEY01; CloudFront-Signature=AAAA; CloudFront-Policy=AAAA",
		"--public-key", "K1RSATESTKEY01="+filepath.Join(dir, "keys", "K1RSATESTKEY01.pem"))
	if ex, ok := r.err.(exitError); !ok || ex.code != 1 {
		t.Errorf("err = %v, want exit status 1", r.err)
	}
	for _, want := range []string{"CloudFront answers: 403 MalformedPolicy", "why:", "trusted:  K1RSATESTKEY01", "key pair id K1RSATESTKEY01"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}
