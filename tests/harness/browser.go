package harness

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// ChromiumPath finds Debian's chromium (CHROMIUM_PATH overrides).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	needs.Tool(t, "chromium")
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: apt-get install -y chromium (make test installs it), or set CHROMIUM_PATH")
	return ""
}

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	ctx context.Context
}

// NewBrowser starts headless Chromium (no sandbox, no GPU, no QUIC, no background
// networking: loopback is all the test machines have) with a fresh user data dir;
// it is closed when the test ends.
func NewBrowser(t testing.TB) *Browser {
	t.Helper()
	return newBrowser(t, t.TempDir())
}

func newBrowser(t testing.TB, userData string) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(userData),
		chromedp.WindowSize(1000, 860),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now, outside any timeout
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{ctx: ctx}
}

// Request is one network request the page made, as Chromium saw it.
type Request struct {
	ID          string
	Method      string
	URL         string
	Path        string
	Status      int      // 0 if no response (failed or pending)
	Failed      string   // Chromium's error text when the load failed
	CookieNames []string // names of the cookies Chromium sent, in header order
	// Cookie is the raw Cookie header sent. Tests may compare it, never print it.
	Cookie string
	// Sent is true once Chromium reported the headers it put on the wire
	// (requestWillBeSentExtraInfo): only then do CookieNames and Cookie tell
	// what was sent.
	Sent bool
}

// HasCookies reports whether the request carried every named cookie.
func (r Request) HasCookies(names ...string) bool {
	for _, n := range names {
		if !slices.Contains(r.CookieNames, n) {
			return false
		}
	}
	return true
}

// Page is one tab on a Distribution, recording its network requests.
type Page struct {
	Ctx  context.Context
	Dist *Distribution
	t    testing.TB

	mu        sync.Mutex
	reqs      map[network.RequestID]*Request
	order     []network.RequestID
	refused   []string    // cookie names refused (PageOptions.RefuseCookie)
	downloads []*Download // PageOptions.Downloads
}

// NewPage opens a tab in a new browser context (its own cookie jar, like a fresh
// incognito window), turns network capture on and loads the player page.
func (b *Browser) NewPage(t testing.TB, d *Distribution) *Page {
	t.Helper()
	return b.NewPageWith(t, d, PageOptions{})
}

func (p *Page) req(id network.RequestID) *Request {
	r, ok := p.reqs[id]
	if !ok {
		r = &Request{ID: string(id)}
		p.reqs[id] = r
		p.order = append(p.order, id)
	}
	return r
}

// onEvent runs on chromedp's reader goroutine: record and return.
func (p *Page) onEvent(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		r := p.req(e.RequestID)
		r.Method, r.URL = e.Request.Method, e.Request.URL
		if u, err := url.Parse(e.Request.URL); err == nil {
			r.Path = u.Path
		}
	case *network.EventRequestWillBeSentExtraInfo:
		r := p.req(e.RequestID)
		r.Sent = true
		r.CookieNames = nil
		for _, c := range e.AssociatedCookies {
			if len(c.BlockedReasons) == 0 && c.Cookie != nil {
				r.CookieNames = append(r.CookieNames, c.Cookie.Name)
			}
		}
		for k, v := range e.Headers {
			if strings.EqualFold(k, "cookie") {
				if s, ok := v.(string); ok {
					r.Cookie = s
				}
			}
		}
	case *network.EventResponseReceived:
		p.req(e.RequestID).Status = int(e.Response.Status)
	case *network.EventLoadingFailed:
		if !e.Canceled {
			p.req(e.RequestID).Failed = e.ErrorText
		}
	}
}

// Requests returns every request recorded so far, in the order they started.
func (p *Page) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, *p.reqs[id])
	}
	return out
}

// MediaRequests returns the recorded requests under /courses/ (playlists, init and
// media segments), optionally only those for one course.
func (p *Page) MediaRequests(course string) []Request {
	var out []Request
	prefix := "/courses/"
	if course != "" {
		prefix += course + "/"
	}
	for _, r := range p.Requests() {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (p *Page) ResetRequests() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = map[network.RequestID]*Request{}
	p.order = nil
}

// Open navigates the tab to path (with query) on the distribution.
func (p *Page) Open(path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(p.Dist.URL+path)); err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	// The page decides between login form and library after GET /api/session.
	// A page opened with #play=<URL> starts playing without a session.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`["login","library","error","starting","playing"].includes(document.body.dataset.state)`)); err != nil {
		p.t.Fatalf("open %s: page did not settle: %v (state %q)", path, err, p.State())
	}
}

// Eval evaluates a JavaScript expression in the page (promises are awaited) and
// decodes its value into T.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// State is the page's data-state: login, library, starting, playing, error.
func (p *Page) State() string {
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.state || ""`))
	return s
}

// Message is the text of the page's status message.
func (p *Page) Message() string {
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("message").textContent`))
	return s
}

// Login fills the login form and submits it, then waits for the library (or an error).
// It returns the page's message when the login did not succeed.
func (p *Page) Login(email, password string) error {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	); err != nil {
		return fmt.Errorf("login form: %w", err)
	}
	ok, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`document.body.dataset.state === "library" || document.getElementById("message").classList.contains("error")`))
	if err != nil || !ok {
		return fmt.Errorf("login: no outcome: %v", err)
	}
	if st := p.State(); st != "library" {
		return fmt.Errorf("login failed: %q", p.Message())
	}
	return nil
}

// Logout clicks the logout button and waits for the login form.
func (p *Page) Logout() error {
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout"))); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.body.dataset.state === "login"`)); err != nil {
		return fmt.Errorf("logout: %w (state %q)", err, p.State())
	}
	return nil
}

// Access calls POST /api/courses/{course}/access from the page (as the player does)
// and returns the HTTP status.
func (p *Page) Access(course string) int {
	p.t.Helper()
	return Eval[int](p, fmt.Sprintf(`cfgate.access(%q)`, course))
}

// StartPlay asks the page to play course in format ("ts" or "fmp4") without waiting:
// the page calls the access API first, as a viewer's click does.
func (p *Page) StartPlay(course, format string) {
	p.t.Helper()
	Eval[bool](p, fmt.Sprintf(`(cfgate.play(%q, %q), true)`, course, format))
}

// StartPlayLoop plays course in format in a loop with a short buffer, so media
// requests go on as long as the test wants (for drills that change keys meanwhile);
// the page refreshes its cookies through the access API as usual.
func (p *Page) StartPlayLoop(course, format string) {
	p.t.Helper()
	Eval[bool](p, fmt.Sprintf(`(cfgate.play(%q, %q, {loop: true}), true)`, course, format))
}

// StartPlayWithHeldCookies plays course with the cookies the browser already holds
// (signed elsewhere), without calling the access API.
func (p *Page) StartPlayWithHeldCookies(course, format string) {
	p.t.Helper()
	Eval[bool](p, fmt.Sprintf(`(cfgate.play(%q, %q, {access: false}), true)`, course, format))
}

// Fetch requests path from the page (credentials included, as the player does) and
// returns the status and the body.
func (p *Page) Fetch(path string) (int, string) {
	p.t.Helper()
	type result struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	r := Eval[result](p, fmt.Sprintf(`fetch(%q, {credentials: "include"}).then(async r => ({status: r.status, body: await r.text()}))`, path))
	return r.Status, r.Body
}

// Play starts course in format and waits until the video's currentTime passes 4 s.
func (p *Page) Play(course, format string) error {
	p.t.Helper()
	p.StartPlay(course, format)
	return p.WaitPlaying(4, 45*time.Second)
}

// WaitPlaying waits until video.currentTime > seconds; it fails early when the page
// reports an error.
func (p *Page) WaitPlaying(seconds float64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(p.Ctx, timeout+5*time.Second)
	defer cancel()
	expr := fmt.Sprintf(`(() => {
		const s = document.body.dataset.state;
		if (s === "error" || s === "login") return s + ": " + document.getElementById("message").textContent;
		return document.getElementById("video").currentTime > %g ? "ok" : "";
	})()`, seconds)
	got, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		return fmt.Errorf("video did not pass %gs: %w (state %q, currentTime %v)", seconds, err, p.State(), p.currentTime())
	}
	if got != "ok" {
		return fmt.Errorf("playback failed: %s", got)
	}
	return nil
}

func (p *Page) currentTime() float64 {
	ctx, cancel := context.WithTimeout(p.Ctx, 5*time.Second)
	defer cancel()
	v, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById("video").currentTime`))
	return v
}

// Cookie is a browser cookie without its value (see CookieValues).
type Cookie struct {
	Name, Path string
	Secure     bool
	HTTPOnly   bool
	SameSite   string
	Session    bool
}

// Cookies lists the browser's cookies for the distribution's host.
func (p *Page) Cookies() []Cookie {
	p.t.Helper()
	var out []Cookie
	for _, c := range p.rawCookies() {
		out = append(out, Cookie{Name: c.Name, Path: c.Path, Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: string(c.SameSite), Session: c.Session})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path+out[i].Name < out[j].Path+out[j].Name })
	return out
}

// CookieHeader returns "name=value; …" for the browser's cookies with the given path,
// for replaying them outside the browser. Never print it.
func (p *Page) CookieHeader(path string) string {
	p.t.Helper()
	var parts []string
	for _, c := range p.rawCookies() {
		if c.Path == path {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func (p *Page) rawCookies() []*network.Cookie {
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{
			p.Dist.URL + "/", p.Dist.URL + "/api/", p.Dist.URL + "/courses/" + GrantedCourse + "/", p.Dist.URL + "/courses/" + OtherCourse + "/",
		}})
	})
	if err != nil {
		p.t.Fatalf("get cookies: %v", err)
	}
	return res.Cookies
}

// SetCookie puts a cookie into the browser for the distribution's host (as if a
// response had set it).
func (p *Page) SetCookie(name, value, path string, secure bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	httpOnly := true
	_, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{
			Name: name, Value: value, URL: p.Dist.URL + path, Path: path, Secure: &secure, HTTPOnly: &httpOnly,
		})
	})
	if err != nil {
		p.t.Fatalf("set cookie %s: %v", name, err)
	}
}

// DeleteCookie removes the browser's cookie name with path on the distribution's host.
func (p *Page) DeleteCookie(name, path string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, network.DeleteCookies, network.DeleteCookiesParams{Name: name, URL: p.Dist.URL + path, Path: path})
	})
	if err != nil {
		p.t.Fatalf("delete cookie %s: %v", name, err)
	}
}

// Screenshot returns a PNG of the whole page.
func (p *Page) Screenshot() []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	return b
}

// Describe formats requests for a failure message: method, path, status and the
// cookie names (never values).
func Describe(reqs []Request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "  %s %s → %d %s cookies=%v\n", r.Method, r.Path, r.Status, r.Failed, r.CookieNames)
	}
	return b.String()
}
