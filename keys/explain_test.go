package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
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

// TestExplainFromStdin: --cookie - and --url - read the value from standard
// input, so live cookies stay off the command line and out of shell history.
func TestExplainFromStdin(t *testing.T) {
	c := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	a := app{awsConfig: func(context.Context) (aws.Config, error) { return aws.Config{}, errors.New("no AWS in this test") }, now: c.Now, sleep: c.Sleep}
	w := where(t, true)
	mustRun(t, a, append([]string{"init"}, w...)...)
	cookie := cookieHeader(t, current(t, backendFor(t, a, w)), c.Now)
	withStdin := func(stdin string, args ...string) result {
		var out, errb bytes.Buffer
		err := a.run(context.Background(), append(args, w...), strings.NewReader(stdin), &out, &errb)
		return result{out.String(), errb.String(), err}
	}
	for name, r := range map[string]result{
		"cookie":              withStdin("Cookie: "+cookie+"\n", "explain", "--url", courseURL, "--cookie", "-"),
		"cookie without name": withStdin(cookie, "explain", "--url", courseURL, "--cookie", "-"),
		"url":                 withStdin("  "+courseURL+"\r\n", "explain", "--url", "-", "--cookie", cookie),
	} {
		if r.err != nil || !strings.Contains(r.stdout, "CloudFront answers: 200") {
			t.Errorf("%s from stdin: err %v\n%s%s", name, r.err, r.stdout, r.stderr)
		}
	}
	// Only the value read counts: the same call with an empty Cookie header is denied.
	if r := withStdin("theme=dark\n", "explain", "--url", courseURL, "--cookie", "-"); r.err == nil || !strings.Contains(r.stdout, "403 MissingKey") {
		t.Errorf("a cookie-less header from stdin: err %v\n%s", r.err, r.stdout)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"both from stdin", courseURL, []string{"--url", "-", "--cookie", "-"}, "only one of --url and --cookie"},
		{"empty stdin", "\n", []string{"--url", courseURL, "--cookie", "-"}, "standard input is empty"},
		{"two lines", cookie + "\n" + cookie, []string{"--url", courseURL, "--cookie", "-"}, "more than one line"},
		{"too long", strings.Repeat("a", maxStdin+1), []string{"--url", courseURL, "--cookie", "-"}, "longer than"},
	} {
		r := withStdin(tc.stdin, append([]string{"explain"}, tc.args...)...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, r.err, tc.want)
		}
		if strings.Contains(fmt.Sprint(r.err)+r.stdout+r.stderr, "CloudFront-Signature=") {
			t.Errorf("%s: the cookie was echoed", tc.name)
		}
	}
}
