package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// PageOptions configure NewPageWith.
type PageOptions struct {
	// RefuseCookie makes the tab refuse the cookies it returns true for, by name:
	// Fetch interception at the response stage removes each such Set-Cookie header
	// before Chromium reads the response, so the cookie never reaches the jar.
	// Chromium has no switch that blocks one site's cookies by name, and a browser
	// context always has a jar; this is how a test plays a browser that refuses
	// them (blocked cookies, a third-party embed). A func returning true for every
	// name gives a context that stores no cookies at all.
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
// PageOptions.RefuseCookie), one entry per Set-Cookie header removed.
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

// continueWithout lets a paused response go on without the Set-Cookie headers
// (or lines of one, Chromium may join them with newlines) of refused cookies.
func (p *Page) continueWithout(ctx context.Context, e *fetch.EventRequestPaused, refuse func(string) bool) {
	if e.ResponseErrorReason != "" || e.ResponseStatusCode == 0 {
		_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
		return
	}
	var keep []*fetch.HeaderEntry
	var refused []string
	for _, h := range e.ResponseHeaders {
		if !strings.EqualFold(h.Name, "set-cookie") {
			keep = append(keep, h)
			continue
		}
		for _, line := range strings.Split(h.Value, "\n") {
			name, _, _ := strings.Cut(line, "=")
			name = strings.TrimSpace(name)
			if refuse(name) {
				refused = append(refused, name)
				continue
			}
			keep = append(keep, &fetch.HeaderEntry{Name: h.Name, Value: line})
		}
	}
	if len(refused) == 0 {
		_, _ = chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: e.RequestID})
		return
	}
	p.mu.Lock()
	p.refused = append(p.refused, refused...)
	p.mu.Unlock()
	_, _ = chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{
		RequestID: e.RequestID, ResponseCode: e.ResponseStatusCode, ResponsePhrase: e.ResponseStatusText, ResponseHeaders: keep,
	})
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
