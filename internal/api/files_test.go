package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/store"
)

const introManifest = `{"course":"intro-to-hls","playlists":["fmp4/master.m3u8","ts/master.m3u8"],` +
	`"files":[{"name":"ebook.pdf","size":1234,"type":"application/pdf","title":"The ebook"},` +
	`{"name":"workbook.zip","size":99,"type":"application/zip"}]}`

// countingObjects counts the bucket reads of a materials.Objects.
type countingObjects struct {
	materials.Objects
	gets atomic.Int64
}

func (c *countingObjects) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	c.gets.Add(1)
	return c.Objects.Get(ctx, key, max)
}

// bucketFS is a bucket holding intro-to-hls's manifest (and bobs-course's,
// to show that a grant on one course opens none of another's files).
func bucketFS() fstest.MapFS {
	return fstest.MapFS{
		"manifests/intro-to-hls.json": {Data: []byte(introManifest)},
		"manifests/bobs-course.json":  {Data: []byte(`{"course":"bobs-course","playlists":[],"files":[{"name":"bob.pdf","size":1,"type":"application/pdf"}]}`)},
	}
}

func withObjects(o materials.Objects) envOption {
	return withConfig(func(c *Config) { c.Objects = o })
}

func filesPath(id string) string      { return "/api/courses/" + id + "/files" }
func linkPath(id, name string) string { return "/api/courses/" + id + "/files/" + name + "/link" }

func TestFilesList(t *testing.T) {
	objs := &countingObjects{Objects: materials.DirObjects{FS: bucketFS()}}
	e := newEnv(t, withObjects(objs))
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("GET", filesPath(courseIntro), "", "Origin", playerOrig), token))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, readBody(t, resp))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != playerOrig {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	got := strings.TrimSpace(readBody(t, resp))
	want := `{"files":[{"name":"ebook.pdf","size":1234,"type":"application/pdf","title":"The ebook"},` +
		`{"name":"workbook.zip","size":99,"type":"application/zip","title":""}]}`
	if got != want {
		t.Errorf("body\n %s\nwant\n %s", got, want)
	}
	if n := objs.gets.Load(); n != 1 {
		t.Errorf("%d bucket reads, want 1", n)
	}
	// Within CatalogueTTL the copy answers; after it the manifest is read again.
	e.do(withSession(req("GET", filesPath(courseIntro), ""), token))
	if n := objs.gets.Load(); n != 1 {
		t.Errorf("within the TTL: %d bucket reads, want 1", n)
	}
	e.clock.Add(DefaultCatalogueTTL)
	if resp := e.do(withSession(req("GET", filesPath(courseIntro), ""), token)); resp.StatusCode != 200 {
		t.Fatalf("after the TTL: status %d", resp.StatusCode)
	}
	if n := objs.gets.Load(); n != 2 {
		t.Errorf("after the TTL: %d bucket reads, want 2", n)
	}
}

func TestFilesNoMaterials(t *testing.T) {
	for name, opt := range map[string]envOption{
		"no bucket reader": func(*Config, *envDeps) {},
		"no manifest":      withObjects(materials.DirObjects{FS: fstest.MapFS{}}),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, opt)
			token := e.login(t, alice, alicePW)
			resp := e.do(withSession(req("GET", filesPath(courseIntro), ""), token))
			if body := strings.TrimSpace(readBody(t, resp)); resp.StatusCode != 200 || body != `{"files":[]}` {
				t.Errorf("status %d, body %s; want 200 {\"files\":[]}", resp.StatusCode, body)
			}
			resp = e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), token))
			if resp.StatusCode != 404 {
				t.Errorf("link: status %d, want 404", resp.StatusCode)
			}
		})
	}
}

// brokenObjects fails every read, as S3 does when it is down.
type brokenObjects struct{}

func (brokenObjects) Get(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("get s3 object manifests/x.json: secret-detail")
}

func TestFilesBadManifest(t *testing.T) {
	for name, o := range map[string]materials.Objects{
		"malformed":     materials.DirObjects{FS: fstest.MapFS{"manifests/intro-to-hls.json": {Data: []byte(`{"course":"intro-to-hls","x":1}`)}}},
		"other course":  materials.DirObjects{FS: fstest.MapFS{"manifests/intro-to-hls.json": {Data: []byte(`{"course":"bobs-course","playlists":[],"files":[]}`)}}},
		"bucket broken": brokenObjects{},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, withObjects(o))
			token := e.login(t, alice, alicePW)
			for _, r := range []*http.Request{req("GET", filesPath(courseIntro), ""), req("POST", linkPath(courseIntro, "ebook.pdf"), "")} {
				resp := e.do(withSession(r, token))
				if resp.StatusCode != 500 {
					t.Errorf("%s: status %d, want 500", r.URL.Path, resp.StatusCode)
				}
				if msg := errorText(t, resp); msg != "internal error" {
					t.Errorf("%s: error %q", r.URL.Path, msg)
				}
			}
			// Nobody without a grant learns that the manifest is broken.
			resp := e.do(withSession(req("GET", filesPath("advanced-streaming"), ""), token))
			if resp.StatusCode != 403 {
				t.Errorf("no grant: status %d, want 403", resp.StatusCode)
			}
		})
	}
}

func decodeLink(t *testing.T, resp *http.Response) (string, time.Time) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("link: status %d: %s", resp.StatusCode, readBody(t, resp))
	}
	var b struct {
		URL     string `json:"url"`
		Expires string `json:"expires"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, b.Expires)
	if err != nil {
		t.Fatal(err)
	}
	return b.URL, exp
}

// verifyLink checks the URL as CloudFront would, at now, with the test
// key trusted; the viewer URL is the link's https form.
func (e *env) verifyLink(t *testing.T, link string, now time.Time) verifier.Decision {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "https"
	return verifier.New(verifier.Options{}).Verify(verifier.Request{URL: u, Now: now},
		verifier.KeyMap{testKeyID: e.key.Signer.Public()})
}

func TestFileLink(t *testing.T) {
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}))
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), "", "Origin", ownOrigin), token))
	link, exp := decodeLink(t, resp)
	if want := t0.Add(DefaultDownloadLinkTTL); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	prefix := "https://" + testDomain + "/courses/intro-to-hls/files/ebook.pdf?Expires=" + // canned policy
		strconv.FormatInt(exp.Unix(), 10) + "&Signature="
	if !strings.HasPrefix(link, prefix) || !strings.HasSuffix(link, "&Key-Pair-Id="+testKeyID) {
		t.Errorf("link %s, want %s…&Key-Pair-Id=%s", link, prefix, testKeyID)
	}
	if c := cloudFrontCookies(resp); len(c) != 0 {
		t.Errorf("link set cookies %v", c)
	}
	if d := e.verifyLink(t, link, t0); !d.Allowed || d.Policy != "canned" || d.Source != "url" {
		t.Errorf("CloudFront would refuse the link: %+v", d)
	}
	if d := e.verifyLink(t, link, exp); d.Allowed {
		t.Error("link still valid at its expiry")
	}
	// Exactly that object: another file of the course, or the same name in
	// another course, is refused.
	for _, other := range []string{
		strings.Replace(link, "ebook.pdf", "workbook.zip", 1),
		strings.Replace(link, "/intro-to-hls/", "/bobs-course/", 1),
	} {
		if d := e.verifyLink(t, other, t0); d.Allowed {
			t.Errorf("link opens %s", other)
		}
	}
	// The log line names user, course, file and key, and no signature.
	logs := e.logs.String()
	if !strings.Contains(logs, `"msg":"download link signed"`) || !strings.Contains(logs, `"keyPairId":"`+testKeyID+`"`) {
		t.Errorf("no link log line in %s", logs)
	}
	sig := link[strings.Index(link, "Signature=")+len("Signature=") : strings.Index(link, "&Key-Pair-Id")]
	if strings.Contains(logs, sig) || strings.Contains(logs, alice) {
		t.Error("logs carry the signature or the email")
	}
}

func TestFileLinkViewerScheme(t *testing.T) {
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}), withConfig(func(c *Config) { c.ViewerScheme = "http" }))
	token := e.login(t, alice, alicePW)
	link, _ := decodeLink(t, e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), token)))
	if !strings.HasPrefix(link, "http://"+testDomain+"/courses/intro-to-hls/files/ebook.pdf?") {
		t.Errorf("link %s, want http://…", link)
	}
	// Signed for the https form, which the edge checks.
	if d := e.verifyLink(t, link, t0); !d.Allowed {
		t.Errorf("refused: %+v", d)
	}
}

// TestFileLinkExpiryCap: a link never outlives the grant or the session.
func TestFileLinkExpiryCap(t *testing.T) {
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}))
	grantEnd := t0.Add(24 * time.Hour) // bob's grant on bobs-course
	e.clock.Add(grantEnd.Add(-2 * time.Minute).Sub(e.clock.Now()))
	token := e.login(t, bob, bobPW)
	_, exp := decodeLink(t, e.do(withSession(req("POST", linkPath("bobs-course", "bob.pdf"), ""), token)))
	if !exp.Equal(grantEnd) {
		t.Errorf("grant cap: expires %v, want the grant's end %v", exp, grantEnd)
	}

	// The session's end, here at a fraction of a second: the link ends
	// on the whole second before it.
	e = newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}), withConfig(func(c *Config) { c.SessionTTL = time.Hour }))
	e.clock.Add(300 * time.Millisecond)
	token = e.login(t, alice, alicePW)
	sessionEnd := t0.Add(time.Hour) // + 300ms
	e.clock.Add(sessionEnd.Add(-90 * time.Second).Sub(e.clock.Now()))
	_, exp = decodeLink(t, e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), token)))
	if !exp.Equal(sessionEnd) {
		t.Errorf("session cap: expires %v, want the session's end %v", exp, sessionEnd)
	}
	// Within the session's last fraction of a second there is no whole
	// second left to sign: 401, no URL.
	e.clock.Add(sessionEnd.Add(100 * time.Millisecond).Sub(e.clock.Now()))
	resp := e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), token))
	if body := readBody(t, resp); resp.StatusCode != 401 || strings.Contains(body, "Signature") {
		t.Errorf("last fraction of a second: status %d (%s), want 401 and no URL", resp.StatusCode, body)
	}
}

func TestFileLinkRefusals(t *testing.T) {
	objs := &countingObjects{Objects: materials.DirObjects{FS: bucketFS()}}
	e := newEnv(t, withObjects(objs))
	token := e.login(t, alice, alicePW)
	carolToken := e.sessionFor(t, carol)
	cases := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"no session", req("POST", linkPath(courseIntro, "ebook.pdf"), ""), 401},
		{"forged session", withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), strings.Repeat("A", 43)), 401},
		{"no grant", withSession(req("POST", linkPath("advanced-streaming", "ebook.pdf"), ""), token), 403},
		{"no grant, another's file", withSession(req("POST", linkPath("bobs-course", "bob.pdf"), ""), token), 403},
		{"expired grant", withSession(req("POST", linkPath("old-course", "ebook.pdf"), ""), token), 403},
		{"disabled user", withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), carolToken), 403},
		{"course not in catalogue", withSession(req("POST", linkPath("gone-course", "ebook.pdf"), ""), token), 404},
		{"unknown file", withSession(req("POST", linkPath(courseIntro, "nope.pdf"), ""), token), 404},
		{"another course's file", withSession(req("POST", linkPath(courseIntro, "bob.pdf"), ""), token), 404},
		{"malformed name", withSession(req("POST", linkPath(courseIntro, ".env"), ""), token), 404},
		{"escaped slash", withSession(req("POST", linkPath(courseIntro, "..%2Fbobs-course%2Ffiles%2Fbob.pdf"), ""), token), 404},
		{"escaped dot", withSession(req("POST", linkPath(courseIntro, "ebook%2Epdf"), ""), token), 404},
		{"malformed course", withSession(req("POST", linkPath("Intro", "ebook.pdf"), ""), token), 404},
		{"GET", withSession(req("GET", linkPath(courseIntro, "ebook.pdf"), ""), token), 405},
		{"foreign origin", withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), "", "Origin", "https://evil.example"), token), 403},
		{"form body", withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), "a=b", "Content-Type", "application/x-www-form-urlencoded"), token), 415},
		{"unknown field", withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), `{"ttl":"1y"}`), token), 400},
		{"files: no session", req("GET", filesPath(courseIntro), ""), 401},
		{"files: no grant", withSession(req("GET", filesPath("bobs-course"), ""), token), 403},
		{"files: POST", withSession(req("POST", filesPath(courseIntro), ""), token), 405},
	}
	for _, c := range cases {
		resp := e.do(c.r)
		body := readBody(t, resp)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, resp.StatusCode, c.status, body)
		}
		if strings.Contains(body, "Signature") || strings.Contains(body, "url") || strings.Contains(body, "bob.pdf") {
			t.Errorf("%s: body %s carries a URL or a file", c.name, body)
		}
	}
	// One read per course of the catalogue that was asked for (intro-to-hls,
	// advanced-streaming, bobs-course, old-course), then cached; none for a
	// course missing from the catalogue or a malformed request.
	if n := objs.gets.Load(); n != 4 {
		t.Errorf("%d bucket reads, want 4", n)
	}
}

// TestFileLinkMalformedNameNoStore: a malformed name is refused before the
// session is looked up.
func TestFileLinkMalformedNameNoStore(t *testing.T) {
	rec := &recordingStore{}
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}), withStore(func(s store.Store) store.Store { rec.Store = s; return rec }))
	token := e.login(t, alice, alicePW)
	rec.take()
	resp := e.do(withSession(req("POST", linkPath(courseIntro, "a..b"), ""), token))
	if resp.StatusCode != 404 {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("store calls %v, want none", got)
	}
}

func TestFileLinkKeyUnavailable(t *testing.T) {
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}), withKeys(failingKeys{}))
	token := e.login(t, alice, alicePW)
	resp := e.do(withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), ""), token))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestFilesStoreCalls: the file routes cost what /access costs, the
// session and then the user and grant together; the manifest is read from
// the bucket in that second round.
func TestFilesStoreCalls(t *testing.T) {
	rec := &recordingStore{}
	e := newEnv(t, withObjects(materials.DirObjects{FS: bucketFS()}), withStore(func(s store.Store) store.Store { rec.Store = s; return rec }))
	token := e.login(t, alice, alicePW)
	rec.take()
	for _, r := range []*http.Request{req("GET", filesPath(courseIntro), ""), req("POST", linkPath(courseIntro, "ebook.pdf"), "")} {
		if resp := e.do(withSession(r, token)); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", r.URL.Path, resp.StatusCode)
		}
		if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
			t.Errorf("%s: store calls %v, want %v", r.URL.Path, got, want)
		}
	}
}

// FuzzCourseRoutes: whatever the escaped path under /api/courses/, with
// alice's session, the handler never panics, and it hands out a URL only for
// a file the manifest of a course alice holds lists, exactly that file's URL.
func FuzzCourseRoutes(f *testing.F) {
	for _, s := range []string{
		"intro-to-hls/files/ebook.pdf/link", "intro-to-hls/files", "intro-to-hls/access",
		"intro-to-hls/files/workbook.zip/link", "bobs-course/files/bob.pdf/link",
		"intro-to-hls/files/..%2Fbobs-course%2Ffiles%2Fbob.pdf/link", "intro-to-hls/files/ebook%2Epdf/link",
		"intro-to-hls/files//link", "intro-to-hls/files/ebook.pdf/link/", "intro-to-hls//files/ebook.pdf/link",
		"Intro-To-HLS/files/ebook.pdf/link", "intro-to-hls/files/EBOOK.PDF/link", "%2A/files/ebook.pdf/link",
		"intro-to-hls/files/ebook.pdf%3F/link", "intro-to-hls/files/ebook.pdf?x=1/link",
		"intro-to-hls/playback", "bobs-course/playback", "intro-to-hls/playback/",
	} {
		f.Add(s)
	}
	e := newEnv(f, withObjects(materials.DirObjects{FS: bucketFS()}), withConfig(func(c *Config) { c.Metrics = io.Discard }))
	e.h.log = slog.New(slog.DiscardHandler)
	token := e.login(f, alice, alicePW)
	want := map[string]bool{
		"https://" + testDomain + "/courses/intro-to-hls/files/ebook.pdf":    true,
		"https://" + testDomain + "/courses/intro-to-hls/files/workbook.zip": true,
	}
	f.Fuzz(func(t *testing.T, rest string) {
		r, err := http.NewRequest("POST", "http://"+testDomain+"/api/courses/"+rest, nil)
		if err != nil {
			return // not a request line a client could send
		}
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			if strings.Contains(body, "Signature") || len(w.Result().Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("%q: status %d with a signature or cookie", rest, w.Code)
			}
			return
		}
		var l linkBody
		if r.URL.EscapedPath() == "/api/courses/intro-to-hls/playback" {
			// The cookie-less playback URL of the course alice holds (#12 item 3).
			if err := json.Unmarshal([]byte(body), &l); err != nil || !strings.HasPrefix(l.URL, "https://"+testDomain+"/api/play/intro-to-hls/fmp4/master.m3u8?Policy=") {
				t.Fatalf("%q: playback %s", rest, body)
			}
			return
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil || l.URL == "" {
			if r.URL.EscapedPath() == "/api/courses/intro-to-hls/access" {
				return // cookies for the course alice holds
			}
			t.Fatalf("%q: 200 %s", rest, body)
		}
		base, _, _ := strings.Cut(l.URL, "?")
		if !want[base] || r.URL.EscapedPath() != "/api/courses/intro-to-hls/files/"+strings.TrimPrefix(base, "https://"+testDomain+"/courses/intro-to-hls/files/")+"/link" {
			t.Fatalf("%q: signed %s", rest, l.URL)
		}
	})
}

// BenchmarkFileLink measures POST /api/courses/{id}/files/{name}/link on a
// warm handler (embedded store, manifest copy fresh): the checks of
// /access, then one canned-policy RSA-SHA1 signature per link — links are
// not cached (each expires TTL after its own request).
func BenchmarkFileLink(b *testing.B) {
	e := quietEnv(b, withObjects(materials.DirObjects{FS: bucketFS()}))
	token := e.login(b, alice, alicePW)
	benchServeWarm(b, e, withSession(req("POST", linkPath(courseIntro, "ebook.pdf"), "", "Origin", playerOrig), token))
}

// BenchmarkFilesList measures GET /api/courses/{id}/files on a warm handler.
func BenchmarkFilesList(b *testing.B) {
	e := quietEnv(b, withObjects(materials.DirObjects{FS: bucketFS()}))
	token := e.login(b, alice, alicePW)
	r := withSession(req("GET", filesPath(courseIntro), "", "Origin", playerOrig), token)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
