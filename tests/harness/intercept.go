package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// PageOptions configure NewPageWith.
type PageOptions struct {
	// RefuseCookie makes the tab refuse the cookies it returns true for, by name.
	// Chromium stores a response's cookies before DevTools sees the response,
	// and Fetch interception does not show Set-Cookie headers, so they cannot be
	// stripped; instead every response is held at the response stage (Fetch)
	// while such cookies are deleted from the context's jar, and goes on to the
	// page only then: the page never finds them stored, as in a browser that
	// blocks them (blocked cookies, a third-party embed). RefusedCookies lists
	// what was removed. For a browser that stores no cookies at all, see
	// NewCookielessBrowser.
	RefuseCookie func(name string) bool
	// Downloads, when set, lets the tab's browser context download into that
	// folder, each file named by its download GUID; see WaitDownload.
	Downloads string
	// Path is the page opened first (default "/"), after the options are in place.
	Path string
}

// Download is one download of the page, as Chromium reported it.
type Download struct {
	GUID              string
	URL               string // the signed URL: compare it, never print it
	SuggestedFilename string
	State             string // inProgress, completed, canceled
	Bytes             int64
}

// NewPageWith is NewPage with options applied before the first page loads.
func (b *Browser) NewPageWith(t testing.TB, d *Distribution, o PageOptions) *Page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &Page{Ctx: ctx, Dist: d, t: t, reqs: map[network.RequestID]*Request{}}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	if err := chromedp.Listen(ctx, p.onEvent); err != nil {
		t.Fatalf("listen: %v", err)
	}
	if o.RefuseCookie != nil {
		p.refuseCookies(o.RefuseCookie)
	}
	if o.Downloads != "" {
		p.allowDownloads(o.Downloads)
	}
	if o.Path == "" {
		o.Path = "/"
	}
	p.Open(o.Path)
	return p
}

// RefusedCookies returns the names of the cookies the tab refused so far (see
// PageOptions.RefuseCookie), one entry per cookie removed from the jar.
func (p *Page) RefusedCookies() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.refused...)
}

func (p *Page) refuseCookies(refuse func(string) bool) {
	p.t.Helper()
	paused := make(chan *fetch.EventRequestPaused, 256)
	ctx := p.Ctx
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- e:
			case <-ctx.Done():
			}
		}
	}); err != nil {
		p.t.Fatalf("listen: %v", err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-paused:
				p.continueWithout(ctx, e, refuse)
			}
		}
	}()
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*", RequestStage: fetch.RequestStageResponse},
	}})
	if err != nil {
		p.t.Fatalf("fetch.enable: %v", err)
	}
}

// continueWithout removes the refused cookies from the tab's jar while the
// response is held, then lets it go on: the page sees the response only once
// they are gone.
func (p *Page) continueWithout(ctx context.Context, e *fetch.EventRequestPaused, refuse func(string) bool) {
	defer func() {
		_, _ = chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: e.RequestID})
	}()
	if e.ResponseErrorReason != "" || e.ResponseStatusCode == 0 {
		return
	}
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: chromedp.FromContext(ctx).BrowserContextID})
	if err != nil {
		return // the tab is closing
	}
	for _, c := range res.Cookies {
		if !refuse(c.Name) {
			continue
		}
		if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: c.Name, Domain: c.Domain, Path: c.Path}); err != nil {
			return
		}
		p.mu.Lock()
		p.refused = append(p.refused, c.Name)
		p.mu.Unlock()
	}
}

func (p *Page) allowDownloads(dir string) {
	p.t.Helper()
	id := chromedp.FromContext(p.Ctx).BrowserContextID
	if id == "" {
		p.t.Fatal("downloads: the tab has no browser context id")
	}
	if err := chromedp.ListenBrowser(p.Ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *browser.EventDownloadWillBegin:
			p.downloads = append(p.downloads, &Download{GUID: e.GUID, URL: e.URL, SuggestedFilename: e.SuggestedFilename, State: "inProgress"})
		case *browser.EventDownloadProgress:
			for _, d := range p.downloads {
				if d.GUID == e.GUID {
					d.State = string(e.State)
					d.Bytes = int64(e.ReceivedBytes)
				}
			}
		}
	}); err != nil {
		p.t.Fatalf("listen browser: %v", err)
	}
	enabled := true
	_, err := chromedp.CallBrowser(p.Ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: id, DownloadPath: dir, EventsEnabled: &enabled,
	})
	if err != nil {
		p.t.Fatalf("set download behavior: %v", err)
	}
}

// Downloads returns the page's downloads so far (PageOptions.Downloads).
func (p *Page) Downloads() []Download {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Download, 0, len(p.downloads))
	for _, d := range p.downloads {
		out = append(out, *d)
	}
	return out
}

// WaitDownload waits until the page's n-th download (from 1) has ended,
// completed or canceled, and returns it.
func (p *Page) WaitDownload(n int, timeout time.Duration) (Download, error) {
	deadline := time.Now().Add(timeout)
	for {
		ds := p.Downloads()
		if len(ds) >= n && ds[n-1].State != "inProgress" {
			return ds[n-1], nil
		}
		if time.Now().After(deadline) {
			return Download{}, fmt.Errorf("download %d did not end within %v (downloads: %d)", n, timeout, len(ds))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewCookielessBrowser is NewBrowser with Chromium's own setting "Block all
// cookies" (content setting cookies = block, as chrome://settings/cookies sets
// it) in the profile it starts with: no site can store a cookie, in any of its
// browser contexts.
func NewCookielessBrowser(t testing.TB) *Browser {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o755); err != nil {
		t.Fatal(err)
	}
	prefs := `{"profile":{"default_content_setting_values":{"cookies":2},"block_third_party_cookies":true}}`
	if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(prefs), 0o644); err != nil {
		t.Fatal(err)
	}
	return newBrowser(t, dir)
}

// GrantPermissions grants the page's browser context the named permissions
// (names of the Permissions API, e.g. "clipboard-read", "clipboard-write") on the
// distribution's origin, as a person clicking Allow would.
func (p *Page) GrantPermissions(names ...string) {
	p.t.Helper()
	id := chromedp.FromContext(p.Ctx).BrowserContextID
	for _, n := range names {
		_, err := chromedp.CallBrowser(p.Ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: n}, Setting: browser.PermissionSettingGranted,
			Origin: p.Dist.URL, BrowserContextID: id,
		})
		if err != nil {
			p.t.Fatalf("grant %s: %v", n, err)
		}
	}
}
