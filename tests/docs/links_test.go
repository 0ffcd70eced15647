// Package docs checks the project's Markdown: every relative link and anchor
// resolves, and the README stays a page a newcomer reads (at most 250 lines,
// the two commands first).
package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the module root (the tests run in tests/docs).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", r, err)
	}
	return r
}

// markdownFiles lists the repository's Markdown files (git's list when
// there is one, else a walk), never installed packages.
func markdownFiles(t *testing.T, r string) []string {
	t.Helper()
	var files []string
	if out, err := exec.Command("git", "-C", r, "ls-files", "--cached", "--others", "--exclude-standard", "*.md").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if _, err := os.Stat(filepath.Join(r, f)); err == nil {
				files = append(files, f)
			}
		}
		return files
	}
	err := filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != r {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(r, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	inlineCode = regexp.MustCompile("`[^`]*`")
	link       = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading    = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
)

// slug is GitHub's anchor for a heading: lower case, markup and punctuation
// dropped (letters, digits, '-', '_' and spaces kept), spaces to '-'.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// parsed is one Markdown file's anchors and links (outside code).
type parsed struct {
	anchors map[string]bool
	links   []string
}

func parse(t *testing.T, path string) parsed {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{anchors: map[string]bool{}}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(b), "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := slug(m[2])
			if n := seen[s]; n > 0 {
				p.anchors[s+"-"+strconv.Itoa(n)] = true
			} else {
				p.anchors[s] = true
			}
			seen[s]++
		}
		for _, m := range link.FindAllStringSubmatch(inlineCode.ReplaceAllString(line, ""), -1) {
			p.links = append(p.links, m[1])
		}
	}
	return p
}

// TestLinksResolve: every relative link of every Markdown file names a file
// or folder that exists, and every #anchor a heading of its target.
func TestLinksResolve(t *testing.T) {
	r := root(t)
	files := markdownFiles(t, r)
	if len(files) < 5 {
		t.Fatalf("only %d Markdown files found: %v", len(files), files)
	}
	cache := map[string]parsed{}
	get := func(abs string) parsed {
		if p, ok := cache[abs]; ok {
			return p
		}
		p := parse(t, abs)
		cache[abs] = p
		return p
	}
	checked := 0
	for _, f := range files {
		abs := filepath.Join(r, f)
		for _, l := range get(abs).links {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			checked++
			target, anchor, _ := strings.Cut(l, "#")
			dest := abs
			if target != "" {
				dest = filepath.Join(filepath.Dir(abs), filepath.FromSlash(target))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %s does not exist", f, l, target)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q: an anchor into a file that is not Markdown", f, l)
				continue
			}
			if !get(dest).anchors[anchor] {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", f, l, anchor, target)
			}
		}
	}
	if checked == 0 {
		t.Error("no relative link checked")
	}
	t.Logf("%d relative links checked in %d files", checked, len(files))
}

// TestSlug pins GitHub's anchor rules for the headings the docs link to.
func TestSlug(t *testing.T) {
	for h, want := range map[string]string{
		"https, Secure cookies and plain http": "https-secure-cookies-and-plain-http",
		"Debugging a 403":                      "debugging-a-403",
		"The login API (`/api/*`)":             "the-login-api-api",
		"What it costs (estimate, 2026-11-27)": "what-it-costs-estimate-2026-11-27",
	} {
		if got := slug(h); got != want {
			t.Errorf("slug(%q) = %q, want %q", h, got, want)
		}
	}
}

// TestREADMEIsShort: the README is what a newcomer reads first: at most 250
// lines, with the two commands (run, test) in its first screen.
func TestREADMEIsShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 250 {
		t.Errorf("README.md has %d lines, want at most 250 (reference belongs in docs/)", len(lines))
	}
	first := strings.Join(lines[:min(len(lines), 15)], "\n")
	for _, cmd := range []string{"make run", "make test"} {
		if !strings.Contains(first, cmd) {
			t.Errorf("README.md's first 15 lines lack %q", cmd)
		}
	}
}
