package playback

import (
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/tests/harness"
)

// TestWebKit plays the demo course in Safari's engine (WebKitGTK's
// MiniBrowser through WebKitWebDriver, on Xvfb), and checks that the page
// says what is wrong when WebKit drops the cookies it was just given.
func TestWebKit(t *testing.T) {
	w := harness.NewWebKit(t)
	login := func(t *testing.T, d *harness.Distribution) int {
		t.Helper()
		w.Navigate(d.URL + "/")
		if err := w.WaitFor(`["login","library","error"].includes(document.body.dataset.state)`, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		var status int
		if err := w.ExecAsync(`const done = arguments[arguments.length - 1];
			cfgate.login(arguments[0], arguments[1]).then(done, () => done(-1));`, &status, harness.DemoEmail, d.Password); err != nil {
			t.Fatalf("login: %v", err)
		}
		return status
	}
	text := func(t *testing.T, expr string) string {
		t.Helper()
		var s string
		if err := w.Exec("return String("+expr+");", &s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("plays with -insecure-cookies", func(t *testing.T) {
		d := harness.Start(t, harness.Options{Args: []string{"-insecure-cookies"}})
		if s := login(t, d); s != 200 {
			t.Fatalf("login: %d, message %q", s, text(t, `document.getElementById("message").textContent`))
		}
		if err := w.Exec(`cfgate.play(arguments[0], "ts"); return true;`, nil, granted); err != nil {
			t.Fatal(err)
		}
		// WebKitGTK's GStreamer pipeline, without a GPU and with both cores
		// busy, sometimes stalls right after the start with every segment
		// already buffered (readyState 1, currentTime ~0.2). Nothing about
		// the cookies or the media is wrong then: the segments came with
		// 200s. A small seek when the time has not moved for 5 s restarts
		// the pipeline, as a viewer's click on the timeline would.
		if err := w.Exec(`const v = document.getElementById("video");
			window.__nudge = setInterval(() => {
				if (v.currentTime === window.__lastT && !v.paused) { v.currentTime = v.currentTime + 0.1; window.__nudges = (window.__nudges || 0) + 1; }
				window.__lastT = v.currentTime;
			}, 5000); return true;`, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.WaitFor(`document.getElementById("video").currentTime > 4 || document.body.dataset.state === "error"`, 90*time.Second); err != nil {
			t.Fatalf("%v; state %s, message %q; video %s", err, text(t, "document.body.dataset.state"), text(t, `document.getElementById("message").textContent`), text(t, webkitVideoDiag))
		}
		if st := text(t, "document.body.dataset.state"); st != "playing" {
			t.Fatalf("state %q (%s), want playing past 4 s", st, text(t, `document.getElementById("message").textContent`))
		}
		if n := text(t, "window.__nudges || 0"); n != "0" {
			t.Logf("the GStreamer pipeline stalled and was nudged %s time(s)", n)
		}
		if e := text(t, "cfgate.state.hls ? 'hls.js' : 'native'"); e == "" {
			t.Error("no engine")
		}
	})

	t.Run("Secure cookies on http: the page says why and what to do", func(t *testing.T) {
		d := harness.Start(t, harness.Options{})
		if s := login(t, d); s == 200 {
			t.Fatalf("login answered 200 although WebKit drops Secure cookies on http://")
		}
		if st := text(t, "document.body.dataset.state"); st != "error" {
			t.Errorf("state %q, want error", st)
		}
		msg := text(t, `document.getElementById("message").textContent`)
		for _, want := range []string{"did not keep the sign-in cookie", "https://", "-insecure-cookies"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		var visible bool
		if err := w.Exec(`const e = document.getElementById("message"); const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";`, &visible); err != nil || !visible {
			t.Errorf("the message is not visible (%v)", err)
		}
	})
}

// webkitVideoDiag describes the video element for a failure message.
const webkitVideoDiag = `(() => { const v = document.getElementById("video"); const b = [];
  for (let i = 0; i < v.buffered.length; i++) b.push(v.buffered.start(i).toFixed(2) + "-" + v.buffered.end(i).toFixed(2));
  return JSON.stringify({t: v.currentTime, paused: v.paused, ended: v.ended, ready: v.readyState, net: v.networkState,
    error: v.error && v.error.code, buffered: b, muted: v.muted}); })()`
