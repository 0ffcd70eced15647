package api

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/materials"
)

// demoBucket is a bucket holding the demo courses' playlists (from
// distribution/demo/media) and intro-to-hls's and advanced-streaming's
// manifests.
func demoBucket(t testing.TB) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{
		"manifests/intro-to-hls.json":       {Data: []byte(`{"course":"intro-to-hls","playlists":["fmp4/master.m3u8","ts/master.m3u8"],"files":[]}`)},
		"manifests/advanced-streaming.json": {Data: []byte(`{"course":"advanced-streaming","playlists":["fmp4/master.m3u8","ts/master.m3u8"],"files":[]}`)},
	}
	root := filepath.Join("..", "..", "distribution", "demo", "media")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".m3u8") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withPlayback gives the handler the demo bucket and the test key as the
// trusted keys.
func withPlayback(b fstest.MapFS) envOption {
	signer, err := cfsign.ParsePrivateKeyPEM(testSigningKeyPEM)
	if err != nil {
		panic(err)
	}
	return withConfig(func(c *Config) {
		c.Objects = materials.DirObjects{FS: b}
		c.TrustedKeys = StaticTrustedKeys{Keys: verifier.KeyMap{testKeyID: signer.Public()}}
	})
}

func playbackPath(id string) string { return "/api/courses/" + id + "/playback" }

// startPlayback asks for a playback URL and returns it and its expiry.
func (e *env) startPlayback(t *testing.T, token, id, body string) (string, time.Time) {
	t.Helper()
	resp := e.do(withSession(req("POST", playbackPath(id), body, "Origin", ownOrigin), token))
	raw := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("playback: status %d: %s", resp.StatusCode, raw)
	}
	var b struct {
		URL     string `json:"url"`
		Expires string `json:"expires"`
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("playback body %s: %v", raw, err)
	}
	exp, err := time.Parse(time.RFC3339, b.Expires)
	if err != nil {
		t.Fatal(err)
	}
	return b.URL, exp
}

// get fetches an absolute URL of the handler without any cookie.
func (e *env) get(t *testing.T, u string) (int, string, string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	r := req("GET", pu.RequestURI(), "")
	if len(r.Cookies()) != 0 {
		t.Fatal("request has cookies")
	}
	resp := e.do(r)
	return resp.StatusCode, resp.Header.Get("Content-Type"), readBody(t, resp)
}

func TestPlaybackURL(t *testing.T) {
	e := newEnv(t, withPlayback(demoBucket(t)))
	token := e.login(t, alice, alicePW)
	u, exp := e.startPlayback(t, token, courseIntro, "")
	base := "https://" + testDomain + "/api/play/intro-to-hls/"
	if !strings.HasPrefix(u, base+"fmp4/master.m3u8?Policy=") || !strings.Contains(u, "&Signature=") || !strings.HasSuffix(u, "&Key-Pair-Id="+testKeyID) {
		t.Errorf("default playlist URL %s", u)
	}
	// PLAYBACK_TTL (4h) rounded up to the 5-minute bucket.
	if want := t0.Add(DefaultPlaybackTTL).Truncate(5 * time.Minute).Add(5 * time.Minute); !exp.Equal(want) && !exp.Equal(t0.Add(DefaultPlaybackTTL)) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	// Another playlist of the manifest; the second start signs nothing new.
	u2, _ := e.startPlayback(t, token, courseIntro, `{"playlist":"ts/master.m3u8"}`)
	if !strings.HasPrefix(u2, base+"ts/master.m3u8?") || strings.SplitN(u2, "?", 2)[1] != strings.SplitN(u, "?", 2)[1] {
		t.Errorf("ts URL %s does not carry the same signature as %s", u2, u)
	}

	// The whole course, without a cookie: each playlist through the route,
	// each other URI verified as CloudFront verifies it.
	seen := map[string]bool{}
	var walk func(string)
	media := 0
	walk = func(pl string) {
		if seen[pl] {
			return
		}
		seen[pl] = true
		status, ctype, body := e.get(t, pl)
		if status != 200 || ctype != PlaylistContentType {
			t.Fatalf("GET %s: %d %s %s", pl, status, ctype, body)
		}
		for _, line := range strings.Split(body, "\n") {
			uri := line
			if i := strings.Index(line, `URI="`); i >= 0 {
				uri = line[i+5:]
				uri = uri[:strings.IndexByte(uri, '"')]
			} else if strings.HasPrefix(line, "#") || line == "" {
				continue
			}
			switch {
			case strings.HasPrefix(uri, base):
				walk(uri)
			case strings.HasPrefix(uri, "https://"+testDomain+"/courses/intro-to-hls/"):
				media++
				if d := e.verifyLink(t, uri, e.clock.Now()); !d.Allowed {
					t.Errorf("%s: %s %s", uri, d.Code, d.Reason)
				}
			default:
				t.Errorf("URI %s leaves the course", uri)
			}
		}
	}
	walk(u)
	walk(u2)
	if len(seen) != 6 || media != 2*4+2*5 {
		t.Errorf("%d playlists, %d media URIs; want 6 and 18", len(seen), media)
	}
	// The logs never hold the signature.
	sig := strings.SplitN(strings.SplitN(u, "&Signature=", 2)[1], "&", 2)[0]
	if strings.Contains(e.logs.String(), sig) {
		t.Error("a log line holds the signature")
	}
}

func TestPlaybackRefusals(t *testing.T) {
	e := newEnv(t, withPlayback(demoBucket(t)))
	aliceTok := e.login(t, alice, alicePW)
	u, exp := e.startPlayback(t, aliceTok, courseIntro, "")
	q := strings.SplitN(u, "?", 2)[1]

	denied := func(name, target string) {
		t.Helper()
		status, ctype, body := e.get(t, target)
		if status != 403 || ctype != "text/xml" || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("%s: %d %s %s; want 403 AccessDenied", name, status, ctype, body)
		}
	}
	// Course A's query on course B's playlists.
	denied("other course", "https://"+testDomain+"/api/play/advanced-streaming/fmp4/master.m3u8?"+q)
	denied("other course media playlist", "https://"+testDomain+"/api/play/advanced-streaming/ts/180p/index.m3u8?"+q)
	// One byte of the signature changed.
	i := strings.Index(u, "&Signature=") + len("&Signature=") + 5
	b := []byte(u)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	denied("tampered signature", string(b))
	// No query at all: CloudFront's MissingKey.
	if status, _, body := e.get(t, strings.SplitN(u, "?", 2)[0]); status != 403 || !strings.Contains(body, "<Code>MissingKey</Code>") {
		t.Errorf("no query: %d %s", status, body)
	}
	// A signed playlist that does not exist, and malformed paths.
	for _, p := range []string{"fmp4/nope.m3u8", "fmp4/180p/seg000.m4s", "..%2Fother/x.m3u8", "fmp4/.x.m3u8"} {
		if status, _, _ := e.get(t, "https://"+testDomain+"/api/play/intro-to-hls/"+p+"?"+q); status != 404 {
			t.Errorf("%s: status %d, want 404", p, status)
		}
	}
	if status, _, _ := e.get(t, "https://"+testDomain+"/api/play/Intro/fmp4/master.m3u8?"+q); status != 404 {
		t.Errorf("bad course id: status %d, want 404", status)
	}
	// After the expiry.
	e.clock.Add(exp.Sub(e.clock.Now()))
	denied("expired", u)

	// Who may get a URL.
	e = newEnv(t, withPlayback(demoBucket(t)))
	aliceTok = e.login(t, alice, alicePW)
	for _, tc := range []struct {
		name, token, id, body string
		status                int
	}{
		{"no session", "", courseIntro, "", 401},
		{"no grant", aliceTok, "advanced-streaming", "", 403},
		{"expired grant", aliceTok, "old-course", "", 403},
		{"unknown course", aliceTok, "no-such-course", "", 404},
		{"playlist not in manifest", aliceTok, courseIntro, `{"playlist":"fmp4/180p/index.m3u8"}`, 404},
		{"malformed playlist", aliceTok, courseIntro, `{"playlist":"../x/master.m3u8"}`, 404},
		{"unknown field", aliceTok, courseIntro, `{"playlist":"ts/master.m3u8","x":1}`, 400},
		{"course without playlists", e.login(t, bob, bobPW), "bobs-course", "", 404},
	} {
		r := req("POST", playbackPath(tc.id), tc.body, "Origin", ownOrigin)
		if tc.token != "" {
			r = withSession(r, tc.token)
		}
		resp := e.do(r)
		body := readBody(t, resp)
		if resp.StatusCode != tc.status || strings.Contains(body, "url") || strings.Contains(body, "Signature") {
			t.Errorf("%s: %d %s; want %d and no URL", tc.name, resp.StatusCode, body, tc.status)
		}
	}
	// A foreign origin is refused before anything (CSRF rule of the POSTs).
	resp := e.do(withSession(req("POST", playbackPath(courseIntro), "", "Origin", "https://evil.test"), aliceTok))
	if resp.StatusCode != 403 {
		t.Errorf("foreign origin: %d", resp.StatusCode)
	}
}

// TestPlaybackCap: the URL never outlives the session (or the grant).
func TestPlaybackCap(t *testing.T) {
	e := newEnv(t, withPlayback(demoBucket(t)), withConfig(func(c *Config) { c.SessionTTL = time.Hour }))
	tok := e.login(t, alice, alicePW)
	_, exp := e.startPlayback(t, tok, courseIntro, "")
	if want := t0.Add(time.Hour).Truncate(time.Second); !exp.Equal(want) {
		t.Errorf("expires %v, want the session's end %v", exp, want)
	}
	e = newEnv(t, withPlayback(demoBucket(t)), withConfig(func(c *Config) { c.PlaybackTTL = 10 * time.Minute }))
	tok = e.login(t, alice, alicePW)
	u, exp := e.startPlayback(t, tok, courseIntro, "")
	if exp.Sub(t0) > 15*time.Minute {
		t.Errorf("PlaybackTTL 10m: expires %v", exp)
	}
	e.clock.Add(exp.Add(-time.Second).Sub(e.clock.Now()))
	if status, _, _ := e.get(t, u); status != 200 {
		t.Errorf("a second before the expiry: %d", status)
	}
	e.clock.Add(exp.Sub(e.clock.Now()))
	if status, _, _ := e.get(t, u); status != 403 {
		t.Errorf("at the expiry: %d", status)
	}
}

// TestPlaylistRefusedByRewriter: a playlist that leads outside the course
// is not served: 502, one log line, nothing of the query in it.
func TestPlaylistRefusedByRewriter(t *testing.T) {
	b := demoBucket(t)
	b["courses/intro-to-hls/ts/master.m3u8"] = &fstest.MapFile{Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n../../advanced-streaming/ts/180p/index.m3u8\n")}
	e := newEnv(t, withPlayback(b))
	tok := e.login(t, alice, alicePW)
	u, _ := e.startPlayback(t, tok, courseIntro, `{"playlist":"ts/master.m3u8"}`)
	before := strings.Count(e.logs.String(), "\n")
	status, _, body := e.get(t, u)
	if status != 502 || strings.Contains(body, "advanced") {
		t.Errorf("status %d body %s; want 502 without detail", status, body)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "\n") - before; n != 1 || !strings.Contains(logs, "playlist_refused") || strings.Contains(logs, strings.SplitN(u, "?", 2)[1][:40]) {
		t.Errorf("%d log lines: %s", n, logs)
	}
}

// TestPlayWithoutTrustedKeys fails closed.
func TestPlayWithoutTrustedKeys(t *testing.T) {
	b := demoBucket(t)
	e := newEnv(t, withConfig(func(c *Config) { c.Objects = materials.DirObjects{FS: b} }))
	tok := e.login(t, alice, alicePW)
	u, _ := e.startPlayback(t, tok, courseIntro, "")
	if status, _, _ := e.get(t, u); status != 503 {
		t.Errorf("status %d, want 503", status)
	}
}

func TestSigningParams(t *testing.T) {
	kid, q := signingParams("x=1&Signature=s1&Policy=p&Key-Pair-Id=K%41&Signature=s2&Hash-Algorithm=SHA256&policy=no")
	if kid != "KA" || q != "Policy=p&Signature=s1&Key-Pair-Id=K%41&Hash-Algorithm=SHA256" {
		t.Errorf("signingParams = %q, %q", kid, q)
	}
}
