// Package admincli is the operator CLI of cfgate's store (users, the course
// catalogue, grants and sessions, in the deployed DynamoDB table or in the
// embedded store file of the local distribution): the logic behind
// functions/login/admin, whose main only wires it to the process.
package admincli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/term"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/store/mem"
)

// Usage is the CLI's help text.
const Usage = `usage: admin [--table NAME | --local --state DIR] COMMAND [ARGS]

Manage cfgate's store: users, the course catalogue, grants and sessions.

Backends (exactly one; flags may also follow the command):
  --table NAME   the DynamoDB table (default: $TABLE_NAME), through the AWS SDK's
                 standard configuration: AWS_REGION, AWS_PROFILE, credentials
                 chain, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_DYNAMODB
  --local --state DIR
                 the local distribution's state folder, as for the keys CLI:
                 its embedded store DIR/store.json (go run ./distribution uses
                 cfgate-state, and sees changes made here without a restart);
                 created on first change

Commands:
  users add EMAIL             create a user; password from stdin or a prompt
  users set-password EMAIL    replace the password; revokes the user's sessions
  users disable EMAIL         refuse logins; revokes the user's sessions
  users enable EMAIL          allow logins again
  users unlock EMAIL          clear the failed-login counter (lockout)
  users show EMAIL [--json]   the user (never the hash), grants and lockout state
  courses add ID --title T    add a course to the catalogue (or retitle it)
  courses list [--json]       the catalogue
  grant EMAIL COURSE [--expires RFC3339 | --for DURATION]
                              let a user watch a course (no expiry by default)
  revoke EMAIL COURSE         withdraw a grant (takes effect at the next
                              cookie refresh, within the cookie lifetime)
  sessions list EMAIL [--json]
                              the user's sessions (devices), oldest first,
                              numbered: created, last seen (coarse: updated at
                              most every 5 minutes), expiry, user agent
  sessions revoke EMAIL N     log out the Nth session of sessions list
  sessions revoke-all EMAIL   log a user out everywhere
  table create                create the DynamoDB table (moto_server, local
                              setups; deployed stacks get it from template.yaml)

Passwords are never taken from the command line: on a terminal they are
prompted for twice without echo; otherwise the first line of stdin is used.
Emails are stored trimmed and in lower case. Course ids match
^[a-z0-9][a-z0-9-]{0,62}$.

Examples:
  export TABLE_NAME=cfgate-store
  go run ./functions/login/admin courses add intro-to-hls --title "Intro to HLS"
  go run ./functions/login/admin users add ada@example.com
  printf '%s\n' "$PW" | go run ./functions/login/admin users set-password ada@example.com
  go run ./functions/login/admin grant ada@example.com intro-to-hls --for 720h
  go run ./functions/login/admin grant ada@example.com intro-to-hls --expires 2027-01-31T23:59:59Z
  go run ./functions/login/admin sessions list ada@example.com
  go run ./functions/login/admin sessions revoke ada@example.com 2
  go run ./functions/login/admin sessions revoke-all ada@example.com

  AWS_ENDPOINT_URL=http://127.0.0.1:5000 go run ./functions/login/admin --table t table create
  go run ./functions/login/admin --local --state cfgate-state courses list
`

// ErrUsage is returned after the Usage text was printed for a bad command line.
var ErrUsage = errors.New("admin: usage")

// ExitCode is the process exit status for an error of Run: 2 for a bad
// command line, 1 otherwise.
func ExitCode(err error) int {
	if errors.Is(err, ErrUsage) {
		return 2
	}
	return 1
}

// env is what a command works with.
type env struct {
	ctx    context.Context
	st     store.Store
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	// tableClient is set for the DynamoDB backend (table create needs it).
	tableClient *dynamodb.Client
	table       string
}

// backend holds the backend flags, registered on every flag set so they can
// come before or after the command.
type backend struct {
	table, state string
	local        bool
}

// StoreFile is the embedded store's file in a state folder (the local
// distribution's layout).
const StoreFile = "store.json"

func (b *backend) register(fs *flag.FlagSet) {
	// The current values are the defaults: registering must not reset flags
	// given before the command.
	fs.StringVar(&b.table, "table", b.table, "DynamoDB table `NAME` (default $TABLE_NAME)")
	fs.BoolVar(&b.local, "local", b.local, "use the local distribution's state folder (--state) instead of DynamoDB")
	fs.StringVar(&b.state, "state", b.state, "the local distribution's state `folder` (with --local)")
}

// parse parses flags anywhere among the arguments and returns the positional
// arguments in order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, b *backend) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Run, with the usage
	b.register(fs)
	return fs
}

// Run is the CLI: args without the program name. stdin supplies passwords
// (see readPassword).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return RunWith(ctx, args, stdin, stdout, stderr, time.Now)
}

// command is one subcommand: its name words, how many positional arguments
// it takes, extra flags, and what it does.
type command struct {
	words []string
	args  []string // names of the positional arguments
	flags func(fs *flag.FlagSet) func(e *env, args []string) error
}

func commands() []command {
	simple := func(f func(e *env, args []string) error) func(*flag.FlagSet) func(*env, []string) error {
		return func(*flag.FlagSet) func(*env, []string) error { return f }
	}
	withJSON := func(f func(e *env, args []string, asJSON bool) error) func(*flag.FlagSet) func(*env, []string) error {
		return func(fs *flag.FlagSet) func(*env, []string) error {
			j := fs.Bool("json", false, "print JSON")
			return func(e *env, args []string) error { return f(e, args, *j) }
		}
	}
	return []command{
		{[]string{"users", "add"}, []string{"EMAIL"}, simple(usersAdd)},
		{[]string{"users", "set-password"}, []string{"EMAIL"}, simple(usersSetPassword)},
		{[]string{"users", "disable"}, []string{"EMAIL"}, simple(func(e *env, a []string) error { return usersSetDisabled(e, a, true) })},
		{[]string{"users", "enable"}, []string{"EMAIL"}, simple(func(e *env, a []string) error { return usersSetDisabled(e, a, false) })},
		{[]string{"users", "unlock"}, []string{"EMAIL"}, simple(usersUnlock)},
		{[]string{"users", "show"}, []string{"EMAIL"}, withJSON(usersShow)},
		{[]string{"courses", "add"}, []string{"ID"}, func(fs *flag.FlagSet) func(*env, []string) error {
			title := fs.String("title", "", "course `TITLE` (required)")
			return func(e *env, a []string) error { return coursesAdd(e, a[0], *title) }
		}},
		{[]string{"courses", "list"}, nil, withJSON(coursesList)},
		{[]string{"grant"}, []string{"EMAIL", "COURSE"}, func(fs *flag.FlagSet) func(*env, []string) error {
			expires := fs.String("expires", "", "grant expiry, RFC 3339 `TIME`")
			dur := fs.Duration("for", 0, "grant lifetime from now, Go `DURATION` (e.g. 720h)")
			return func(e *env, a []string) error { return grant(e, a, *expires, *dur) }
		}},
		{[]string{"revoke"}, []string{"EMAIL", "COURSE"}, simple(revoke)},
		{[]string{"sessions", "list"}, []string{"EMAIL"}, withJSON(sessionsList)},
		{[]string{"sessions", "revoke"}, []string{"EMAIL", "N"}, simple(sessionsRevoke)},
		{[]string{"sessions", "revoke-all"}, []string{"EMAIL"}, simple(sessionsRevokeAll)},
		{[]string{"table", "create"}, nil, simple(tableCreate)},
	}
}

// RunWith is Run with a clock.
func RunWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) error {
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "admin: "+format+"\n\n", a...)
		_, _ = io.WriteString(stderr, Usage)
		return ErrUsage
	}
	var b backend
	top := newFlagSet("admin", &b)
	help := top.Bool("help", false, "show usage")
	top.BoolVar(help, "h", false, "show usage")
	printUsage := func() error {
		_, err := io.WriteString(stdout, Usage)
		return err
	}
	// Global flags before the command.
	if err := top.Parse(args); errors.Is(err, flag.ErrHelp) {
		return printUsage()
	} else if err != nil {
		return bad("%v", err)
	}
	if *help {
		return printUsage()
	}
	rest := top.Args()
	if len(rest) == 0 {
		return bad("no command")
	}
	if rest[0] == "help" {
		return printUsage()
	}
	var cmd *command
	for _, c := range commands() {
		if len(rest) >= len(c.words) && strings.Join(rest[:len(c.words)], " ") == strings.Join(c.words, " ") {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		return bad("unknown command %q", strings.Join(rest[:min(2, len(rest))], " "))
	}
	name := strings.Join(cmd.words, " ")
	fs := newFlagSet(name, &b)
	do := cmd.flags(fs)
	pos, err := parse(fs, rest[len(cmd.words):])
	if errors.Is(err, flag.ErrHelp) {
		return printUsage()
	}
	if err != nil {
		return bad("%s: %v", name, err)
	}
	if len(pos) != len(cmd.args) {
		return bad("%s: want %d argument(s) %s, got %d", name, len(cmd.args), strings.Join(cmd.args, " "), len(pos))
	}

	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, now: now}
	// --local wins over $TABLE_NAME, not over --table.
	if b.table == "" && !b.local {
		b.table = os.Getenv("TABLE_NAME")
	}
	switch {
	case b.table != "" && b.local:
		return bad("--table and --local are exclusive")
	case b.local && b.state == "":
		return bad("--local needs --state DIR (the local distribution's state folder)")
	case !b.local && b.state != "":
		return bad("--state is for the local store: add --local")
	case b.table == "" && !b.local:
		return bad("no store: give --table NAME (or set TABLE_NAME) or --local --state DIR")
	}
	if b.local {
		if name == "table create" {
			return errors.New("admin: table create needs --table (the local store needs no setup)")
		}
		st, err := mem.Open(filepath.Join(b.state, StoreFile))
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		e.st = st
	} else {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("admin: AWS configuration: %w", err)
		}
		e.tableClient = dynamodb.NewFromConfig(cfg)
		e.table = b.table
		e.st = dynamo.New(e.tableClient, b.table)
	}
	if err := do(e, pos); err != nil {
		return fmt.Errorf("admin: %s: %w", name, err)
	}
	return nil
}

// Validation.

// validateCourseID is cfsign's rule, the one that decides what reaches a
// policy's Resource.
func validateCourseID(id string) error {
	if err := cfsign.ValidateCourseID(id); err != nil {
		return fmt.Errorf("invalid course id %q: want ^[a-z0-9][a-z0-9-]{0,62}$ (%w)", id, err)
	}
	return nil
}

// normalizeEmail normalises an email as the login handler does
// (store.NormalizeEmail), and checks that it is a plain address (no display
// name, no spaces).
func normalizeEmail(s string) (string, error) {
	e := store.NormalizeEmail(s)
	if e == "" || len(e) > 254 {
		return "", fmt.Errorf("invalid email %q", s)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e || strings.ContainsAny(e, " \t\r\n") {
		return "", fmt.Errorf("invalid email %q: want a plain address like ada@example.com", s)
	}
	if _, domain, _ := strings.Cut(e, "@"); !strings.Contains(domain, ".") && domain != "localhost" {
		return "", fmt.Errorf("invalid email %q: the domain has no dot", s)
	}
	return e, nil
}

// Passwords.

const minPasswordChars = 8

// readPassword reads a new password: with a terminal on stdin it prompts on
// stderr twice without echo; otherwise it reads the first line of stdin.
func readPassword(e *env, prompt string) (string, error) {
	var pw string
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(p string) (string, error) {
			fmt.Fprint(e.stderr, p)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.stderr)
			return string(b), err
		}
		first, err := ask(prompt + ": ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		second, err := ask("again: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if first != second {
			return "", errors.New("the two passwords differ")
		}
		pw = first
	} else {
		line, err := bufio.NewReader(io.LimitReader(e.stdin, password.MaxPasswordLen+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	}
	switch {
	case pw == "":
		return "", errors.New("empty password (give it on stdin or at the prompt, never as an argument)")
	case !utf8.ValidString(pw):
		return "", errors.New("password is not valid UTF-8")
	case utf8.RuneCountInString(pw) < minPasswordChars:
		return "", fmt.Errorf("password shorter than %d characters", minPasswordChars)
	case len(pw) > password.MaxPasswordLen:
		return "", fmt.Errorf("password longer than %d bytes", password.MaxPasswordLen)
	}
	return pw, nil
}

func newHash(e *env, email string) (string, error) {
	pw, err := readPassword(e, "password for "+email)
	if err != nil {
		return "", err
	}
	return password.Hash(pw)
}

// Commands.

func usersAdd(e *env, a []string) error {
	email, err := normalizeEmail(a[0])
	if err != nil {
		return err
	}
	if _, err := e.st.GetUser(e.ctx, email); err == nil {
		return fmt.Errorf("user %s exists (use users set-password)", email)
	}
	hash, err := newHash(e, email)
	if err != nil {
		return err
	}
	err = e.st.CreateUser(e.ctx, store.User{Email: email, PasswordHash: hash, CreatedAt: e.now()})
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("user %s exists (use users set-password)", email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added user %s\n", email)
	return nil
}

func getUser(e *env, raw string) (store.User, error) {
	email, err := normalizeEmail(raw)
	if err != nil {
		return store.User{}, err
	}
	u, err := e.st.GetUser(e.ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("no user %s", email)
	}
	return u, err
}

func usersSetPassword(e *env, a []string) error {
	u, err := getUser(e, a[0])
	if err != nil {
		return err
	}
	if u.PasswordHash, err = newHash(e, u.Email); err != nil {
		return err
	}
	if err := e.st.PutUser(e.ctx, u); err != nil {
		return err
	}
	n, err := e.st.DeleteUserSessions(e.ctx, u.Email)
	if err != nil {
		return fmt.Errorf("password changed, but revoking sessions failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "password of %s changed; %d session(s) revoked\n", u.Email, n)
	return nil
}

func usersSetDisabled(e *env, a []string, disabled bool) error {
	u, err := getUser(e, a[0])
	if err != nil {
		return err
	}
	u.Disabled = disabled
	if err := e.st.PutUser(e.ctx, u); err != nil {
		return err
	}
	if !disabled {
		fmt.Fprintf(e.stdout, "enabled %s\n", u.Email)
		return nil
	}
	n, err := e.st.DeleteUserSessions(e.ctx, u.Email)
	if err != nil {
		return fmt.Errorf("disabled, but revoking sessions failed: %w", err)
	}
	fmt.Fprintf(e.stdout, "disabled %s; %d session(s) revoked\n", u.Email, n)
	return nil
}

func usersUnlock(e *env, a []string) error {
	u, err := getUser(e, a[0])
	if err != nil {
		return err
	}
	if err := e.st.ResetFailures(e.ctx, u.Email); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "cleared failed logins of %s\n", u.Email)
	return nil
}

// GrantJSON is one grant in `users show --json`.
type GrantJSON struct {
	Course  string     `json:"course"`
	Expires *time.Time `json:"expires,omitempty"`
	Active  bool       `json:"active"`
}

// UserJSON is the output of `users show --json`.
type UserJSON struct {
	Email    string      `json:"email"`
	Disabled bool        `json:"disabled"`
	Created  *time.Time  `json:"created,omitempty"`
	Failures int         `json:"failures"` // in the current lockout window
	Grants   []GrantJSON `json:"grants"`
}

func usersShow(e *env, a []string, asJSON bool) error {
	u, err := getUser(e, a[0])
	if err != nil {
		return err
	}
	now := e.now()
	grants, err := e.st.ListGrants(e.ctx, u.Email)
	if err != nil {
		return err
	}
	fails, err := e.st.Failures(e.ctx, u.Email, now)
	if err != nil {
		return err
	}
	out := UserJSON{Email: u.Email, Disabled: u.Disabled, Failures: fails, Grants: []GrantJSON{}}
	if !u.CreatedAt.IsZero() {
		out.Created = &u.CreatedAt
	}
	for _, g := range grants {
		gj := GrantJSON{Course: g.CourseID, Active: g.Active(now)}
		if !g.Expires.IsZero() {
			gj.Expires = &g.Expires
		}
		out.Grants = append(out.Grants, gj)
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "email\t%s\n", u.Email)
	fmt.Fprintf(w, "disabled\t%v\n", u.Disabled)
	if out.Created != nil {
		fmt.Fprintf(w, "created\t%s\n", u.CreatedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "failed logins\t%d (current window)\n", fails)
	if len(grants) == 0 {
		fmt.Fprintf(w, "grants\tnone\n")
	}
	for _, g := range out.Grants {
		exp := "no expiry"
		if g.Expires != nil {
			exp = "until " + g.Expires.Format(time.RFC3339)
		}
		if !g.Active {
			exp = "expired " + g.Expires.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "grant\t%s\t%s\n", g.Course, exp)
	}
	return w.Flush()
}

func coursesAdd(e *env, id, title string) error {
	if err := validateCourseID(id); err != nil {
		return err
	}
	title = strings.TrimSpace(title)
	if title == "" {
		return errors.New("--title is required")
	}
	if err := e.st.PutCourse(e.ctx, store.Course{ID: id, Title: title}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "course %s: %s\n", id, title)
	return nil
}

func coursesList(e *env, _ []string, asJSON bool) error {
	cs, err := e.st.ListCourses(e.ctx)
	if err != nil {
		return err
	}
	if asJSON {
		type courseJSON struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		out := make([]courseJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, courseJSON(c))
		}
		return writeJSON(e.stdout, out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTITLE")
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%s\n", c.ID, c.Title)
	}
	return w.Flush()
}

func grant(e *env, a []string, expires string, dur time.Duration) error {
	u, err := getUser(e, a[0])
	if err != nil {
		return err
	}
	if err := validateCourseID(a[1]); err != nil {
		return err
	}
	c, err := e.st.GetCourse(e.ctx, a[1])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no course %s (add it with courses add)", a[1])
	}
	if err != nil {
		return err
	}
	g := store.Grant{Email: u.Email, CourseID: c.ID}
	now := e.now()
	switch {
	case expires != "" && dur != 0:
		return errors.New("--expires and --for are exclusive")
	case expires != "":
		if g.Expires, err = time.Parse(time.RFC3339, expires); err != nil {
			return fmt.Errorf("--expires: want RFC 3339 like 2027-01-31T23:59:59Z: %w", err)
		}
	case dur < 0:
		return fmt.Errorf("--for %v is negative", dur)
	case dur > 0:
		g.Expires = now.Add(dur)
	}
	if !g.Expires.IsZero() && !g.Expires.After(now) {
		return fmt.Errorf("expiry %s is in the past", g.Expires.Format(time.RFC3339))
	}
	if err := e.st.PutGrant(e.ctx, g); err != nil {
		return err
	}
	if g.Expires.IsZero() {
		fmt.Fprintf(e.stdout, "granted %s to %s, no expiry\n", c.ID, u.Email)
	} else {
		fmt.Fprintf(e.stdout, "granted %s to %s until %s\n", c.ID, u.Email, g.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

func revoke(e *env, a []string) error {
	email, err := normalizeEmail(a[0])
	if err != nil {
		return err
	}
	if err := validateCourseID(a[1]); err != nil {
		return err
	}
	if _, err := e.st.GetGrant(e.ctx, email, a[1]); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s has no grant for %s", email, a[1])
	} else if err != nil {
		return err
	}
	if err := e.st.DeleteGrant(e.ctx, email, a[1]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked %s from %s\n", a[1], email)
	return nil
}

// SessionJSON is one session in `sessions list --json`. It never carries
// the session id or its hash.
type SessionJSON struct {
	N         int        `json:"n"` // the number that sessions revoke takes
	Created   time.Time  `json:"created"`
	LastSeen  *time.Time `json:"lastSeen,omitempty"` // absent: not since created
	Expires   time.Time  `json:"expires"`
	Active    bool       `json:"active"`
	UserAgent string     `json:"userAgent"`
}

// userSessions lists the sessions of a user, numbered from 1 in the store's
// order (oldest first), with their id hashes (for revoke only).
func userSessions(e *env, raw string) (string, []store.Session, error) {
	email, err := normalizeEmail(raw)
	if err != nil {
		return "", nil, err
	}
	ss, err := e.st.ListUserSessions(e.ctx, email)
	return email, ss, err
}

// printable makes a stored user agent safe for a terminal line.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if s == "" {
		return "-"
	}
	return s
}

func sessionsList(e *env, a []string, asJSON bool) error {
	_, ss, err := userSessions(e, a[0])
	if err != nil {
		return err
	}
	now := e.now()
	out := make([]SessionJSON, 0, len(ss))
	for i, s := range ss {
		sj := SessionJSON{N: i + 1, Created: s.CreatedAt, Expires: s.Expires, Active: now.Before(s.Expires), UserAgent: s.UserAgent}
		if !s.LastSeen.IsZero() {
			sj.LastSeen = &s.LastSeen
		}
		out = append(out, sj)
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "N\tCREATED\tLAST SEEN\tEXPIRES\tUSER AGENT")
	for _, s := range out {
		seen := "-"
		if s.LastSeen != nil {
			seen = s.LastSeen.UTC().Format(time.RFC3339)
		}
		exp := s.Expires.UTC().Format(time.RFC3339)
		if !s.Active {
			exp = "expired " + exp
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", s.N, s.Created.UTC().Format(time.RFC3339), seen, exp, printable(s.UserAgent))
	}
	return w.Flush()
}

func sessionsRevoke(e *env, a []string) error {
	n, err := strconv.Atoi(a[1])
	if err != nil || n < 1 {
		return fmt.Errorf("invalid session number %q: want N of sessions list (1, 2, …)", a[1])
	}
	email, ss, err := userSessions(e, a[0])
	if err != nil {
		return err
	}
	if n > len(ss) {
		return fmt.Errorf("%s has %d session(s), no number %d (see sessions list)", email, len(ss), n)
	}
	s := ss[n-1]
	if err := e.st.DeleteSession(e.ctx, s.IDHash); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked session %d of %s (created %s, %s)\n", n, email, s.CreatedAt.UTC().Format(time.RFC3339), printable(s.UserAgent))
	return nil
}

func sessionsRevokeAll(e *env, a []string) error {
	email, err := normalizeEmail(a[0])
	if err != nil {
		return err
	}
	n, err := e.st.DeleteUserSessions(e.ctx, email)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked %d session(s) of %s\n", n, email)
	return nil
}

func tableCreate(e *env, _ []string) error {
	if err := dynamo.CreateTable(e.ctx, e.tableClient, e.table); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("table %s already exists", e.table)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "created table %s (PK/SK strings, on-demand, TTL on %q)\n", e.table, dynamo.TTLAttribute)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
