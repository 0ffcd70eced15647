package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/keyops"
)

// runbookCommands returns the commands of RUNBOOK.md's ```sh blocks in
// document order. Every non-blank, non-comment line of such a block must
// be a `go run ./keys …` command: the runbook has no step a test does not run.
func runbookCommands(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds [][]string
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```") && !in:
			in = true
			if lang := strings.TrimPrefix(line, "```"); lang != "sh" {
				t.Errorf("RUNBOOK.md:%d: code block %q: use ```sh blocks of keys commands only", n, lang)
			}
		case strings.HasPrefix(line, "```"):
			in = false
		case !in || line == "" || strings.HasPrefix(line, "#"):
		default:
			words, err := shellSplit(line)
			if err != nil {
				t.Fatalf("RUNBOOK.md:%d: %v", n, err)
			}
			if len(words) < 4 || !slices.Equal(words[:3], []string{"go", "run", "./keys"}) {
				t.Errorf("RUNBOOK.md:%d: %q is not a `go run ./keys` command", n, line)
				continue
			}
			cmds = append(cmds, words[3:])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// shellSplit splits a command line as sh would for the simple forms the
// runbook uses: words, '…', "…" with $VAR, and a trailing # comment.
func shellSplit(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case c == '"':
			j := strings.IndexByte(line[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unclosed \" in %q", line)
			}
			cur.WriteString("\x00" + line[i+1:i+1+j] + "\x00") // marks a quoted, expandable span
			i, inWord = i+1+j, true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// expand replaces $NAME in a word with vars[NAME].
func expand(word string, vars map[string]string) string {
	word = strings.ReplaceAll(word, "\x00", "")
	return os.Expand(word, func(k string) string { return vars[k] })
}

// TestRunbook runs every command of RUNBOOK.md, in order, against the test
// servers (AWS commands) and a local state folder (--local commands). The
// clock moves one minute before each command (the operator typing it) and
// otherwise only while `rotate wait` sleeps: a runbook that promotes before
// the propagation wait, or finishes before the grace period, fails here.
func TestRunbook(t *testing.T) {
	cmds := runbookCommands(t)
	a, clk := testApp(t)
	state := filepath.Join(t.TempDir(), "cfgate-state")
	seen := map[string]bool{}
	for i, words := range cmds {
		clk.Add(time.Minute)
		local := slices.Contains(words, "--local")
		vars := map[string]string{"URL": courseURL}
		var where []string
		if local {
			where = []string{"--local", "--state", state}
		}
		if words[0] == "explain" {
			vars["COOKIE"] = cookieHeader(t, current(t, backendFor(t, a, where)), clk.Now)
		}
		args := make([]string, len(words))
		for j, w := range words {
			args[j] = expand(w, vars)
			if j > 0 && words[j-1] == "--state" {
				args[j] = state
			}
		}
		name := strings.ReplaceAll(strings.Join(words, " "), "\x00", `"`)
		stdin := ""
		if i := slices.Index(words, "--cookie"); i >= 0 && i+1 < len(words) && words[i+1] == "-" {
			stdin = "Cookie: " + vars["COOKIE"] + "\n" // pasted at the prompt, as the runbook says
		}
		r := a.execStdin(stdin, args...)
		if r.err != nil {
			t.Fatalf("runbook command %d `go run ./keys %s`: %v\nstdout:\n%s\nstderr:\n%s", i+1, name, r.err, r.stdout, r.stderr)
		}
		if words[0] == "explain" {
			signing := current(t, backendFor(t, a, where)).KeyPairID
			if !strings.Contains(r.stdout, "CloudFront answers: 200") || !strings.Contains(r.stdout, "key pair id "+signing) {
				t.Errorf("runbook explain of a fresh cookie: want 200 and the signing key %s:\n%s", signing, r.stdout)
			}
		}
		step := strings.Join(slices.DeleteFunc(slices.Clone(words), func(s string) bool { return strings.HasPrefix(s, "$") || strings.HasPrefix(s, "\x00") }), " ")
		if local {
			step = "local " + words[0] + " " + words[1]
		}
		seen[step] = true
		t.Logf("ran: go run ./keys %s", name)
	}
	for _, want := range []string{"init", "status", "rotate start", "rotate wait", "rotate promote", "rotate finish", "rotate abort", "rotate rollback",
		"rotate finish --force", "rotate wait --key-cache", "rotate start --kms", "init --kms", "local init --local", "local rotate start", "local rotate wait", "local rotate promote", "local rotate finish"} {
		found := false
		for s := range seen {
			found = found || strings.HasPrefix(s, want)
		}
		if !found {
			t.Errorf("the runbook has no `%s` step (steps run: %v)", want, seen)
		}
	}
	if !seen["explain --url --cookie -"] {
		t.Errorf("the runbook has no explain step (steps run: %v)", seen)
	}
	// After the whole runbook, both places are in a clean state: one signing key.
	for _, w := range [][]string{nil, {"--local", "--state", state}} {
		st := decode[keyops.Status](t, mustRun(t, a, append([]string{"status", "--json"}, w...)...).stdout)
		if len(st.Keys) != 1 || st.Keys[0].Role != "signing" || !strings.Contains(st.Next, "nothing in progress") {
			t.Errorf("status after the runbook (%v) = %+v", w, st)
		}
	}
}

func TestShellSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`go run ./keys status`, []string{"go", "run", "./keys", "status"}},
		{`go run ./keys explain --url "$URL" --cookie 'a=b; c=d'  # comment`, []string{"go", "run", "./keys", "explain", "--url", "\x00$URL\x00", "--cookie", "a=b; c=d"}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := shellSplit(tc.in)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("shellSplit = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if got := expand("\x00$URL\x00", map[string]string{"URL": "u"}); got != "u" {
		t.Errorf("expand = %q", got)
	}
}
