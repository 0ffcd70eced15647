// Package needs lets a test say which server, browser or external tool it
// needs, so that go test -short (the fast inner loop) skips it with a reason
// and prints one line per package of what it skipped.
//
// A full run (no -short, as CI runs) never skips: a missing tool is the
// caller's error, reported by the test that needs it.
//
// Every package with tests that call Tool has a TestMain that calls Main:
//
//	func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }
//
// go test prints a passing package's output only with -v, so Main writes its
// one line to the terminal (/dev/tty) when there is one, and to standard
// output as well (seen with -v, or when the package fails).
package needs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	mu      sync.Mutex
	skipped = map[string]int{} // tool -> tests skipped for it
	total   int
)

// Tool skips tb under -short with the reason "needs <tools>"; otherwise it
// does nothing. Name the tool a newcomer would install: "moto_server",
// "chromium", "ffmpeg", "openssl", "python3 (botocore)", "cfn-lint".
func Tool(tb testing.TB, tools ...string) {
	tb.Helper()
	if !testing.Short() {
		return
	}
	mu.Lock()
	total++
	for _, t := range tools {
		skipped[t]++
	}
	mu.Unlock()
	tb.Skipf("-short: needs %s", strings.Join(tools, ", "))
}

// File skips tb under -short when path does not exist, with the reason
// "needs <what>" (for example an npm package that `npm ci` installs);
// otherwise it does nothing, and the test reports a missing file itself.
func File(tb testing.TB, path, what string) {
	tb.Helper()
	if !testing.Short() {
		return
	}
	if _, err := os.Stat(path); err == nil {
		return
	}
	Tool(tb, what)
}

// Summary returns the one-line summary of what this test binary skipped, or
// "" if nothing was.
func Summary(pkg string) string {
	mu.Lock()
	defer mu.Unlock()
	if total == 0 {
		return ""
	}
	names := make([]string, 0, len(skipped))
	for t := range skipped {
		names = append(names, t)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, t := range names {
		parts[i] = fmt.Sprintf("%s (%d)", t, skipped[t])
	}
	noun := "tests that need"
	if total == 1 {
		noun = "test that needs"
	}
	return fmt.Sprintf("%s: -short skipped %d %s %s; run without -short for them", pkg, total, noun, strings.Join(parts, ", "))
}

// Main runs the tests and, if any were skipped by Tool, prints Summary.
func Main(m *testing.M) int {
	code := m.Run()
	if line := Summary(packageName()); line != "" {
		fmt.Println(line)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			_, _ = io.WriteString(tty, line+"\n")
			_ = tty.Close()
		}
	}
	return code
}

// packageName is the package's folder relative to the module root (go test
// runs a test binary in its package's folder), e.g. "internal/api".
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if rel, err := filepath.Rel(dir, wd); err == nil {
				return filepath.ToSlash(rel)
			}
			return wd
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return wd
		}
		dir = parent
	}
}
