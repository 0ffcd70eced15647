package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cfgate/cfgate/internal/admincli"
	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/store/mem"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestMain(m *testing.M) {
	testscript.Main(needsM{m}, map[string]func(){"admin": main})
}

// needsM runs the tests through needs.Main (the -short summary line).
type needsM struct{ m *testing.M }

func (n needsM) Run() int { return needs.Main(n.m) }

// TestScripts runs testdata/script/*.txtar: the compiled CLI as an operator
// uses it, including the no-echo prompt on a pseudo-terminal.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("TABLE_NAME", "")
			return nil
		},
	})
}

var fixedNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// cli runs the CLI in-process with a fixed clock.
type cli struct {
	t       *testing.T
	backend []string
}

func (c cli) run(stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errb bytes.Buffer
	err = admincli.RunWith(context.Background(), append(append([]string{}, c.backend...), args...),
		strings.NewReader(stdin), &out, &errb, func() time.Time { return fixedNow })
	if err != nil && !strings.HasPrefix(err.Error(), "admin:") {
		c.t.Errorf("error %q is not prefixed with admin:", err)
	}
	return out.String(), errb.String(), err
}

func (c cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("admin %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (c cli) fails(wantErr, stdin string, args ...string) {
	c.t.Helper()
	_, _, err := c.run(stdin, args...)
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		c.t.Fatalf("admin %s: error = %v, want one containing %q", strings.Join(args, " "), err, wantErr)
	}
}

// exercise runs the operator's workflow through the CLI and checks the
// store through st after each step.
func exercise(t *testing.T, c cli, st store.Store) {
	ctx := context.Background()
	c.ok("", "courses", "add", "intro-to-hls", "--title", "Intro to HLS")
	c.ok("", "courses", "add", "advanced-streaming", "--title=Advanced")
	if out := c.ok("", "courses", "list"); !strings.Contains(out, "advanced-streaming  Advanced\nintro-to-hls        Intro to HLS") {
		t.Errorf("courses list:\n%s", out)
	}
	var courses []map[string]string
	if err := json.Unmarshal([]byte(c.ok("", "courses", "list", "--json")), &courses); err != nil || len(courses) != 2 || courses[0]["id"] != "advanced-streaming" {
		t.Errorf("courses list --json = %v, %v", courses, err)
	}

	// Password from stdin; email normalised.
	if out := c.ok("correct horse battery\n", "users", "add", " Ada@Example.COM "); !strings.Contains(out, "added user ada@example.com") {
		t.Errorf("users add: %q", out)
	}
	u, err := st.GetUser(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(u.PasswordHash, "correct horse battery"); !ok || err != nil {
		t.Errorf("stored hash does not verify the stdin password: %v %v", ok, err)
	}
	if !u.CreatedAt.Equal(fixedNow) || u.Disabled {
		t.Errorf("user = %+v", u)
	}
	if strings.Contains(u.PasswordHash, "correct") {
		t.Error("password stored in clear")
	}
	c.fails("exists", "another password\n", "users", "add", "ada@example.com")

	// Grants.
	c.ok("", "grant", "ada@example.com", "intro-to-hls", "--for", "720h")
	g, err := st.GetGrant(ctx, "ada@example.com", "intro-to-hls")
	if err != nil || !g.Expires.Equal(fixedNow.Add(720*time.Hour)) {
		t.Errorf("grant --for: %+v, %v", g, err)
	}
	c.ok("", "grant", "ada@example.com", "advanced-streaming", "--expires", "2027-01-31T23:59:59Z")
	g, err = st.GetGrant(ctx, "ada@example.com", "advanced-streaming")
	if want := time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC); err != nil || !g.Expires.Equal(want) {
		t.Errorf("grant --expires: %+v, %v", g, err)
	}
	c.ok("", "grant", "ADA@example.com", "advanced-streaming") // replace: no expiry
	if g, _ := st.GetGrant(ctx, "ada@example.com", "advanced-streaming"); !g.Expires.IsZero() {
		t.Errorf("grant without expiry kept %v", g.Expires)
	}
	c.fails("no course", "", "grant", "ada@example.com", "missing-course")
	c.fails("no user", "", "grant", "bob@example.com", "intro-to-hls")
	c.fails("exclusive", "", "grant", "ada@example.com", "intro-to-hls", "--for", "1h", "--expires", "2027-01-01T00:00:00Z")
	c.fails("in the past", "", "grant", "ada@example.com", "intro-to-hls", "--expires", "2020-01-01T00:00:00Z")
	c.fails("RFC 3339", "", "grant", "ada@example.com", "intro-to-hls", "--expires", "tomorrow")

	var shown admincli.UserJSON
	if err := json.Unmarshal([]byte(c.ok("", "users", "show", "ada@example.com", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown.Grants) != 2 || shown.Grants[0].Course != "advanced-streaming" || !shown.Grants[1].Active {
		t.Errorf("users show --json = %+v", shown)
	}
	if out := c.ok("", "users", "show", "ada@example.com"); strings.Contains(out, "argon2") {
		t.Errorf("users show prints the hash:\n%s", out)
	}

	c.ok("", "revoke", "ada@example.com", "advanced-streaming")
	if _, err := st.GetGrant(ctx, "ada@example.com", "advanced-streaming"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant after revoke: %v", err)
	}
	c.fails("no grant", "", "revoke", "ada@example.com", "advanced-streaming")

	// Sessions: revoke-all, and disable / set-password revoke too.
	newSessions := func(n int) {
		t.Helper()
		for i := range n {
			if err := st.CreateSession(ctx, store.Session{IDHash: time.Now().Format(time.RFC3339Nano) + string(rune('a'+i)), Email: "ada@example.com", CreatedAt: fixedNow, Expires: fixedNow.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newSessions(2)
	if out := c.ok("", "sessions", "revoke-all", "ada@example.com"); !strings.Contains(out, "revoked 2 session(s)") {
		t.Errorf("sessions revoke-all: %q", out)
	}
	newSessions(1)
	if out := c.ok("", "users", "disable", "ada@example.com"); !strings.Contains(out, "1 session(s) revoked") {
		t.Errorf("users disable: %q", out)
	}
	if u, _ := st.GetUser(ctx, "ada@example.com"); !u.Disabled {
		t.Error("not disabled")
	}
	c.ok("", "users", "enable", "ada@example.com")
	if u, _ := st.GetUser(ctx, "ada@example.com"); u.Disabled {
		t.Error("still disabled")
	}
	// sessions list and revoke N: oldest first, never an id hash.
	for i, ua := range []string{"laptop", "phone", ""} {
		if err := st.CreateSession(ctx, store.Session{
			IDHash: strings.Repeat(string(rune('a'+i)), 64), Email: "ada@example.com", UserAgent: ua,
			CreatedAt: fixedNow.Add(time.Duration(-i) * time.Hour), Expires: fixedNow.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.TouchSession(ctx, strings.Repeat("b", 64), "ada@example.com", fixedNow.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := c.ok("", "sessions", "list", "ada@example.com")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "1  2026-06-01T10:00:00Z  -                     2026-06-01T13:00:00Z  -") ||
		!strings.Contains(lines[2], "2026-06-01T11:59:00Z") || !strings.HasSuffix(lines[2], "phone") || !strings.HasSuffix(lines[3], "laptop") {
		t.Errorf("sessions list:\n%s", out)
	}
	if strings.Contains(out, "aaaa") || strings.Contains(out, "bbbb") {
		t.Errorf("sessions list shows an id hash:\n%s", out)
	}
	var listed []admincli.SessionJSON
	if err := json.Unmarshal([]byte(c.ok("", "sessions", "list", "ada@example.com", "--json")), &listed); err != nil || len(listed) != 3 ||
		listed[1].N != 2 || listed[1].UserAgent != "phone" || listed[1].LastSeen == nil || !listed[1].Active {
		t.Errorf("sessions list --json: %+v, %v", listed, err)
	}
	if out := c.ok("", "sessions", "revoke", "ada@example.com", "2"); !strings.Contains(out, "revoked session 2 of ada@example.com (created 2026-06-01T11:00:00Z, phone)") {
		t.Errorf("sessions revoke: %q", out)
	}
	if _, err := st.GetSession(ctx, strings.Repeat("b", 64)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked session still stored: %v", err)
	}
	for _, h := range []string{"a", "c"} {
		if _, err := st.GetSession(ctx, strings.Repeat(h, 64)); err != nil {
			t.Errorf("session %s…: %v after revoking another", h, err)
		}
	}
	c.fails("no number 3", "", "sessions", "revoke", "ada@example.com", "3")
	c.fails("invalid session number", "", "sessions", "revoke", "ada@example.com", "x")
	if out := c.ok("", "sessions", "revoke-all", "ada@example.com"); !strings.Contains(out, "revoked 2 session(s)") {
		t.Errorf("sessions revoke-all: %q", out)
	}

	newSessions(3)
	if out := c.ok("a new passphrase\r\n", "users", "set-password", "ada@example.com"); !strings.Contains(out, "3 session(s) revoked") {
		t.Errorf("users set-password: %q", out)
	}
	u, _ = st.GetUser(ctx, "ada@example.com")
	if ok, _ := password.Verify(u.PasswordHash, "a new passphrase"); !ok {
		t.Error("new password (CRLF-terminated stdin) does not verify")
	}
	c.fails("no user", "a new passphrase\n", "users", "set-password", "nobody@example.com")

	// Lockout.
	for range 3 {
		if _, err := st.RecordFailure(ctx, "ada@example.com", fixedNow, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c.ok("", "users", "unlock", "ada@example.com")
	if n, _ := st.Failures(ctx, "ada@example.com", fixedNow); n != 0 {
		t.Errorf("failures after unlock = %d", n)
	}
}

func TestRunLocal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	c := cli{t: t, backend: []string{"--local", "--state", filepath.Dir(path)}}
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, c, st)
	c.fails("needs --table", "", "table", "create")
}

func TestRunMoto(t *testing.T) {
	srv := motoserver.Shared(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	name := motoserver.Unique(t, "admin")
	c := cli{t: t, backend: []string{"--table", name}}
	if out := c.ok("", "table", "create"); !strings.Contains(out, "created table "+name) {
		t.Errorf("table create: %q", out)
	}
	c.fails("already exists", "", "table", "create")
	st := dynamo.New(dynamodb.NewFromConfig(srv.Config(t)), name)
	exercise(t, c, st)

	// TABLE_NAME picks the table when no flag does.
	t.Setenv("TABLE_NAME", name)
	if out := (cli{t: t}).ok("", "courses", "list"); !strings.Contains(out, "intro-to-hls") {
		t.Errorf("courses list via TABLE_NAME:\n%s", out)
	}
}

func TestBackendSelection(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "store.json")
	t.Setenv("TABLE_NAME", "")
	c := cli{t: t}
	c.fails("usage", "", "courses", "list") // no backend
	state := filepath.Dir(local)
	c.fails("usage", "", "--table", "t", "--local", "--state", state, "courses", "list")
	c.fails("usage", "", "--table", "t", "courses", "list", "--local", "--state", state)
	c.fails("usage", "", "--local", "courses", "list")        // no --state
	c.fails("usage", "", "--state", state, "courses", "list") // no --local
	c.fails("usage", "", "--local", "--state", state, "--table", "t", "courses", "list")

	// --local after the command, and $TABLE_NAME does not override it.
	t.Setenv("TABLE_NAME", "some-table")
	c.ok("", "courses", "add", "intro", "--title", "Intro", "--local", "--state", state)
	if out := c.ok("", "courses", "list", "--local", "--state", state); !strings.Contains(out, "intro") {
		t.Errorf("courses list:\n%s", out)
	}
}

func TestRunRejects(t *testing.T) {
	local := filepath.Join(t.TempDir(), "store.json")
	c := cli{t: t, backend: []string{"--local", "--state", filepath.Dir(local)}}
	c.ok("", "courses", "add", "intro", "--title", "Intro")
	tests := []struct {
		name, want, stdin string
		args              []string
	}{
		{"no command", "usage", "", nil},
		{"unknown command", "usage", "", []string{"users", "destroy", "a@b.co"}},
		{"password in argv", "usage", "", []string{"users", "add", "ada@example.com", "hunter2hunter2"}},
		{"unknown flag", "usage", "", []string{"users", "add", "ada@example.com", "--password", "x"}},
		{"empty password", "empty password", "\n", []string{"users", "add", "ada@example.com"}},
		{"no stdin", "empty password", "", []string{"users", "add", "ada@example.com"}},
		{"short password", "shorter than 8", "short\n", []string{"users", "add", "ada@example.com"}},
		{"long password", "longer than 1024", strings.Repeat("x", 1025) + "\n", []string{"users", "add", "ada@example.com"}},
		{"display name", "invalid email", "", []string{"users", "show", "Ada <ada@example.com>"}},
		{"no at", "invalid email", "", []string{"users", "show", "ada.example.com"}},
		{"space", "invalid email", "", []string{"users", "show", "ada lovelace@example.com"}},
		{"dotless domain", "invalid email", "", []string{"sessions", "revoke-all", "ada@example"}},
		{"course upper case", "invalid course id", "", []string{"courses", "add", "Intro", "--title", "x"}},
		{"course star", "invalid course id", "", []string{"courses", "add", "intro*", "--title", "x"}},
		{"course dotdot", "invalid course id", "", []string{"revoke", "ada@example.com", ".."}},
		{"course leading dash", "invalid course id", "", []string{"courses", "add", "--title", "x", "--", "-intro"}},
		{"course 64 chars", "invalid course id", "", []string{"courses", "add", strings.Repeat("a", 64), "--title", "x"}},
		{"course unicode", "invalid course id", "", []string{"courses", "add", "intrö", "--title", "x"}},
		{"no title", "--title is required", "", []string{"courses", "add", "intro2"}},
		{"negative duration", "negative", "", []string{"grant", "ada@example.com", "intro", "--for", "-1h"}},
	}
	c.ok("a long enough password\n", "users", "add", "ada@example.com")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "empty password" || tt.name == "no stdin" || tt.name == "short password" || tt.name == "long password" {
				tt.args[2] = "new-" + tt.args[2] // a user that does not exist yet
			}
			cli{t: t, backend: c.backend}.fails(tt.want, tt.stdin, tt.args...)
		})
	}
	if _, err := os.Stat(local); err != nil {
		t.Fatal(err)
	}
	st, err := mem.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := st.ListCourses(context.Background())
	if len(cs) != 1 {
		t.Errorf("rejected commands changed the catalogue: %v", cs)
	}
	if _, err := st.GetUser(context.Background(), "new-ada@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rejected password created the user: %v", err)
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if err := admincli.Run(context.Background(), []string{"help"}, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users add EMAIL", "grant EMAIL COURSE", "sessions list EMAIL", "sessions revoke EMAIL N", "sessions revoke-all", "table create", "--local --state DIR", "Examples:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	out.Reset()
	if err := admincli.Run(context.Background(), []string{"grant", "--help"}, strings.NewReader(""), &out, &errb); err != nil || !strings.Contains(out.String(), "usage: admin") {
		t.Errorf("grant --help: %v, stdout %q", err, out.String())
	}
	out.Reset()
	err := admincli.Run(context.Background(), nil, strings.NewReader(""), &out, &errb)
	if !errors.Is(err, admincli.ErrUsage) || admincli.ExitCode(err) != 2 || !strings.Contains(errb.String(), "usage: admin") {
		t.Errorf("no args: err %v, stderr %q", err, errb.String())
	}
}
