package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/lambdahttp"
	"github.com/cfgate/cfgate/internal/loginconfig"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// newTestInvoke wires the handler as main does, against moto, and returns
// the Lambda JSON entry point.
func newTestInvoke(t *testing.T, w *world, env map[string]string, logs *syncbuf.Buffer) func(context.Context, []byte) ([]byte, error) {
	t.Helper()
	return newTestInvokeCfg(t, w.awsCfg, env, logs)
}

// newTestInvokeCfg is newTestInvoke with the AWS configuration given.
func newTestInvokeCfg(t testing.TB, awsCfg aws.Config, env map[string]string, logs *syncbuf.Buffer) func(context.Context, []byte) ([]byte, error) {
	t.Helper()
	cfg, err := loginconfig.FromEnv(mapEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(context.Background(), cfg, awsCfg, newLogger(logs, slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	return lambda.NewHandler(lambdahttp.Handler(h)).Invoke
}

func invokeJSON(t testing.TB, invoke func(context.Context, []byte) ([]byte, error), payload []byte) []byte {
	t.Helper()
	out, err := invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	return out
}

// noSecrets checks that nothing secret reached the logs.
func noSecrets(t *testing.T, logs string, session string) {
	t.Helper()
	for _, s := range []string{testPassword, testOriginValue, "PRIVATE KEY", "CloudFront-Signature=", "CloudFront-Policy="} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
	if session != "" && strings.Contains(logs, session) {
		t.Error("logs contain the session id")
	}
}

func TestHandlerLoginAndAccess(t *testing.T) {
	w := seed(t)
	var logs syncbuf.Buffer
	invoke := newTestInvoke(t, w, w.env(), &logs)

	login := decode(t, invokeJSON(t, invoke, event(t, "login.json", "")))
	session := checkLogin(t, login)
	checkAccess(t, decode(t, invokeJSON(t, invoke, event(t, "access.json", session))), w.pub)
	// With the user hint the login set, as a browser sends it.
	hint := cookies(login)[api.UserHintCookie]
	if hint == nil || !hint.HttpOnly || !hint.Secure || hint.Path != "/api/" {
		t.Fatalf("login: user hint cookie %+v in %q", hint, login.Cookies)
	}
	hinted := withHint(session, hint.Value)
	checkAccess(t, decode(t, invokeJSON(t, invoke, event(t, "access.json", hinted))), w.pub)

	tests := []struct {
		name    string
		payload []byte
		want    int
	}{
		{"course not granted", bytes.Replace(event(t, "access.json", session), []byte("intro-to-hls"), []byte("advanced-streaming"), 2), 403},
		{"course not granted, with the hint", bytes.Replace(event(t, "access.json", hinted), []byte("intro-to-hls"), []byte("advanced-streaming"), 2), 403},
		// A well-formed session id the store does not know, with the hint
		// of a real session (sealed for another token: it does not open).
		{"unknown session with another session's hint", event(t, "access.json", withHint("Zm9yZ2VkLXNlc3Npb24taWQtdGhhdC1pcy1ub3QtciE", hint.Value)), 401},
		{"forged session", event(t, "access.json", "Zm9yZ2VkLXNlc3Npb24taWQtdGhhdC1pcy1ub3QtcmVhbA"), 401},
		{"no session", event(t, "session.json", ""), 401},
		{"course id with star", bytes.Replace(event(t, "access.json", session), []byte("/api/courses/intro-to-hls/"), []byte("/api/courses/%2A/"), 1), 404},
		{"foreign origin", bytes.Replace(event(t, "login.json", ""), []byte(`"origin": "https://`+testDomain), []byte(`"origin": "https://evil.example`), 1), 403},
		// Straight to the execute-api URL: no origin header, or a guessed one.
		{"login without the origin header", bytes.Replace(event(t, "login.json", ""), []byte(`"x-cfgate-origin-verify"`), []byte(`"x-not-the-header"`), 1), 403},
		{"login with a wrong origin value", bytes.Replace(event(t, "login.json", ""), []byte(testOriginValue), []byte("fixture-origin-verify-value-0002"), 1), 403},
		{"access without the origin header", bytes.Replace(event(t, "access.json", session), []byte(`"x-cfgate-origin-verify"`), []byte(`"x-not-the-header"`), 1), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := decode(t, invokeJSON(t, invoke, tt.payload))
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tt.want, resp.Body)
			}
			for _, c := range resp.Cookies {
				if strings.HasPrefix(c, "CloudFront-") && !strings.Contains(c, "Max-Age=0") {
					t.Errorf("CloudFront cookie set on a failure: %s", c)
				}
			}
		})
	}
	noSecrets(t, logs.String(), session)
}

func TestHandlerMissingSecretAnswers503(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["SIGNING_KEY_SECRET_ID"] = motoserver.Unique(t, "no-such-secret")
	var logs syncbuf.Buffer
	invoke := newTestInvoke(t, w, env, &logs) // starts: the key is fetched per request

	session := checkLogin(t, decode(t, invokeJSON(t, invoke, event(t, "login.json", ""))))
	resp := decode(t, invokeJSON(t, invoke, event(t, "access.json", session)))
	if resp.StatusCode != 503 || len(resp.Cookies) != 0 || !strings.Contains(resp.Body, `"error"`) {
		t.Errorf("access without a key: %d %q %s", resp.StatusCode, resp.Cookies, resp.Body)
	}
	if strings.Contains(resp.Body, "ResourceNotFound") || strings.Contains(resp.Body, env["SIGNING_KEY_SECRET_ID"]) {
		t.Errorf("internal detail in the response: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "ResourceNotFound") {
		t.Errorf("the cause is not logged: %s", logs.String())
	}
}

// TestBootstrap drives the deployable artifact itself, built as for Lambda,
// through the Runtime API; the domain comes from the SSM parameter and every
// AWS call goes to moto through AWS_ENDPOINT_URL alone.
func TestBootstrap(t *testing.T) {
	w := seed(t)
	env := w.env()
	delete(env, "DISTRIBUTION_DOMAIN")
	env["DISTRIBUTION_DOMAIN_PARAMETER"] = w.parameter
	f := startFunction(t, w, env)
	session := loginThenAccess(t, f, w, 2)

	// The process may write a request's log line after it has posted the
	// response to the Runtime API, so wait (bounded) for the last one.
	wants := []string{`"requestId":"req-1"`, `"requestId":"req-3"`, `"message":"login function ready"`, `"domain":"` + testDomain + `"`, `"message":"signing key loaded"`}
	logs := f.out.String()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !containsAll(logs, wants); {
		time.Sleep(20 * time.Millisecond)
		logs = f.out.String()
	}
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	noSecrets(t, logs, session)
}

func TestBootstrapMissingSecretAnswers503(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["SIGNING_KEY_SECRET_ID"] = motoserver.Unique(t, "no-such-secret")
	f := startFunction(t, w, env)
	session := loginThrough(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 2 { // fails closed, and keeps answering
		out, err := f.Invoke(ctx, event(t, "access.json", session))
		if err != nil {
			t.Fatalf("the function did not answer: %v", err)
		}
		if resp := decode(t, out); resp.StatusCode != 503 || len(resp.Cookies) != 0 {
			t.Errorf("access without a key: %d %q %s", resp.StatusCode, resp.Cookies, resp.Body)
		}
	}
	select {
	case <-f.exited:
		t.Fatalf("function exited: %v", f.waitErr)
	default:
	}
}

func TestBootstrapBadConfigExits(t *testing.T) {
	w := seed(t)
	f := startFunction(t, w, map[string]string{"COOKIE_TTL": "ten minutes", "PLAYER_ORIGINS": "https://a.example/app"})
	checkExitsSaying(t, f, "TABLE_NAME is required", "SIGNING_KEY_SECRET_ID is required", "DISTRIBUTION_DOMAIN", "COOKIE_TTL", "PLAYER_ORIGINS")
}

// loginThrough logs in through f, checks the answer and returns the
// session cookie's value.
func loginThrough(t *testing.T, f *function) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := f.Invoke(ctx, event(t, "login.json", ""))
	if err != nil {
		t.Fatal(err)
	}
	return checkLogin(t, decode(t, out))
}

// loginThenAccess logs in through f, then asks for /access n times, checking
// each answer; it returns the session cookie's value.
func loginThenAccess(t *testing.T, f *function, w *world, n int) string {
	t.Helper()
	session := loginThrough(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range n {
		out, err := f.Invoke(ctx, event(t, "access.json", session))
		if err != nil {
			t.Fatal(err)
		}
		checkAccess(t, decode(t, out), w.pub)
	}
	return session
}

// checkExitsSaying checks that f exits with a non-zero status, without
// having polled for an invocation, and that its output says each of wants.
func checkExitsSaying(t *testing.T, f *function, wants ...string) {
	t.Helper()
	select {
	case <-f.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the function did not exit")
	}
	var exitErr *exec.ExitError
	if !errors.As(f.waitErr, &exitErr) || exitErr.ExitCode() == 0 {
		t.Errorf("exit: %v, want a non-zero status", f.waitErr)
	}
	logs := f.out.String()
	for _, want := range wants {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %q:\n%s", want, logs)
		}
	}
	if n := f.rt.nexts.Load(); n != 0 {
		t.Errorf("the function polled for invocations %d times", n)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestHandlerKeyNotInKeyGroupAnswers503: a signing key outside KEY_GROUP_ID's
// group (CloudFront would refuse every cookie) is caught at cold start: one
// error line naming both ids, and /access answers 503 without cookies
// instead of 200 with useless ones; login still works.
func TestHandlerKeyNotInKeyGroupAnswers503(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["KEY_GROUP_ID"] = w.otherKG
	var logs syncbuf.Buffer
	invoke := newTestInvoke(t, w, env, &logs)
	if n := strings.Count(logs.String(), "CloudFront would refuse every cookie"); n != 1 {
		t.Fatalf("cold start logged the key-group problem %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), w.keyID) || !strings.Contains(logs.String(), w.otherKG) {
		t.Errorf("the log line does not name the key pair and the group:\n%s", logs.String())
	}
	session := checkLogin(t, decode(t, invokeJSON(t, invoke, event(t, "login.json", ""))))
	for range 2 {
		resp := decode(t, invokeJSON(t, invoke, event(t, "access.json", session)))
		if resp.StatusCode != 503 || len(resp.Cookies) != 0 {
			t.Errorf("access with a key outside the group: %d %q %s", resp.StatusCode, resp.Cookies, resp.Body)
		}
	}
	if n := strings.Count(logs.String(), "CloudFront would refuse every cookie"); n != 1 {
		t.Errorf("the key-group problem was logged %d times, want once", n)
	}
}
