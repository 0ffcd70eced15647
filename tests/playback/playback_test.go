// Package playback plays the demo courses through the local distribution in
// Debian's Chromium (chromedp) and checks what CloudFront would enforce: the
// signed-cookie flow of the player page, path scoping, logout, cookies signed
// outside cfgate, and that the behaviors come from the template.
package playback

import (
	"os"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/tests/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// courseCookies are the cookies of a custom-policy RSA-SHA1 grant.
var courseCookies = []string{"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}

const (
	granted = harness.GrantedCourse
	other   = harness.OtherCourse
)

func master(course, format string) string {
	return "/courses/" + course + "/" + format + "/master.m3u8"
}

// TestPlayback shares one distribution and one Chromium between its subtests, which
// run serially (two cores). Each subtest uses its own browser context (cookie jar).
func TestPlayback(t *testing.T) {
	extraKeys := t.TempDir() // -trusted-keys; empty at start, filled by a subtest
	// Cookies of one minute, expiry rounded to the second: the page refreshes them
	// 60 s before expiry, so at once (after its 5 s floor), which the ts subtest sees.
	d := harness.Start(t, harness.Options{TrustedKeys: extraKeys, Args: []string{"-cookie-ttl", "1m", "-cookie-bucket", "1s"}})
	b := harness.NewBrowser(t)

	for _, format := range []string{"ts", "fmp4"} {
		t.Run("granted course plays/"+format, func(t *testing.T) {
			p := b.NewPage(t, d)
			if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
				t.Fatal(err)
			}
			if err := p.Play(granted, format); err != nil {
				t.Fatalf("%v\nrequests:\n%s", err, harness.Describe(p.MediaRequests("")))
			}
			checkMedia(t, p.MediaRequests(""), granted, format)
			checkCookieAttributes(t, p)
			if format == "ts" {
				writeScreenshot(t, p)
			}
		})
	}

	t.Run("looping playback refreshes its cookies and keeps fetching", func(t *testing.T) {
		p := b.NewPage(t, d)
		if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
			t.Fatal(err)
		}
		p.StartPlayLoop(granted, "ts")
		if err := p.WaitPlaying(1, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		checkRefresh(t, p, granted)
		// A second pass over the 8 s: the first segment is fetched again.
		deadline := time.Now().Add(30 * time.Second)
		for segmentFetches(p, "seg000.ts") < 2 && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
		}
		if n := segmentFetches(p, "seg000.ts"); n < 2 {
			t.Fatalf("seg000.ts fetched %d times, want a second pass; requests:\n%s", n, harness.Describe(p.MediaRequests("")))
		}
		checkMedia(t, p.MediaRequests(""), granted, "ts")

		// The cookies vanish (a cleared cookie store, a laptop asleep past expiry) and
		// the page gets fresh ones and plays on. Which path brings them is a race:
		// the scheduled refresh comes every 5 s here, while hls.js, holding the whole
		// 8 s loop in its buffer, may not ask for a segment for longer than that. So
		// either a segment is refused first and the page's retry after the 403 brings
		// the cookies, or the refresh does before any segment is asked for. Both are
		// accepted; TestRepeated403Recovery covers the 403 path alone, with no
		// refresh due.
		accessBefore := accessCalls(p, granted)
		for _, name := range courseCookies {
			p.DeleteCookie(name, "/courses/"+granted+"/")
		}
		start := len(p.MediaRequests(""))
		deadline = time.Now().Add(30 * time.Second)
		var after []harness.Request
		seen, since := start, time.Now()
		for time.Now().Before(deadline) {
			nudge(p, &seen, &since)
			after = p.MediaRequests("")[start:]
			if okAfterLastRefusal(after) >= 2 && accessCalls(p, granted) > accessBefore {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if n := okAfterLastRefusal(after); n < 2 {
			t.Fatalf("after the cookies vanished, want 2 or more 200s with cookies after any 403, got %d; requests:\n%s", n, harness.Describe(after))
		}
		if refused, _ := statusRun(after); refused {
			t.Logf("fresh cookies came by the page's retry after a 403")
		} else {
			t.Logf("fresh cookies came by the scheduled refresh, before any segment was refused")
		}
		if accessCalls(p, granted) <= accessBefore {
			t.Errorf("no access call after the cookies vanished; requests:\n%s", harness.Describe(after))
		}
		if st := p.State(); st != "playing" {
			t.Errorf("state = %q (%s), want playing", st, p.Message())
		}
	})

	t.Run("not logged in: playlist 403 with CloudFront's XML", func(t *testing.T) {
		p := b.NewPage(t, d)
		if got := p.State(); got != "login" {
			t.Fatalf("page state = %q, want login", got)
		}
		status, body := p.Fetch(master(granted, "ts"))
		if status != 403 {
			t.Errorf("status = %d, want 403", status)
		}
		want := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>MissingKey</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message></Error>`
		if body != want {
			t.Errorf("body = %q\nwant %q", body, want)
		}
		r := d.Get(t, master(granted, "ts"), "")
		if r.Status != 403 || r.ContentType != "text/xml" {
			t.Errorf("outside the browser: %d %q, want 403 text/xml", r.Status, r.ContentType)
		}
	})

	t.Run("course not granted: access 403 and media 403", func(t *testing.T) {
		p := b.NewPage(t, d)
		if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
			t.Fatal(err)
		}
		if got := p.Access(other); got != 403 {
			t.Errorf("access %s = %d, want 403", other, got)
		}
		p.StartPlay(other, "ts")
		if err := p.WaitPlaying(0, 5*time.Second); err == nil || !strings.Contains(err.Error(), "don't have access") {
			t.Errorf("playing a course not granted: %v, want the page's not-granted message", err)
		}
		// The browser holds the granted course's cookies, path-scoped: none go to the other course.
		if got := p.Access(granted); got != 200 {
			t.Fatalf("access %s = %d, want 200", granted, got)
		}
		status, body := p.Fetch(master(other, "ts"))
		if status != 403 || !strings.Contains(body, "<Code>MissingKey</Code>") {
			t.Errorf("media of %s: %d %q, want 403 MissingKey", other, status, body)
		}
		for _, r := range p.MediaRequests(other) {
			if len(r.CookieNames) != 0 {
				t.Errorf("%s carried cookies %v", r.Path, r.CookieNames)
			}
		}
	})

	t.Run("after logout: 403", func(t *testing.T) {
		p := b.NewPage(t, d)
		if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
			t.Fatal(err)
		}
		if got := p.Access(granted); got != 200 {
			t.Fatalf("access = %d, want 200", got)
		}
		if status, _ := p.Fetch(master(granted, "ts")); status != 200 {
			t.Fatalf("before logout: %d, want 200", status)
		}
		if err := p.Logout(); err != nil {
			t.Fatal(err)
		}
		status, body := p.Fetch(master(granted, "ts"))
		if status != 403 || !strings.Contains(body, "<Code>MissingKey</Code>") {
			t.Errorf("after logout: %d %q, want 403 MissingKey", status, body)
		}
		for _, c := range p.Cookies() {
			t.Errorf("cookie %s (path %s) survived logout", c.Name, c.Path)
		}
		if got := p.Access(granted); got != 401 {
			t.Errorf("access after logout = %d, want 401", got)
		}
	})

	t.Run("one course's cookies on the other course's path: 403", func(t *testing.T) {
		p := b.NewPage(t, d)
		if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
			t.Fatal(err)
		}
		if got := p.Access(granted); got != 200 {
			t.Fatalf("access = %d, want 200", got)
		}
		cookies := p.CookieHeader("/courses/" + granted + "/")
		if n := strings.Count(cookies, "CloudFront-"); n != 3 {
			t.Fatalf("%d CloudFront cookies for %s, want 3", n, granted)
		}
		if r := d.Get(t, master(granted, "ts"), cookies); r.Status != 200 {
			t.Fatalf("own course with its cookies: %d, want 200", r.Status)
		}
		r := d.Get(t, master(other, "ts"), cookies)
		if r.Status != 403 || !strings.Contains(r.Body, "<Code>AccessDenied</Code>") {
			t.Errorf("other course with %s's cookies: %d %q, want 403 AccessDenied", granted, r.Status, r.Body)
		}
		// The same, inside the browser: cookies placed on the other course's path.
		for _, c := range strings.Split(cookies, "; ") {
			name, value, _ := strings.Cut(c, "=")
			p.SetCookie(name, value, "/courses/"+other+"/", true)
		}
		status, body := p.Fetch(master(other, "ts"))
		if status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("in the browser: %d %q, want 403 AccessDenied", status, body)
		}
	})

	t.Run("cookies signed outside cfgate (openssl) play", func(t *testing.T) {
		testExternalCookies(t, d, b, extraKeys)
	})
}

// checkMedia asserts that the playback fetched master, variant playlists and
// segments of the course, each 200 and carrying the course cookies.
func checkMedia(t *testing.T, reqs []harness.Request, course, format string) {
	t.Helper()
	kinds := map[string]int{}
	for _, r := range reqs {
		if r.Status == 0 && r.Failed == "" {
			continue // cancelled by the player (hls.js aborts what it no longer needs)
		}
		if !strings.HasPrefix(r.Path, "/courses/"+course+"/"+format+"/") {
			t.Errorf("request outside the course and format: %s", r.Path)
		}
		if r.Status != 200 {
			t.Errorf("%s %s → %d %s, want 200", r.Method, r.Path, r.Status, r.Failed)
		}
		if !r.HasCookies(courseCookies...) {
			t.Errorf("%s carried cookies %v, want %v", r.Path, r.CookieNames, courseCookies)
		}
		kinds[path.Ext(r.Path)]++
	}
	want := map[string]int{".m3u8": 2, ".ts": 3} // master + a variant; segments past 4 s
	if format == "fmp4" {
		want = map[string]int{".m3u8": 2, ".mp4": 1, ".m4s": 3}
	}
	for ext, n := range want {
		if kinds[ext] < n {
			t.Errorf("%d %s requests, want at least %d; requests:\n%s", kinds[ext], ext, n, harness.Describe(reqs))
		}
	}
}

// checkRefresh waits for the page's second access call for course (the refresh
// before the cookies expire) and checks playback carried on with the new cookies.
func checkRefresh(t *testing.T, p *harness.Page, course string) {
	t.Helper()
	count := func() int { return accessCalls(p, course) }
	deadline := time.Now().Add(15 * time.Second)
	for count() < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := count(); n < 2 {
		t.Fatalf("%d successful access calls, want a refresh (2 or more)", n)
	}
	if st := p.State(); st != "playing" {
		t.Errorf("page state after refresh = %q, want playing", st)
	}
}

// accessCalls counts the page's successful access calls for course.
func accessCalls(p *harness.Page, course string) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Method == "POST" && r.Path == "/api/courses/"+course+"/access" && r.Status == 200 {
			n++
		}
	}
	return n
}

// statusRun reports whether reqs hold a 403 and, after it, a 200 with cookies.
func statusRun(reqs []harness.Request) (refused, okAfter bool) {
	for _, r := range reqs {
		switch {
		case r.Status == 403:
			refused = true
		case refused && r.Status == 200 && r.HasCookies(courseCookies...):
			okAfter = true
		}
	}
	return refused, okAfter
}

// okAfterLastRefusal counts the 200s with the course cookies that come after
// the last 403 in reqs (all of them when there is none).
func okAfterLastRefusal(reqs []harness.Request) int {
	n := 0
	for _, r := range reqs {
		switch {
		case r.Status == 403:
			n = 0
		case r.Status == 200 && r.HasCookies(courseCookies...):
			n++
		}
	}
	return n
}

// segmentFetches counts the completed requests for a segment name, any rendition.
func segmentFetches(p *harness.Page, name string) int {
	n := 0
	for _, r := range p.MediaRequests("") {
		if path.Base(r.Path) == name && r.Status != 0 {
			n++
		}
	}
	return n
}

// checkCookieAttributes asserts the browser stored the course cookies with the
// attributes the README documents (Path=/courses/<id>/, Secure, HttpOnly, SameSite=Lax).
func checkCookieAttributes(t *testing.T, p *harness.Page) {
	t.Helper()
	n := 0
	for _, c := range p.Cookies() {
		if !strings.HasPrefix(c.Name, "CloudFront-") {
			continue
		}
		n++
		if c.Path != "/courses/"+granted+"/" || !c.Secure || !c.HTTPOnly || c.SameSite != "Lax" || !c.Session {
			t.Errorf("cookie %s: %+v, want Path=/courses/%s/ Secure HttpOnly SameSite=Lax session", c.Name, c, granted)
		}
	}
	if n != len(courseCookies) {
		t.Errorf("%d CloudFront cookies in the browser, want %d", n, len(courseCookies))
	}
}

// writeScreenshot updates docs/player.png when CFGATE_SCREENSHOT=1.
func writeScreenshot(t *testing.T, p *harness.Page) {
	t.Helper()
	if os.Getenv("CFGATE_SCREENSHOT") != "1" {
		return
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	png := p.Screenshot()
	if err := os.MkdirAll(root+"/docs", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/docs/player.png", png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/player.png (%d bytes)", len(png))
}
