package playback

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cfgate/cfgate/tests/harness"
)

// shot writes a screenshot of the page to CFGATE_SCREENSHOT_DIR/<name>.png when
// that is set, to look at.
func shot(t *testing.T, p *harness.Page, name string) {
	t.Helper()
	if dir := os.Getenv("CFGATE_SCREENSHOT_DIR"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), p.Screenshot(), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// waitVisible waits until the element with the id is visible to a person.
func waitVisible(t *testing.T, p *harness.Page, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !harness.Eval[bool](p, fmt.Sprintf(visibleJS, id)) {
		if time.Now().After(deadline) {
			t.Fatalf("#%s did not become visible within %v (state %q, message %q)", id, timeout, p.State(), p.Message())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is the element's text as rendered (innerText: what a person reads).
func text(p *harness.Page, id string) string {
	return harness.Eval[string](p, fmt.Sprintf(`document.getElementById(%q).innerText`, id))
}

// click clicks the element a CSS selector names, as a person does (mouse events
// at its position, so it must be visible).
func click(t *testing.T, p *harness.Page, css string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		t.Fatalf("click %s: %v", css, err)
	}
}

// coursePlayback returns the requests of the course's playback: playlists and
// segments under /courses/<id>/ and playlists under /api/play/<id>/, without
// those the player cancelled.
func coursePlayback(p *harness.Page, course string) []harness.Request {
	var out []harness.Request
	for _, r := range p.Requests() {
		if r.Status == 0 && r.Failed == "" {
			continue // cancelled by the player (hls.js aborts what it no longer needs)
		}
		if strings.HasPrefix(r.Path, "/courses/"+course+"/") || strings.HasPrefix(r.Path, "/api/play/"+course+"/") {
			out = append(out, r)
		}
	}
	return out
}

// signedQuery reports whether the request's URL carries CloudFront's signed-URL
// parameters.
func signedQuery(r harness.Request) bool {
	u, err := url.Parse(r.URL)
	if err != nil {
		return false
	}
	q := u.Query()
	return q.Get("Signature") != "" && q.Get("Key-Pair-Id") != ""
}

// describeURLs is harness.Describe plus whether each URL carried a signed query.
func describeURLs(reqs []harness.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "  %s %s signedQuery=%v → %d %s sent=%v cookies=%v\n", r.Method, r.Path, signedQuery(r), r.Status, r.Failed, r.Sent, r.CookieNames)
	}
	return b.String()
}

// fileRow is one line of the materials list as a person sees it.
type fileRow struct {
	Text    string `json:"text"`   // the line's rendered text, button included
	Button  string `json:"button"` // the button's aria-label
	Visible bool   `json:"visible"`
}

const fileRowsJS = `[...document.querySelectorAll("#files li")].map(li => {
  const b = li.querySelector("button");
  const r = b ? b.getBoundingClientRect() : null;
  return {text: li.innerText, button: b ? b.getAttribute("aria-label") : "",
    visible: !!b && b.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) && r.width > 0 && r.height > 0};
})`

// TestMaterialsDownload: under the player the demo course's PDF is listed (its
// title or name, type and size, a Download button, all visible), and a click on
// the button asks the API for a link and downloads exactly the file's bytes
// (Chromium's download events, into a temporary folder) while the page stays
// where it is, playing.
func TestMaterialsDownload(t *testing.T) {
	d := harness.Start(t, harness.Options{})
	b := harness.NewBrowser(t)
	dir := t.TempDir()
	p := b.NewPageWith(t, d, harness.PageOptions{Downloads: dir})
	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	if err := p.Play(granted, "ts"); err != nil {
		t.Fatal(err)
	}
	waitVisible(t, p, "materials", 20*time.Second)
	rows := harness.Eval[[]fileRow](p, fileRowsJS)
	var pdf string
	for _, r := range rows {
		if name, ok := strings.CutPrefix(r.Button, "Download "); ok && strings.HasSuffix(name, ".pdf") {
			pdf = name
			if !r.Visible {
				t.Errorf("the Download button of %s is not visible", name)
			}
			if !strings.Contains(r.Text, "PDF") || !strings.Contains(r.Text, " KB") && !strings.Contains(r.Text, " bytes") {
				t.Errorf("the line of %s reads %q, want its type (PDF) and a human-readable size", name, r.Text)
			}
		}
	}
	if pdf == "" {
		t.Fatalf("no PDF listed under the player; rows %+v", rows)
	}
	want := demoFile(t, granted, pdf)
	if rows := fmt.Sprint(rows); !strings.Contains(rows, humanSize(len(want))) {
		t.Errorf("the list %s does not show the PDF's size %q", rows, humanSize(len(want)))
	}
	shot(t, p, "materials")

	harness.Eval[bool](p, `(window.sameDocument = true)`) // gone if the page navigated away
	before := harness.Eval[float64](p, `document.getElementById("video").currentTime`)
	click(t, p, fmt.Sprintf(`#files button[aria-label="Download %s"]`, pdf))
	dl, err := p.WaitDownload(1, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\nrequests:\n%s", err, describeURLs(p.Requests()))
	}
	if dl.State != "completed" {
		t.Fatalf("download %s: state %s, want completed", pdf, dl.State)
	}
	if dl.SuggestedFilename != pdf {
		t.Errorf("download saved as %q, want %q", dl.SuggestedFilename, pdf)
	}
	got, err := os.ReadFile(filepath.Join(dir, dl.GUID))
	if err != nil {
		t.Fatalf("downloaded file: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("downloaded %d bytes, want the %d bytes of %s exactly", len(got), len(want), pdf)
	}
	// The download came from a signed link the page asked for, for exactly that file.
	u, err := url.Parse(dl.URL)
	if err != nil || u.Path != "/courses/"+granted+"/files/"+pdf || u.Query().Get("Signature") == "" {
		t.Errorf("downloaded from %s (query omitted), want /courses/%s/files/%s with a signature", u.Path, granted, pdf)
	}
	var asked bool
	for _, r := range p.Requests() {
		if r.Method == "POST" && r.Path == "/api/courses/"+granted+"/files/"+pdf+"/link" && r.Status == 200 {
			asked = true
		}
	}
	if !asked {
		t.Errorf("no 200 POST …/files/%s/link; requests:\n%s", pdf, describeURLs(p.Requests()))
	}
	// The page stayed: same document at the same address, still playing (the
	// video did not start over), no error.
	if !harness.Eval[bool](p, `window.sameDocument === true`) {
		t.Error("the page navigated away for the download")
	}
	if loc := harness.Eval[string](p, `location.pathname + location.hash`); loc != "/" {
		t.Errorf("after the download the page is at %q, want /", loc)
	}
	if st := p.State(); st != "playing" {
		t.Errorf("after the download: state %q (%s), want playing", st, p.Message())
	}
	if now := harness.Eval[float64](p, `document.getElementById("video").currentTime`); now < before {
		t.Errorf("the video went back from %.2fs to %.2fs during the download", before, now)
	}
	if msg := text(p, "files-message"); msg != "The download of "+pdf+" has started." {
		t.Errorf("files message %q, want it to say the download started", msg)
	}
	shot(t, p, "materials-downloaded")
}

// demoFile reads a material of the demo course from the repository.
func demoFile(t *testing.T, course, name string) []byte {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "distribution", "demo", "media", "courses", course, "files", name))
	if err != nil {
		t.Fatalf("the demo course's file: %v", err)
	}
	return b
}

// humanSize is how the page writes a size (app.js humanSize).
func humanSize(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n) / 1024
	units := []string{"KB", "MB", "GB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// TestPlayOnAnotherDevice: "Play on another device" shows (only when asked) a
// URL with its expiry; a plain Go HTTP client with no cookie jar gets the
// playlist from it; and Chromium plays the course from it in a browser that
// stores no cookies: a second Chromium with its own setting "Block all cookies"
// (harness.NewCookielessBrowser), opened on the page's #play=<URL> link. There
// playback advances, every playlist and segment is 200, no request carries a
// Cookie header, and the jar is still empty at the end.
func TestPlayOnAnotherDevice(t *testing.T) {
	d := harness.Start(t, harness.Options{})
	b := harness.NewBrowser(t)
	p := b.NewPage(t, d)
	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	if err := p.Play(granted, "ts"); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, p, "playing", []string{"device"}, []string{"device-panel", "device-url"})
	if v := harness.Eval[string](p, `document.getElementById("device-url").value`); v != "" {
		t.Errorf("the URL is in the page before it was asked for")
	}

	click(t, p, "#device")
	waitVisible(t, p, "device-url", 20*time.Second)
	checkVisible(t, p, "another device", []string{"device-panel", "device-url", "device-copy", "device-expires", "device-page-link"}, []string{"device-error"})
	streamURL := harness.Eval[string](p, `document.getElementById("device-url").value`)
	pageLink := harness.Eval[string](p, `document.getElementById("device-page-link").href`)
	prefix := d.URL + "/api/play/" + granted + "/ts/master.m3u8?"
	if !strings.HasPrefix(streamURL, prefix) {
		t.Fatalf("the URL shown starts %.60q, want %q", streamURL, prefix)
	}
	if exp := text(p, "device-expires"); !strings.HasPrefix(exp, "Works until ") {
		t.Errorf("expiry line %q, want \"Works until …\"", exp)
	}
	if sel := harness.Eval[string](p, `document.getSelection().toString() || (() => { const e = document.getElementById("device-url"); return e.value.substring(e.selectionStart, e.selectionEnd); })()`); sel != streamURL {
		t.Errorf("the URL is not selected for copying (selection of %d characters)", len(sel))
	}
	// Copy: with the clipboard allowed, the button says so and the clipboard
	// holds the URL.
	p.GrantPermissions("clipboard-read", "clipboard-write")
	click(t, p, "#device-copy")
	for deadline := time.Now().Add(10 * time.Second); text(p, "device-copy") == "Copy" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if got := text(p, "device-copy"); got != "Copied" {
		t.Errorf("copy button reads %q after a click, want Copied", got)
	}
	if clip := harness.Eval[string](p, `navigator.clipboard.readText()`); clip != streamURL {
		t.Errorf("the clipboard holds %d characters, not the URL", len(clip))
	}
	shot(t, p, "another-device")
	// The same button hides the URL again, and takes it out of the page.
	if got := text(p, "device"); got != "Hide the URL" {
		t.Errorf("the button reads %q while the URL is shown, want \"Hide the URL\"", got)
	}
	click(t, p, "#device")
	checkVisible(t, p, "URL hidden", []string{"device"}, []string{"device-panel", "device-url"})
	if v := harness.Eval[string](p, `document.getElementById("device-url").value + document.getElementById("device-page-link").getAttribute("href")`); v != "#" {
		t.Errorf("the URL stayed in the page after hiding it")
	}

	// A plain HTTP client, no cookie jar: the master playlist.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(streamURL)
	if err != nil {
		t.Fatalf("GET the URL: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "#EXTM3U") || !strings.Contains(string(body), "#EXT-X-STREAM-INF") {
		t.Fatalf("GET the URL without cookies: %d %q, want 200 and a master playlist", resp.StatusCode, truncate(string(body), 200))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("Content-Type %q, want application/vnd.apple.mpegurl", ct)
	}

	// Another browser, which stores no cookies, opens the page's link.
	wantLink := d.URL + "/#play=" + url.QueryEscape(streamURL)
	if pageLink != strings.ReplaceAll(wantLink, "+", "%20") && pageLink != wantLink {
		t.Errorf("the browser link is not /#play=<the URL>")
	}
	none := harness.NewCookielessBrowser(t).NewPageWith(t, d, harness.PageOptions{Path: strings.TrimPrefix(pageLink, d.URL)})
	if err := none.WaitPlaying(4, 45*time.Second); err != nil {
		t.Fatalf("%v\nrequests:\n%s", err, describeURLs(none.Requests()))
	}
	checkVisible(t, none, "playing from a link", []string{"player", "video", "player-note"}, []string{"login", "library", "account", "player-actions", "materials"})
	if note := text(none, "player-note"); !strings.Contains(note, "shared link") || !strings.Contains(note, "works until") {
		t.Errorf("note %q, want it to say the video plays from a shared link and until when", note)
	}
	if h := harness.Eval[string](none, `location.hash`); h != "" {
		t.Errorf("the signed URL stayed in the address bar (hash of %d characters)", len(h))
	}
	reqs := coursePlayback(none, granted)
	checkCookieless(t, reqs, granted, "ts")
	for _, r := range none.Requests() {
		if strings.HasPrefix(r.Path, "/api/") && !strings.HasPrefix(r.Path, "/api/play/") {
			t.Errorf("the page called %s %s; a #play= link needs no API call", r.Method, r.Path)
		}
		if r.Cookie != "" || len(r.CookieNames) != 0 {
			t.Errorf("%s %s carried cookies %v", r.Method, r.Path, r.CookieNames)
		}
	}
	if c := none.Cookies(); len(c) != 0 {
		t.Errorf("the browser that stores no cookies holds %v", c)
	}
	// It does block cookies: a login there keeps no session, and the page says so.
	login := harness.NewCookielessBrowser(t).NewPage(t, d)
	if err := login.Login(harness.DemoEmail, harness.DemoPassword); err == nil || !strings.Contains(err.Error(), "blocks cookies for this site") {
		t.Errorf("login in the browser that blocks cookies: %v, want the page's cookies-refused message", err)
	}
	shot(t, none, "link-playing")
}

// checkCookieless asserts a playback from the cookie-less URL: playlists from
// /api/play/, segments from /courses/ with the signed query, every one 200 and
// sent with no Cookie header at all.
func checkCookieless(t *testing.T, reqs []harness.Request, course, format string) {
	t.Helper()
	kinds := map[string]int{}
	for _, r := range reqs {
		checkCookielessRequest(t, r)
		ext := path.Ext(r.Path)
		switch {
		case ext == ".m3u8" && !strings.HasPrefix(r.Path, "/api/play/"+course+"/"+format+"/"):
			t.Errorf("playlist %s not from /api/play/%s/%s/", r.Path, course, format)
		case ext != ".m3u8" && !strings.HasPrefix(r.Path, "/courses/"+course+"/"+format+"/"):
			t.Errorf("segment %s not from /courses/%s/%s/", r.Path, course, format)
		}
		kinds[ext]++
	}
	want := map[string]int{".m3u8": 2, ".ts": 3}
	if format == "fmp4" {
		want = map[string]int{".m3u8": 2, ".mp4": 1, ".m4s": 3}
	}
	for ext, n := range want {
		if kinds[ext] < n {
			t.Errorf("%d %s requests, want at least %d; requests:\n%s", kinds[ext], ext, n, describeURLs(reqs))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestCookieRefusedFallback: a browser that keeps the session cookie but refuses
// the course's CloudFront-* cookies still plays the course: the first playlist is
// refused (403, sent without cookies), the page asks for the cookie-less URL and
// plays from it, and says so under the video. The refusal: every response is held
// (Fetch interception) until the CloudFront-* cookies it set are deleted from the
// jar (harness.PageOptions.RefuseCookie), so the page never finds them stored.
func TestCookieRefusedFallback(t *testing.T) {
	d := harness.Start(t, harness.Options{})
	b := harness.NewBrowser(t)
	p := b.NewPageWith(t, d, harness.PageOptions{RefuseCookie: func(name string) bool {
		return strings.HasPrefix(name, "CloudFront-")
	}})
	if err := p.Login(harness.DemoEmail, harness.DemoPassword); err != nil {
		t.Fatal(err)
	}
	p.StartPlay(granted, "fmp4")
	if err := p.WaitPlaying(4, 45*time.Second); err != nil {
		t.Fatalf("%v\nrequests:\n%s", err, describeURLs(p.Requests()))
	}
	refused := p.RefusedCookies()
	for _, name := range courseCookies {
		if !slices.Contains(refused, name) {
			t.Errorf("cookie %s was not refused (refused: %v): the test did not block what it says", name, refused)
		}
	}
	for _, c := range p.Cookies() {
		if strings.HasPrefix(c.Name, "CloudFront-") {
			t.Errorf("the browser holds %s", c.Name)
		}
	}
	checkVisible(t, p, "fallback", []string{"player", "video", "player-note", "device"}, []string{"login"})
	if note := text(p, "player-note"); !strings.Contains(note, "did not accept the course's cookies") {
		t.Errorf("note %q, want it to say the browser refused the cookies", note)
	}
	if mode := harness.Eval[string](p, `cfgate.state.mode`); mode != "url" {
		t.Errorf("mode %q, want url", mode)
	}
	if n := harness.Eval[int](p, `cfgate.state.fallbacks`); n != 1 {
		t.Errorf("%d fallbacks, want 1", n)
	}

	// Before: the one cookie-authorized attempt, the master playlist, refused.
	// After: all from the cookie-less URL, all 200.
	var before, after []harness.Request
	for _, r := range coursePlayback(p, granted) {
		if signedQuery(r) {
			after = append(after, r)
		} else {
			before = append(before, r)
		}
	}
	if len(before) != 1 || before[0].Path != master(granted, "fmp4") || before[0].Status != 403 {
		t.Errorf("want exactly one request before the fallback, the master playlist refused; got:\n%s", describeURLs(before))
	}
	checkCookielessCourse(t, after, granted, "fmp4")
	var asked int
	for _, r := range p.Requests() {
		if r.Method == "POST" && r.Path == "/api/courses/"+granted+"/playback" && r.Status == 200 {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("%d successful playback calls, want 1", asked)
	}
	shot(t, p, "fallback")
}

// checkCookielessCourse is checkCookieless for a browser that holds the session
// cookie (Path=/api/, so it goes along with /api/play/ playlists, which ignore
// it): no CloudFront cookie on any request.
func checkCookielessCourse(t *testing.T, reqs []harness.Request, course, format string) {
	t.Helper()
	var courses []harness.Request
	for _, r := range reqs {
		for _, n := range r.CookieNames {
			if strings.HasPrefix(n, "CloudFront-") {
				t.Errorf("%s carried %s", r.Path, n)
			}
		}
		if strings.HasPrefix(r.Path, "/courses/") {
			courses = append(courses, r)
		} else if r.Status != 200 {
			t.Errorf("%s %s → %d, want 200", r.Method, r.Path, r.Status)
		}
	}
	checkCookielessSegments(t, courses, course, format)
}

// checkCookielessRequest asserts one request of a cookie-less playback:
// answered 200, sent with no Cookie header at all, carrying the signed query.
func checkCookielessRequest(t *testing.T, r harness.Request) {
	t.Helper()
	if r.Status != 200 {
		t.Errorf("%s %s → %d %s, want 200", r.Method, r.Path, r.Status, r.Failed)
	}
	if !r.Sent {
		t.Errorf("%s: Chromium reported no request headers, so the test cannot tell what it sent", r.Path)
	} else if r.Cookie != "" {
		t.Errorf("%s sent a Cookie header (%d cookies)", r.Path, strings.Count(r.Cookie, "=")) // never the value
	}
	if !signedQuery(r) {
		t.Errorf("%s carried no signed query", r.Path)
	}
}

// checkCookielessSegments: segments from /courses/ with the signed query, 200,
// no Cookie header.
func checkCookielessSegments(t *testing.T, reqs []harness.Request, course, format string) {
	t.Helper()
	n := 0
	for _, r := range reqs {
		checkCookielessRequest(t, r)
		if !strings.HasPrefix(r.Path, "/courses/"+course+"/"+format+"/") {
			t.Errorf("segment %s not from /courses/%s/%s/", r.Path, course, format)
		}
		n++
	}
	if n < 4 {
		t.Errorf("%d segments from the cookie-less URL, want at least 4 (init + 3); requests:\n%s", n, describeURLs(reqs))
	}
}
