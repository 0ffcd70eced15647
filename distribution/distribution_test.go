package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/distribution/behavior"
	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

const testPassword = "test-demo-password"

// newTestApp builds the local distribution in process on the repository's
// template.yaml, with a fresh state folder.
// needHLSJS skips t under -short when `npm ci --prefix distribution/player`
// has not installed hls.js, which the distribution serves and needs to start.
func needHLSJS(t testing.TB) {
	t.Helper()
	if mod, err := findUp(".", "go.mod"); err == nil {
		needs.File(t, filepath.Join(filepath.Dir(mod), filepath.FromSlash(hlsJSRel)), "hls.js (npm ci --prefix distribution/player)")
	}
}

func newTestApp(t testing.TB, domain string) *app {
	t.Helper()
	needHLSJS(t)
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{state: t.TempDir(), template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute, demoPassword: testPassword}
	a, err := setup(context.Background(), o, domain, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestContentType(t *testing.T) {
	tests := []struct{ key, want string }{
		{"courses/a/ts/master.m3u8", "application/vnd.apple.mpegurl"},
		{"courses/a/ts/180p/seg000.ts", "video/mp2t"},
		{"courses/a/fmp4/180p/seg000.m4s", "video/mp4"}, // as the publish command stores it
		{"courses/a/fmp4/180p/init_0.mp4", "video/mp4"},
		{"site/index.html", "text/html; charset=utf-8"},
		{"site/app.js", "text/javascript; charset=utf-8"},
		{"site/style.css", "text/css; charset=utf-8"},
		{"site/player.png", "image/png"},
		{"courses/a/blob", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := contentType(tt.key); got != tt.want {
				t.Errorf("contentType(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestDomainOf(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	tests := []struct{ addr, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"127.0.0.1:0", "127.0.0.1:8080"},
		{":8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "127.0.0.1:8080"},
		{"localhost:8080", "localhost:8080"},
		{"[::1]:8080", "[::1]:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := domainOf(tt.addr, bound); got != tt.want {
				t.Errorf("domainOf(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestInitState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	id, created, err := initState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created || !strings.HasPrefix(id, localKeyPrefix) || len(id) != 14 {
		t.Errorf("initState = %q, %v; want a new KLOCAL… id of 14 characters", id, created)
	}
	st, err := os.Stat(filepath.Join(dir, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("signing key mode = %v, want 0600", got)
	}
	b, err := os.ReadFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := cfsign.ParseSecret(b)
	if err != nil {
		t.Fatal(err)
	}
	if k.ID != id || k.Algorithm != cfsign.RSASHA1 {
		t.Errorf("secret = %s %s, want %s RSA-SHA1", k.ID, k.Algorithm, id)
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, trustedKeysDir, id+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pubPEM)
	if blk == nil {
		t.Fatal("trusted key is not PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if eq, ok := k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
		t.Error("trusted-keys/<id>.pem is not the signing key's public key")
	}

	again, created, err := initState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != id || created {
		t.Errorf("second initState = %q, %v; want %q, false (key kept)", again, created, id)
	}
}

func TestFileKeyFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	id1, _, err := initState(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	id2, _, err := initState(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a", signingKeyFile)
	fk := &fileKey{path: path, logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()

	k, err := fk.Key(ctx)
	if err != nil || k.ID != id1 {
		t.Fatalf("Key = %v, %v; want %s", k, err, id1)
	}
	// keys --local rotate: the file is replaced (rename), with another key.
	b, err := os.ReadFile(filepath.Join(dir, "b", signingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	replace(t, path, b)
	if k, err = fk.Key(ctx); err != nil || k.ID != id2 {
		t.Fatalf("after replacing the file: Key = %v, %v; want %s", k, err, id2)
	}
	replace(t, path, []byte(`{"keyPairId":"KBROKEN","privateKey":"not a key","algorithm":"RSA-SHA1"}`))
	if _, err = fk.Key(ctx); !errors.Is(err, keysource.ErrUnavailable) {
		t.Fatalf("broken file: err = %v, want keysource.ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "not a key") {
		t.Errorf("error quotes the file's private key field: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err = fk.Key(ctx); !errors.Is(err, keysource.ErrUnavailable) {
		t.Fatalf("missing file: err = %v, want keysource.ErrUnavailable", err)
	}
}

// replace swaps the file atomically with a later modification time.
func replace(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(len(b)) * time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// client is a cookie-keeping HTTP client for the in-process distribution. Go's
// cookie jar does not send Secure cookies over http, so it keeps cookies itself.
type client struct {
	t       *testing.T
	base    string
	cookies map[string]*http.Cookie // by name+path
}

func (c *client) do(method, path string, body string, extra ...*http.Cookie) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", c.base)
	for _, ck := range c.cookies {
		if strings.HasPrefix(path, ck.Path) {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	for _, ck := range extra {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name+ck.Path)
		} else {
			c.cookies[ck.Name+ck.Path] = ck
		}
	}
	return resp
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServer drives the whole in-process distribution: login and access through the
// Lambda JSON path, media through the verifier, the player page and its hls.js.
func TestServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	domain := ln.Addr().String()
	a := newTestApp(t, domain)
	srv := httptest.NewUnstartedServer(a.server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, cookies: map[string]*http.Cookie{}}
	seg := "/courses/intro-to-hls/ts/180p/seg000.ts"

	r := c.do("GET", seg, "")
	if body := readAll(t, r); r.StatusCode != 403 || r.Header.Get("Content-Type") != "text/xml" || !strings.Contains(body, "<Code>MissingKey</Code>") {
		t.Fatalf("no cookies: %d %s %q, want 403 text/xml MissingKey", r.StatusCode, r.Header.Get("Content-Type"), body)
	}

	r = c.do("POST", "/api/login", `{"email":"demo@cfgate.test","password":"`+testPassword+`"}`)
	var login struct {
		Email   string                `json:"email"`
		Courses []struct{ ID string } `json:"courses"`
	}
	if err := json.Unmarshal([]byte(readAll(t, r)), &login); err != nil || r.StatusCode != 200 {
		t.Fatalf("login: %d %v", r.StatusCode, err)
	}
	if login.Email != "demo@cfgate.test" || len(login.Courses) != 1 || login.Courses[0].ID != "intro-to-hls" {
		t.Errorf("login = %+v, want the demo user with intro-to-hls only", login)
	}

	r = c.do("POST", "/api/courses/intro-to-hls/access", "")
	if r.StatusCode != 200 {
		t.Fatalf("access: %d %s", r.StatusCode, readAll(t, r))
	}
	n := 0
	for _, ck := range r.Cookies() {
		if strings.HasPrefix(ck.Name, "CloudFront-") {
			if ck.MaxAge < 0 { // the SHA-1 set's deletion of a stale Hash-Algorithm cookie
				continue
			}
			n++
			if ck.Path != "/courses/intro-to-hls/" || !ck.Secure || !ck.HttpOnly {
				t.Errorf("cookie %s: Path=%q Secure=%v HttpOnly=%v", ck.Name, ck.Path, ck.Secure, ck.HttpOnly)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d CloudFront cookies, want 3", n)
	}

	r = c.do("GET", seg, "")
	if readAll(t, r); r.StatusCode != 200 || r.Header.Get("Content-Type") != "video/mp2t" {
		t.Errorf("segment with cookies: %d %s, want 200 video/mp2t", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := c.do("GET", "/courses/advanced-streaming/ts/master.m3u8", "", c.courseCookies("/courses/intro-to-hls/")...); r.StatusCode != 403 {
		t.Errorf("other course with these cookies: %d, want 403", r.StatusCode)
	}
	if r := c.do("POST", seg, "{}"); r.StatusCode != 403 {
		t.Errorf("POST on /courses/*: %d, want 403 (method not allowed by the behavior)", r.StatusCode)
	}
	if r := c.do("POST", "/api/courses/advanced-streaming/access", ""); r.StatusCode != 403 {
		t.Errorf("access to a course not granted: %d, want 403", r.StatusCode)
	}

	for path, typ := range map[string]string{"/": "text/html; charset=utf-8", "/app.js": "text/javascript; charset=utf-8", "/vendor/hls.min.js": "text/javascript; charset=utf-8"} {
		r := c.do("GET", path, "")
		if readAll(t, r); r.StatusCode != 200 || r.Header.Get("Content-Type") != typ {
			t.Errorf("GET %s: %d %s, want 200 %s", path, r.StatusCode, r.Header.Get("Content-Type"), typ)
		}
	}
	if r := c.do("GET", "/courses/intro-to-hls/ts/nope.ts", ""); r.StatusCode != 404 {
		t.Errorf("missing object with cookies: %d, want 404", r.StatusCode)
	}

	// Logout without a session: only the deletions of the session cookie
	// and its user hint, and nothing that names a course of the catalogue.
	anon := &client{t: t, base: srv.URL, cookies: map[string]*http.Cookie{}}
	r = anon.do("POST", "/api/logout", "")
	if sc := r.Header.Values("Set-Cookie"); r.StatusCode != 204 || len(sc) != 2 || !strings.HasPrefix(sc[0], api.SessionCookie+"=;") || !strings.HasPrefix(sc[1], api.UserHintCookie+"=;") {
		t.Errorf("logout without a session: %d, Set-Cookie %q; want 204 and only the deletions of the session cookie and its hint", r.StatusCode, sc)
	}

	// With the session: the session cookie, its hint and the granted
	// course's CloudFront cookies expire, and no other course is named.
	r = c.do("POST", "/api/logout", "")
	if r.StatusCode != 204 {
		t.Errorf("logout: %d, want 204", r.StatusCode)
	}
	for _, ck := range r.Cookies() {
		if ck.Name != api.SessionCookie && ck.Name != api.UserHintCookie && ck.Path != "/courses/intro-to-hls/" {
			t.Errorf("logout expires %s (path %s), not the session cookie, its hint or a granted course's", ck.Name, ck.Path)
		}
	}
	if got := len(c.courseCookies("/courses/intro-to-hls/")); got != 0 {
		t.Errorf("%d course cookies left after logout, want 0", got)
	}
}

func (c *client) courseCookies(path string) []*http.Cookie {
	var out []*http.Cookie
	for _, ck := range c.cookies {
		if ck.Path == path {
			out = append(out, &http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	return out
}

func TestRangeRequest(t *testing.T) {
	a := newTestApp(t, "127.0.0.1:1")
	// Serve the media unsigned to look at the origin alone.
	a.server.dist = unsignedCopy(a.server.dist)
	full, err := demoMedia.ReadFile("demo/media/courses/intro-to-hls/ts/180p/seg001.ts")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rng   string
		status      int
		body        []byte
		contentType string
	}{
		{"whole", "", 200, full, "video/mp2t"},
		{"first 188 bytes", "bytes=0-187", 206, full[:188], "video/mp2t"},
		{"suffix", "bytes=-100", 206, full[len(full)-100:], "video/mp2t"},
		{"unsatisfiable", "bytes=99999999-", 416, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://127.0.0.1:1/courses/intro-to-hls/ts/180p/seg001.ts", nil)
			if tt.rng != "" {
				req.Header.Set("Range", tt.rng)
			}
			w := httptest.NewRecorder()
			a.server.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if tt.body != nil && !bytes.Equal(w.Body.Bytes(), tt.body) {
				t.Errorf("body: %d bytes, want %d", w.Body.Len(), len(tt.body))
			}
			if tt.contentType != "" && w.Header().Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", w.Header().Get("Content-Type"), tt.contentType)
			}
		})
	}
	req := httptest.NewRequest("HEAD", "http://127.0.0.1:1/courses/intro-to-hls/ts/master.m3u8", nil)
	w := httptest.NewRecorder()
	a.server.ServeHTTP(w, req)
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

// unsignedCopy returns the distribution with TrustedKeyGroups gone from every
// behavior, as a template without them would load.
func unsignedCopy(d *behavior.Distribution) *behavior.Distribution {
	c := &behavior.Distribution{Behaviors: append([]behavior.Behavior(nil), d.Behaviors...)}
	for i := range c.Behaviors {
		c.Behaviors[i].Signed = false
	}
	return c
}

// TestRun starts the command's run on a free port, checks what it prints and that it
// serves, then stops it by cancelling the context.
func TestRun(t *testing.T) {
	needHLSJS(t)
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CFGATE_DEMO_PASSWORD", "printed-password")
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-state", state, "-template", tpl}, &stdout, &stderr)
	}()
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "hls.js:"); ok && rest != "" {
				for _, l := range strings.Split(stdout.String(), "\n") {
					if u, ok := strings.CutPrefix(strings.TrimSpace(l), "URL:"); ok {
						url = strings.TrimSpace(u)
					}
				}
			}
		}
	}
	if url == "" {
		cancel()
		t.Fatalf("no URL printed; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	for _, want := range []string{"demo login:    demo@cfgate.test / printed-password", "state:         " + state, "/courses/*   → s3 (media), signed", "*            → s3 /site (site), unsigned", "/api/*       → api (api), unsigned"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	resp, err := http.Get(url + "courses/intro-to-hls/ts/master.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("playlist without cookies: %d, want 403", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	log := stderr.String()
	if !strings.Contains(log, "path=/courses/intro-to-hls/ts/master.m3u8") || !strings.Contains(log, "status=403") || !strings.Contains(log, "decision=deny") || !strings.Contains(log, "code=MissingKey") {
		t.Errorf("access log line missing or incomplete:\n%s", log)
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"dynamodb without table", []string{"-dynamodb-endpoint", "http://127.0.0.1:1"}, map[string]string{"TABLE_NAME": ""}, "TABLE_NAME"},
		{"extra argument", []string{"serve"}, nil, "unexpected argument"},
		{"short cookie ttl", []string{"-cookie-ttl", "30s"}, nil, "-cookie-ttl"},
		{"fractional bucket", []string{"-cookie-bucket", "1500ms"}, nil, "-cookie-bucket"},
		{"missing hls.js", []string{"-hlsjs", "/nonexistent/hls.min.js", "-addr", "127.0.0.1:0"}, nil, "npm ci --prefix distribution/player"},
		{"missing template", []string{"-template", "/nonexistent/template.yaml", "-addr", "127.0.0.1:0"}, nil, "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"-state", t.TempDir()}, tt.args...)
			err := run(context.Background(), args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%v) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}
