package playback

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/tests/harness"
)

// visibleJS is true when the element with the given id is rendered for a
// person: in the layout, not display:none/visibility:hidden/opacity 0 on
// itself or an ancestor, and with a size.
const visibleJS = `((id) => {
  const e = document.getElementById(id);
  if (!e || !e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
  const r = e.getBoundingClientRect();
  return r.width > 0 && r.height > 0;
})(%q)`

// checkVisible asserts what a person sees in one state of the page: every id
// in shown is visible, every id in hidden is not.
func checkVisible(t *testing.T, p *harness.Page, state string, shown, hidden []string) {
	t.Helper()
	for _, id := range shown {
		if !harness.Eval[bool](p, fmt.Sprintf(visibleJS, id)) {
			t.Errorf("%s: #%s is not visible, want it shown (state %q)", state, id, p.State())
		}
	}
	for _, id := range hidden {
		if harness.Eval[bool](p, fmt.Sprintf(visibleJS, id)) {
			t.Errorf("%s: #%s is visible, want it hidden (state %q)", state, id, p.State())
		}
	}
}

// TestWhatAViewerSees walks the page through its states — logged out,
// library, playing, error, logged out again — and checks in each what is
// visible, not only what is in the DOM. CFGATE_SCREENSHOT_DIR=DIR writes a
// screenshot of each state there, to look at.
func TestWhatAViewerSees(t *testing.T) {
	d := harness.Start(t, harness.Options{})
	b := harness.NewBrowser(t)
	p := b.NewPage(t, d)
	shot := func(name string) {
		if dir := os.Getenv("CFGATE_SCREENSHOT_DIR"); dir != "" {
			if err := os.WriteFile(dir+"/"+name+".png", p.Screenshot(), 0o644); err != nil {
				t.Error(err)
			}
		}
	}

	checkVisible(t, p, "logged out",
		[]string{"login", "email", "password", "login-submit"},
		[]string{"account", "logout", "who", "library", "player"})
	shot("logged-out")

	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, p, "library",
		[]string{"account", "who", "logout", "library", "courses"},
		[]string{"login", "player"})
	if who := harness.Eval[string](p, `document.getElementById("who").textContent`); !strings.Contains(who, harness.DemoEmail) {
		t.Errorf("library: the account shows %q, want the viewer's email", who)
	}
	shot("library")

	if err := p.Play(granted, "ts"); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, p, "playing",
		[]string{"account", "logout", "library", "player", "video", "device"},
		[]string{"login", "device-panel", "player-note"})
	shot("playing")

	// A course the viewer may not watch: the page says why, visibly.
	p.StartPlay(other, "ts")
	deadline := time.Now().Add(20 * time.Second)
	for p.State() != "error" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if st := p.State(); st != "error" {
		t.Fatalf("a course not granted: state %q, want error", st)
	}
	checkVisible(t, p, "error",
		[]string{"message", "account", "library"},
		[]string{"login", "player"})
	if msg := p.Message(); msg == "" {
		t.Error("error: the message is empty")
	}
	shot("error")

	if err := p.Logout(); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, p, "logged out again",
		[]string{"login", "login-submit"},
		[]string{"account", "logout", "library", "player"})
}
