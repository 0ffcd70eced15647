package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

const (
	demoPDF      = "course-notes.pdf"
	demoPDFPath  = "demo/media/courses/intro-to-hls/files/" + demoPDF
	demoFilesAPI = "/api/courses/intro-to-hls/files"
)

func linkAPI(course, name string) string {
	return "/api/courses/" + course + "/files/" + name + "/link"
}

type linkResp struct {
	URL     string `json:"url"`
	Expires string `json:"expires"`
}

// getLink asks for a download link and decodes it.
func (c *client) getLink(course, name string) (linkResp, time.Time) {
	c.t.Helper()
	r := c.do("POST", linkAPI(course, name), "")
	body := readAll(c.t, r)
	if r.StatusCode != 200 {
		c.t.Fatalf("link %s/%s: %d %s", course, name, r.StatusCode, body)
	}
	var l linkResp
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		c.t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, l.Expires)
	if err != nil {
		c.t.Fatal(err)
	}
	return l, exp
}

// plainGet fetches u with a client that has no cookie jar and sends no
// cookie, as a download manager or a link opened elsewhere does.
func plainGet(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if req.Header.Get("Cookie") != "" {
		t.Fatal("the plain client sent a cookie")
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestDownloadLinkOverHTTP: the demo course's PDF is listed, a link is
// signed for it, and a client with no cookies downloads exactly its bytes
// with publish's headers; the link opens nothing else.
func TestDownloadLinkOverHTTP(t *testing.T) {
	_, base := startWith(t, func(*options) {})
	c := &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
	want, err := os.ReadFile(filepath.FromSlash(demoPDFPath))
	if err != nil {
		t.Fatal(err)
	}

	// No session: 401, no URL.
	anon := &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
	for _, r := range []*http.Response{anon.do("GET", demoFilesAPI, ""), anon.do("POST", linkAPI("intro-to-hls", demoPDF), "")} {
		if body := readAll(t, r); r.StatusCode != 401 || strings.Contains(body, "http") {
			t.Errorf("%s without a session: %d %s, want 401 and no URL", r.Request.URL.Path, r.StatusCode, body)
		}
	}

	if r := c.do("POST", "/api/login", `{"email":"demo@cfgate.test","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	r := c.do("GET", demoFilesAPI, "")
	if body, want := strings.TrimSpace(readAll(t, r)), `{"files":[{"name":"course-notes.pdf","size":`+strconv.Itoa(len(want))+
		`,"type":"application/pdf","title":"Course notes (PDF)"}]}`; r.StatusCode != 200 || body != want {
		t.Fatalf("files: %d %s, want 200 %s", r.StatusCode, body, want)
	}

	before := time.Now()
	link, exp := c.getLink("intro-to-hls", demoPDF)
	prefix := base + "/courses/intro-to-hls/files/" + demoPDF + "?Expires="
	if !strings.HasPrefix(link.URL, prefix) || !strings.Contains(link.URL, "&Signature=") || !strings.Contains(link.URL, "&Key-Pair-Id=") {
		t.Fatalf("link %s, want %s…", link.URL, prefix)
	}
	if d := exp.Sub(before.Truncate(time.Second)); d < 5*time.Minute-time.Second || d > 5*time.Minute+time.Second {
		t.Errorf("link valid for %v, want 5m (DOWNLOAD_LINK_TTL's default)", d)
	}

	resp, got := plainGet(t, link.URL)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("download: %d, %d bytes; want 200 and the %d bytes of %s", resp.StatusCode, len(got), len(want), demoPDFPath)
	}
	if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "application/pdf" || cd != `attachment; filename="course-notes.pdf"` {
		t.Errorf("download headers: Content-Type %q, Content-Disposition %q", ct, cd)
	}

	// Refused by the edge (the distribution's verifier), each with 403.
	u, err := url.Parse(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sig := []byte(q.Get("Signature"))
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	q.Set("Signature", string(sig))
	tampered := *u
	tampered.RawQuery = q.Encode()
	refused := map[string]string{
		"one byte of the signature changed": tampered.String(),
		"another course's path":             strings.Replace(link.URL, "/intro-to-hls/", "/advanced-streaming/", 1),
		"another object of the course":      strings.Replace(link.URL, "files/"+demoPDF, "ts/master.m3u8", 1),
		"no signature":                      base + "/courses/intro-to-hls/files/" + demoPDF,
	}
	for name, u := range refused {
		resp, body := plainGet(t, u)
		if resp.StatusCode != 403 || bytes.Contains(body, want[:8]) {
			t.Errorf("%s: %d, want 403 and no file", name, resp.StatusCode)
		}
	}

	// The API refuses links it must not sign.
	for name, tc := range map[string]struct {
		path   string
		status int
	}{
		"unknown file":       {linkAPI("intro-to-hls", "nope.pdf"), 404},
		"malformed name":     {linkAPI("intro-to-hls", "..%2Fts%2Fmaster.m3u8"), 404},
		"course not granted": {linkAPI("advanced-streaming", demoPDF), 403},
	} {
		r := c.do("POST", tc.path, "")
		if body := readAll(t, r); r.StatusCode != tc.status || strings.Contains(body, "http") {
			t.Errorf("%s: %d %s, want %d and no URL", name, r.StatusCode, body, tc.status)
		}
	}
	if r := c.do("GET", "/api/courses/advanced-streaming/files", ""); r.StatusCode != 403 {
		t.Errorf("files of a course not granted: %d, want 403", r.StatusCode)
	}
}

// TestDownloadLinkCappedAtGrant: a grant that ends before DOWNLOAD_LINK_TTL
// caps the link's expiry, over HTTP.
func TestDownloadLinkCappedAtGrant(t *testing.T) {
	a, base := startWith(t, func(*options) {})
	grantEnd := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	if err := a.store.PutGrant(context.Background(), store.Grant{Email: demoEmail, CourseID: demoGranted, Expires: grantEnd}); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
	if r := c.do("POST", "/api/login", `{"email":"demo@cfgate.test","password":"`+testPassword+`"}`); r.StatusCode != 200 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	link, exp := c.getLink("intro-to-hls", demoPDF)
	if !exp.Equal(grantEnd) {
		t.Errorf("expires %v, want the grant's end %v", exp, grantEnd)
	}
	if !strings.Contains(link.URL, "Expires="+strconv.FormatInt(grantEnd.Unix(), 10)+"&") {
		t.Errorf("link %s does not end at the grant's end", link.URL)
	}
	if resp, _ := plainGet(t, link.URL); resp.StatusCode != 200 {
		t.Errorf("download before the grant's end: %d", resp.StatusCode)
	}
}

// TestOriginManifests: the local distribution computes each course's
// manifest from its folder at start (materials.Build, as publish), keeps a
// manifests/<id>.json the folder holds, and refuses to start on a course
// folder publish would refuse.
func TestOriginManifests(t *testing.T) {
	origin := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(origin, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("courses/mine/ts/master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n")
	write("courses/mine/files/a.zip", "PK")
	write("courses/mine/titles.tsv", "a.zip\tThe archive\n")
	write("courses/synced/ts/master.m3u8", "#EXTM3U\n")
	write("manifests/synced.json", `{"course":"synced","playlists":[],"files":[]}`)
	b, err := newBucket(origin, "")
	if err != nil {
		t.Fatal(err)
	}
	o, ids, err := newOriginObjects(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := describeManifests(ids); got != "mine (1 playlists, 1 files), synced (manifests/)" {
		t.Errorf("manifests: %s", got)
	}
	ctx := context.Background()
	for key, want := range map[string]string{
		"manifests/mine.json":   `{"course":"mine","playlists":["ts/master.m3u8"],"files":[{"name":"a.zip","size":2,"type":"application/zip","title":"The archive"}]}`,
		"manifests/synced.json": `{"course":"synced","playlists":[],"files":[]}`,
	} {
		if got, err := o.Get(ctx, key, 1<<20); err != nil || string(got) != want {
			t.Errorf("Get(%s) = %s, %v; want %s", key, got, err, want)
		}
	}
	write("courses/bad/files/my notes.pdf", "x")
	b, err = newBucket(origin, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newOriginObjects(b); err == nil || !strings.Contains(err.Error(), "courses/bad") || !strings.Contains(err.Error(), "my notes.pdf") {
		t.Errorf("bad course folder: err = %v", err)
	}
}

// TestDemoPDF: the committed demo PDF is well formed (its cross-reference
// offsets point at its objects, its stream length is right), so a viewer
// opens it; make-media.sh writes it byte for byte.
func TestDemoPDF(t *testing.T) {
	b, err := os.ReadFile(filepath.FromSlash(demoPDFPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(b, []byte("%%EOF\n")) || len(b) > 4096 {
		t.Fatalf("not a small PDF (%d bytes)", len(b))
	}
	_, after, _ := bytes.Cut(b, []byte("startxref\n"))
	xref, err := strconv.Atoi(string(bytes.SplitN(after, []byte("\n"), 2)[0]))
	if err != nil || !bytes.HasPrefix(b[xref:], []byte("xref\n0 6\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	lines := strings.Split(string(b[xref:]), "\n")
	for i := 1; i <= 5; i++ {
		off, err := strconv.Atoi(lines[2+i][:10])
		if err != nil || !bytes.HasPrefix(b[off:], []byte(strconv.Itoa(i)+" 0 obj\n")) {
			t.Errorf("object %d: offset %q is wrong", i, lines[2+i][:10])
		}
	}
	_, stream, _ := bytes.Cut(b, []byte("stream\n"))
	content, _, _ := bytes.Cut(stream, []byte("\nendstream"))
	if !bytes.Contains(b, []byte("/Length "+strconv.Itoa(len(content))+" >>")) {
		t.Errorf("stream /Length is not %d", len(content))
	}
}
