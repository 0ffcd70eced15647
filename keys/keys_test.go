package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// where returns the flags that select a fresh place for keys: a unique
// secret and key group on the test server, or a fresh state folder.
func where(t *testing.T, local bool) []string {
	if local {
		return []string{"--local", "--state", filepath.Join(t.TempDir(), "state")}
	}
	return []string{"--secret-name", motoserver.Unique(t, "cfgate-key"), "--name", motoserver.Unique(t, "cfgate")}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	return v
}

func TestCommands(t *testing.T) {
	for _, local := range []bool{false, true} {
		name := map[bool]string{false: "aws", true: "local"}[local]
		t.Run(name, func(t *testing.T) {
			a, clk := testApp(t)
			w := where(t, local)
			args := func(a ...string) []string { return append(a, w...) }

			r := mustRun(t, a, args("init")...)
			m := regexp.MustCompile(`^KeyGroupId=(\S+) SigningKeySecretArn=(\S+)\n$`).FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("init stdout = %q, want one line KeyGroupId=… SigningKeySecretArn=…", r.stdout)
			}
			if r2 := mustRun(t, a, args("init")...); r2.stdout != r.stdout || !strings.Contains(r2.stderr, "already initialised") {
				t.Errorf("second init: stdout %q stderr %q; want the same ids and 'already initialised'", r2.stdout, r2.stderr)
			}
			if !local {
				if !strings.HasPrefix(m[2], "arn:aws:secretsmanager:") {
					t.Errorf("SigningKeySecretArn = %q, want an ARN", m[2])
				}
				// The group id recorded on the secret is enough: no --key-group, no --name.
				r := mustRun(t, a, "status", "--json", "--secret-name", w[1])
				if st := decode[keyops.Status](t, r.stdout); st.KeyGroupID != m[1] {
					t.Errorf("status found key group %q, want %q", st.KeyGroupID, m[1])
				}
			}

			st := decode[keyops.Status](t, mustRun(t, a, args("status", "--json")...).stdout)
			first := st.SigningKeyID
			if len(st.Keys) != 1 || st.Keys[0].Role != "signing" {
				t.Errorf("status = %+v", st)
			}
			human := mustRun(t, a, args("status")...).stdout
			for _, want := range []string{"key group:", first, "signing", "next:", "rotate start"} {
				if !strings.Contains(human, want) {
					t.Errorf("status output lacks %q:\n%s", want, human)
				}
			}

			res := decode[keyops.Result](t, mustRun(t, a, args("rotate", "start", "--json")...).stdout)
			second := res.PendingKeyID
			if second == "" || !res.Changed {
				t.Fatalf("start = %+v", res)
			}
			// Promote refuses until the propagation wait since start has passed.
			r = a.exec(args("rotate", "promote")...)
			if r.err == nil || !strings.Contains(r.err.Error(), "reached CloudFront's edges") || !strings.Contains(r.err.Error(), "wait 10m0s more") {
				t.Errorf("promote right after start: err = %v, want a refusal saying to wait 10m0s", r.err)
			}
			clk.Add(9 * time.Minute)
			if r := a.exec(args("rotate", "promote", "--propagation", "9m30s")...); r.err == nil || !strings.Contains(r.err.Error(), "wait 30s more") {
				t.Errorf("promote 9m after start with --propagation 9m30s: err = %v, want a refusal saying to wait 30s", r.err)
			}
			// status --json: ages in seconds, the secret's ARN, when promote is allowed.
			raw := mustRun(t, a, args("status", "--json")...).stdout
			var js struct {
				SecretARN string `json:"signingKeySecretArn"`
				Keys      []struct {
					AgeSeconds float64 `json:"ageSeconds"`
				} `json:"keys"`
				PromoteAllowedAt time.Time `json:"promoteAllowedAt"`
			}
			if err := json.Unmarshal([]byte(raw), &js); err != nil {
				t.Fatal(err)
			}
			if len(js.Keys) != 2 || js.Keys[0].AgeSeconds < 8*60 || js.Keys[0].AgeSeconds > 3600 {
				t.Errorf("status keys = %+v; want ageSeconds in seconds (about 540)\n%s", js.Keys, raw)
			}
			if !local && !strings.HasPrefix(js.SecretARN, "arn:aws:secretsmanager:") {
				t.Errorf("status signingKeySecretArn = %q, want the secret's ARN", js.SecretARN)
			}
			if want := clk.Now().Add(time.Minute); !js.PromoteAllowedAt.Equal(want) {
				t.Errorf("status promoteAllowedAt = %s, want %s (start + 10m)", js.PromoteAllowedAt, want)
			}
			clk.Add(time.Minute)
			// Promote records the grace in force, here from shorter cookie,
			// playback URL and link settings: 3 × 1m + max(max(1m, 1m) + 1m,
			// 1m) + 30s = 5m30s.
			short := []string{"--key-cache-ttl", "1m", "--cookie-lifetime", "1m", "--cookie-bucket", "1m", "--playback-ttl", "1m", "--download-link-ttl", "1m", "--margin", "30s"}
			res = decode[keyops.Result](t, mustRun(t, a, args(append([]string{"rotate", "promote", "--json"}, short...)...)...).stdout)
			if res.SigningKeyID != second || res.RetiringKeyID != first {
				t.Errorf("promote = %+v", res)
			}
			r = a.exec(args("rotate", "finish")...)
			if r.err == nil || !strings.Contains(r.err.Error(), "grace period has not passed") || !strings.Contains(r.err.Error(), "--force") {
				t.Errorf("finish before grace: err = %v", r.err)
			}
			// finish waits for the recorded grace, not for its own defaults (4h25m).
			clk.Add(4 * time.Minute)
			if r := a.exec(args("rotate", "finish")...); r.err == nil || !strings.Contains(r.err.Error(), "1m30s from now") {
				t.Errorf("finish 4m after promote with a recorded 5m30s grace: err = %v, want a refusal 1m30s early", r.err)
			}
			clk.Add(90 * time.Second)
			mustRun(t, a, args("rotate", "finish")...)
			st = decode[keyops.Status](t, mustRun(t, a, args("status", "--json")...).stdout)
			if st.SigningKeyID != second || len(st.Keys) != 1 {
				t.Errorf("status after finish = %+v", st)
			}

			// abort and rollback
			mustRun(t, a, args("rotate", "start", "--algorithm", "ecdsa-p256")...)
			if r := mustRun(t, a, args("rotate", "abort")...); !strings.Contains(r.stdout, "aborted") {
				t.Errorf("abort output: %s", r.stdout)
			}
			mustRun(t, a, args("rotate", "start")...)
			if r := mustRun(t, a, args("rotate", "promote", "--force")...); !strings.Contains(r.stdout, "--force: promoting although") {
				t.Errorf("promote --force right after start: %s", r.stdout)
			}
			if r := mustRun(t, a, args("rotate", "rollback")...); !strings.Contains(r.stdout, second+" signs again") {
				t.Errorf("rollback output: %s", r.stdout)
			}
			mustRun(t, a, args("rotate", "finish", "--force")...)
			st = decode[keyops.Status](t, mustRun(t, a, args("status", "--json")...).stdout)
			if st.SigningKeyID != second || len(st.Keys) != 1 || !strings.Contains(st.Next, "nothing in progress") {
				t.Errorf("status after rollback + finish = %+v", st)
			}
		})
	}
}

func TestInitOut(t *testing.T) {
	a, _ := testApp(t)
	for _, local := range []bool{false, true} {
		t.Run(map[bool]string{false: "aws", true: "local"}[local], func(t *testing.T) {
			w := where(t, local)
			out := filepath.Join(t.TempDir(), "private.pem")
			mustRun(t, a, append([]string{"init", "--algorithm", "ecdsa-p256", "--out", out}, w...)...)
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("--out mode = %v, want 0600", got)
			}
			b, _ := os.ReadFile(out)
			signer, err := cfsign.ParsePrivateKeyPEM(b)
			if err != nil {
				t.Fatalf("--out is not a private key PEM: %v", err)
			}
			st := decode[keyops.Status](t, mustRun(t, a, append([]string{"status", "--json"}, w...)...).stdout)
			if _, err := cfsign.NewKey(st.SigningKeyID, cfsign.ECDSASHA256, signer); err != nil {
				t.Errorf("--out key does not match the signing key: %v", err)
			}
			// Exclusive: an existing file is never overwritten.
			r := a.exec(append([]string{"init", "--out", out}, w...)...)
			if r.err == nil || !errors.Is(r.err, os.ErrExist) {
				t.Errorf("init --out onto an existing file: err = %v, want ErrExist", r.err)
			}
			if b2, _ := os.ReadFile(out); string(b2) != string(b) {
				t.Error("existing --out file was modified")
			}
		})
	}
}

func TestPrivateKeyNeverOnDisk(t *testing.T) {
	a, _ := testApp(t)
	dir := t.TempDir()
	t.Chdir(dir)
	mustRun(t, a, append([]string{"init"}, where(t, false)...)...)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("init without --out wrote files: %v", ents)
	}
}

func TestErrors(t *testing.T) {
	a, _ := testApp(t)
	missing := []string{"--secret-name", motoserver.Unique(t, "no-such-secret"), "--name", motoserver.Unique(t, "no-group")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "exit status 2"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"rotate without step", []string{"rotate"}, "rotate needs a step"},
		{"unknown rotate step", []string{"rotate", "sideways"}, `unknown command "rotate sideways"`},
		{"stray argument", []string{"status", "extra"}, `unexpected argument "extra"`},
		{"bad algorithm", []string{"init", "--algorithm", "dsa"}, "--algorithm"},
		{"local without state", []string{"status", "--local"}, "--local needs --state"},
		{"state without local", []string{"status", "--state", "x"}, "add --local"},
		{"missing secret: start", append([]string{"rotate", "start"}, missing...), "no signing key"},
		{"missing secret: promote", append([]string{"rotate", "promote"}, missing...), "keys init"},
		{"missing secret: finish", append([]string{"rotate", "finish"}, missing...), "keys init"},
		{"explain without url", []string{"explain", "--cookie", "a=b"}, "--url is required"},
		{"explain bad public key", []string{"explain", "--url", courseURL, "--public-key", "K1"}, "want ID=FILE"},
		{"explain bad now", []string{"explain", "--url", courseURL, "--now", "yesterday", "--public-key", "K=x"}, "--now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.exec(tc.args...)
			if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
				t.Errorf("keys %v: err = %v, want it to mention %q", tc.args, r.err, tc.want)
			}
		})
	}
	if st := decode[keyops.Status](t, mustRun(t, a, append([]string{"status", "--json"}, missing...)...).stdout); !strings.Contains(st.Next, "keys init") {
		t.Errorf("status on a missing secret: next = %q", st.Next)
	}
}

// TestGraceFlags: the grace covers the login function's playback URLs and
// download links. By default promote records 4h25m (the 4h playback URL
// decides); --playback-ttl and --download-link-ttl change it as the login
// function's PLAYBACK_TTL and DOWNLOAD_LINK_TTL would; status and wait show
// the grace in force and finish keeps to it.
func TestGraceFlags(t *testing.T) {
	a, clk := testApp(t)
	w := where(t, true)
	args := func(a ...string) []string { return append(a, w...) }
	mustRun(t, a, args("init")...)
	for _, tc := range []struct {
		flags []string
		want  time.Duration
	}{
		// 3 × 5m + (4h + 5m) + 5m
		{nil, 4*time.Hour + 25*time.Minute},
		// 3 × 5m + (90m + 5m) + 5m
		{[]string{"--playback-ttl", "90m"}, 115 * time.Minute},
		// 3 × 5m + max(90m + 5m, 3h) + 5m: a link is not bucketed
		{[]string{"--playback-ttl", "90m", "--download-link-ttl", "3h"}, 3*time.Hour + 20*time.Minute},
		// the cookies decide when they live longest
		{[]string{"--playback-ttl", "1m", "--download-link-ttl", "1m", "--cookie-lifetime", "2h"}, 2*time.Hour + 25*time.Minute},
	} {
		mustRun(t, a, args("rotate", "start")...)
		clk.Add(10 * time.Minute)
		res := decode[keyops.Result](t, mustRun(t, a, args(append([]string{"rotate", "promote", "--json"}, tc.flags...)...)...).stdout)
		st := decode[keyops.Status](t, mustRun(t, a, args("status", "--json")...).stdout)
		if st.Rotation.Grace != tc.want || !st.GraceEndsAt.Equal(st.Rotation.PromotedAt.Add(tc.want)) {
			t.Errorf("promote %v: recorded grace %s ending %s, want %s after %s", tc.flags, st.Rotation.Grace, st.GraceEndsAt, tc.want, st.Rotation.PromotedAt)
		}
		// status and wait show the grace in force, whatever their own flags.
		if human := mustRun(t, a, args("status", "--playback-ttl", "1m")...).stdout; !strings.Contains(human, "grace "+tc.want.String()+" (recorded at promote)") {
			t.Errorf("promote %v: status does not show the %s grace:\n%s", tc.flags, tc.want, human)
		}
		clk.Add(tc.want - time.Second)
		if r := a.exec(args("rotate", "finish")...); r.err == nil || !strings.Contains(r.err.Error(), "grace period has not passed") || !strings.Contains(r.err.Error(), "playback URLs") {
			t.Errorf("promote %v: finish a second before the grace ends: err = %v", tc.flags, r.err)
		}
		r := mustRun(t, a, args("rotate", "wait")...)
		if !strings.Contains(r.stderr, "grace "+tc.want.String()) {
			t.Errorf("promote %v: wait does not show the %s grace:\n%s", tc.flags, tc.want, r.stderr)
		}
		fin := decode[keyops.Result](t, mustRun(t, a, args("rotate", "finish", "--json")...).stdout)
		if len(fin.RemovedKeyIDs) != 1 || fin.RemovedKeyIDs[0] != res.RetiringKeyID {
			t.Errorf("promote %v: finish removed %v, want [%s]", tc.flags, fin.RemovedKeyIDs, res.RetiringKeyID)
		}
	}
	for _, bad := range [][]string{{"--playback-ttl", "0s"}, {"--download-link-ttl", "-5m"}, {"--playback-ttl", "soon"}} {
		if r := a.exec(args(append([]string{"status"}, bad...)...)...); r.err == nil || !strings.Contains(r.stderr+r.err.Error(), strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("status %v: err = %v, stderr %q; want a refusal naming the flag", bad, r.err, r.stderr)
		}
	}
	if h := mustRun(t, a, "--help").stdout; !strings.Contains(h, "--playback-ttl 4h") || !strings.Contains(h, "--download-link-ttl 5m") {
		t.Errorf("usage does not document --playback-ttl and --download-link-ttl:\n%s", h)
	}
}

// TestConcurrentEdit: another operator edits the key group between our read
// and our write; the CLI retries on 412 and the rotation still succeeds.
func TestConcurrentEdit(t *testing.T) {
	a, _ := testApp(t)
	w := where(t, false)
	mustRun(t, a, append([]string{"init"}, w...)...)
	cfg, _ := a.awsConfig(context.Background())
	cf := cloudfront.NewFromConfig(cfg)
	b := keyops.NewAWS(cf, secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{SecretID: w[1], GroupName: w[3]})
	// Start from two terminals at once: both must end with one pending key in the group.
	done := make(chan result, 2)
	for range 2 {
		go func() { done <- a.exec(append([]string{"rotate", "start", "--json"}, w...)...) }()
	}
	var ok int
	for range 2 {
		if r := <-done; r.err == nil {
			ok++
		} else if !strings.Contains(r.err.Error(), "modified concurrently") && !strings.Contains(r.err.Error(), "pending") {
			t.Errorf("concurrent start failed unclearly: %v", r.err)
		}
	}
	if ok == 0 {
		t.Fatal("neither concurrent start succeeded")
	}
	mustRun(t, a, append([]string{"rotate", "start"}, w...)...) // resumes whatever the race left
	keys, err := b.GroupKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pending, err := b.Secret(context.Background(), keyops.Pending)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, k := range keys {
		found = found || k == pending.Secret.KeyPairID
	}
	if !found || len(keys) < 2 || len(keys) > 3 {
		t.Errorf("after concurrent starts: group %v, pending %s", keys, pending.Secret.KeyPairID)
	}
}
