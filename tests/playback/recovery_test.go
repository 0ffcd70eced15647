package playback

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cfgate/cfgate/tests/harness"
)

// TestRepeated403Recovery: a playback that meets a 403 (the cookies vanish, as
// after a laptop slept) recovers with one access call, and a later 403 in the
// same playback (the distribution stops trusting the signing key, as after a
// rotation gone wrong) gets its own single access call: the first episode's
// retry was reset once fresh cookies worked. Since fresh cookies are refused
// too in that second episode, the page asks for them once, not in a loop. The
// cookies live 10 minutes here, so no scheduled refresh comes in between.
func TestRepeated403Recovery(t *testing.T) {
	d := harness.Start(t, harness.Options{Args: []string{"-cookie-ttl", "10m"}})
	b := harness.NewBrowser(t)
	p := b.NewPage(t, d)
	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	p.StartPlayLoop(granted, "ts")
	if err := p.WaitPlaying(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// One 403 episode, then (below) a second one in the same playback: the
	// second gets its own access call only if the first episode's retry was
	// reset, which is the behavior under test. (Two cookie-deletion rounds in a
	// row depended on the looping video re-requesting segments after its wrap,
	// which was not reliable in headless Chromium.)
	for round := 1; round <= 1; round++ {
		accessBefore := accessCalls(p, granted)
		for _, name := range courseCookies {
			p.DeleteCookie(name, "/courses/"+granted+"/")
		}
		start := len(p.MediaRequests(""))
		deadline := time.Now().Add(30 * time.Second)
		var after []harness.Request
		seen, since := start, time.Now()
		for time.Now().Before(deadline) {
			nudge(p, &seen, &since)
			after = p.MediaRequests("")[start:]
			if refused, okAfter := statusRun(after); refused && okAfter {
				break
			}
			if p.State() == "error" {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if refused, okAfter := statusRun(after); !refused || !okAfter {
			t.Fatalf("round %d: want a 403 then 200s with cookies; state %q (%s); video %s; requests:\n%s",
				round, p.State(), p.Message(), harness.Eval[string](p, videoDiag), harness.Describe(after))
		}
		if st := p.State(); st != "playing" {
			t.Fatalf("round %d: state = %q (%s), want playing", round, st, p.Message())
		}
		if n := accessCalls(p, granted) - accessBefore; n != 1 {
			t.Errorf("round %d: %d access calls after the 403, want 1 (the page's retry)", round, n)
		}
		if got := harness.Eval[int](p, `cfgate.state.recoveries`); got != round {
			t.Errorf("round %d: cfgate.state.recoveries = %d, want %d", round, got, round)
		}
		// The page ends an episode when a segment whose load started after the
		// fresh cookies arrived has loaded (one that started a moment before,
		// with the new cookies already in the jar, proves nothing to it). Let
		// two more segments load before the next episode begins.
		mark := len(p.MediaRequests(""))
		seen, since = mark, time.Now()
		for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait); {
			nudge(p, &seen, &since)
			if ok200(p.MediaRequests("")[mark:]) >= 2 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if n := ok200(p.MediaRequests("")[mark:]); n < 2 {
			t.Fatalf("round %d: %d segments loaded after the recovery, want 2", round, n)
		}
	}

	// The distribution stops trusting the signing key (a rotation gone wrong): the
	// fresh cookies are refused too. The page asks for them once and never again in
	// that episode: no loop of access calls.
	pems, err := filepath.Glob(filepath.Join(d.StateDir, "trusted-keys", "*.pem"))
	if err != nil || len(pems) == 0 {
		t.Fatalf("trusted keys of the distribution: %v %v", pems, err)
	}
	accessBefore := accessCalls(p, granted)
	start := len(p.MediaRequests(""))
	for _, f := range pems {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	// refusedAfterRetry counts media refused although sent after the page's retry.
	refusedAfterRetry := func() int {
		n, retriedAt := 0, -1
		for i, r := range p.Requests() {
			if r.Method == "POST" && r.Path == "/api/courses/"+granted+"/access" && r.Status == 200 {
				retriedAt = i
			}
			if retriedAt >= 0 && i > retriedAt && r.Status == 403 && r.HasCookies(courseCookies...) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	seen, since := start, time.Now()
	for (accessCalls(p, granted) == accessBefore || refusedAfterRetry() < 3) && time.Now().Before(deadline) {
		nudge(p, &seen, &since)
		time.Sleep(250 * time.Millisecond)
	}
	after := p.MediaRequests("")[start:]
	if n := accessCalls(p, granted) - accessBefore; n != 1 {
		t.Errorf("untrusted key: %d access calls, want exactly 1; requests:\n%s", n, harness.Describe(after))
	}
	if n := refusedAfterRetry(); n < 3 {
		t.Errorf("untrusted key: %d refusals after the retry, want 3 or more; requests:\n%s", n, harness.Describe(after))
	}
}

// videoDiag describes the video element for failure messages.
const videoDiag = `(() => { const v = document.querySelector("video"); const b = [];
  for (let i = 0; i < v.buffered.length; i++) b.push(v.buffered.start(i).toFixed(1) + "-" + v.buffered.end(i).toFixed(1));
  return "t=" + v.currentTime.toFixed(2) + " paused=" + v.paused + " ended=" + v.ended + " ready=" + v.readyState + " buffered=" + b.join(","); })()`

// nudge restarts hls.js's loading at the playhead when no media request was
// made for a while. Looping playback in headless Chromium sometimes sits idle
// after the wrap to t=0 (its first segments evicted, nothing requested), which
// has nothing to do with cookies; the test needs media requests to observe.
func nudge(p *harness.Page, seen *int, since *time.Time) {
	n := len(p.MediaRequests(""))
	if n != *seen {
		*seen, *since = n, time.Now()
		return
	}
	if time.Since(*since) > 4*time.Second {
		harness.Eval[bool](p, `(() => { const h = cfgate.state.hls; if (h) h.startLoad(document.querySelector("video").currentTime); return true; })()`)
		*since = time.Now()
	}
}

// ok200 counts the requests that got 200.
func ok200(rs []harness.Request) int {
	n := 0
	for _, r := range rs {
		if r.Status == 200 {
			n++
		}
	}
	return n
}
