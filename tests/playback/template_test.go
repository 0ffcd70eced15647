package playback

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfgate/cfgate/tests/harness"
)

// TestTemplateDecidesSigning removes TrustedKeyGroups from the /courses/* behavior in
// a temporary copy of template.yaml: the local distribution started on that copy
// serves the media without any cookie, while the one on the real template refuses it.
func TestTemplateDecidesSigning(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	unsigned, n := dropKey(string(orig), "TrustedKeyGroups")
	if n != 1 {
		t.Fatalf("template.yaml has %d TrustedKeyGroups, want 1 (on /courses/*)", n)
	}
	tpl := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(tpl, []byte(unsigned), 0o644); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	signed := harness.Start(t, harness.Options{StateDir: state})
	if r := signed.Get(t, master(granted, "ts"), ""); r.Status != 403 {
		t.Fatalf("real template, no cookies: %d, want 403", r.Status)
	}
	signed.Stop(t)

	d := harness.Start(t, harness.Options{StateDir: state, Template: tpl})
	if !strings.Contains(d.Stdout(), "/courses/*   → s3 (media), unsigned") {
		t.Errorf("startup does not list /courses/* as unsigned:\n%s", d.Stdout())
	}
	for _, p := range []string{master(granted, "ts"), "/courses/" + granted + "/fmp4/360p/init_1.mp4", "/courses/" + other + "/ts/180p/seg000.ts"} {
		if r := d.Get(t, p, ""); r.Status != 200 {
			t.Errorf("copy without TrustedKeyGroups, no cookies: GET %s = %d, want 200", p, r.Status)
		}
	}
	if !strings.Contains(d.AccessLog(), "decision=unsigned") {
		t.Errorf("access log has no unsigned decision")
	}
}

// dropKey removes every YAML mapping key named key from the text, with its value:
// the rest of its line and the lines indented deeper below it (a block list).
// It returns the text and how many keys it removed.
func dropKey(yaml, key string) (string, int) {
	lines := strings.SplitAfter(yaml, "\n")
	var out strings.Builder
	n := 0
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if !strings.HasPrefix(trimmed, key+":") {
			out.WriteString(lines[i])
			continue
		}
		n++
		indent := len(lines[i]) - len(trimmed)
		for i+1 < len(lines) {
			next := lines[i+1]
			nt := strings.TrimLeft(next, " ")
			if strings.TrimSpace(next) != "" && len(next)-len(nt) <= indent {
				break
			}
			i++
		}
	}
	return out.String(), n
}
