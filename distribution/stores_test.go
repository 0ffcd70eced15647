package main

import (
	"context"
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

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// TestDynamoDBEndpoint runs the distribution on a DynamoDB table (moto_server):
// the user, catalogue and grant come from the table, and nothing is seeded.
func TestDynamoDBEndpoint(t *testing.T) {
	moto := motoserver.Shared(t)
	for _, kv := range moto.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(moto.Config(t))
	table := motoserver.Unique(t, "local")
	if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
		t.Fatal(err)
	}
	st := dynamo.New(ddb, table)
	hash, err := password.Hash("table-password")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		st.PutUser(ctx, store.User{Email: "viewer@example.test", PasswordHash: hash, CreatedAt: time.Now()}),
		st.PutCourse(ctx, store.Course{ID: "intro-to-hls", Title: "From the table"}),
		st.PutGrant(ctx, store.Grant{Email: "viewer@example.test", CourseID: "intro-to-hls"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}

	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{state: t.TempDir(), template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute,
		dynamoEndpoint: moto.Endpoint, table: table}
	a, err := setup(ctx, o, ln.Addr().String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if a.demoPassword != "" || !strings.Contains(a.storeDesc, table) {
		t.Errorf("store = %q, demo password set = %v; want the table and no demo seed", a.storeDesc, a.demoPassword != "")
	}
	srv := httptest.NewUnstartedServer(a.server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	c := &client{t: t, base: srv.URL, cookies: map[string]*http.Cookie{}}

	if r := c.do("POST", "/api/login", `{"email":"demo@cfgate.test","password":"table-password"}`); r.StatusCode != 401 {
		t.Errorf("demo user on a table without it: %d, want 401", r.StatusCode)
	}
	r := c.do("POST", "/api/login", `{"email":"viewer@example.test","password":"table-password"}`)
	if body := readAll(t, r); r.StatusCode != 200 || !strings.Contains(body, "From the table") {
		t.Fatalf("login: %d %s", r.StatusCode, body)
	}
	if r := c.do("POST", "/api/courses/intro-to-hls/access", ""); r.StatusCode != 200 {
		t.Fatalf("access: %d", r.StatusCode)
	}
	if r := c.do("GET", "/courses/intro-to-hls/fmp4/master.m3u8", ""); r.StatusCode != 200 {
		t.Errorf("playlist with the cookies: %d, want 200", r.StatusCode)
	}
}

// TestOriginFolder serves the bucket from -origin DIR, with the player page still
// available when the folder has no site/.
func TestOriginFolder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "courses", "mine", "ts", "master.m3u8")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#EXTM3U\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	needHLSJS(t)
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := &options{state: t.TempDir(), template: tpl, origin: dir, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute, demoPassword: "x"}
	a, err := setup(context.Background(), o, "127.0.0.1:1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.server.dist = unsignedCopy(a.server.dist)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/courses/mine/ts/master.m3u8", 200, "#EXTM3U\n"},
		{"/courses/intro-to-hls/ts/master.m3u8", 404, ""}, // the embedded demo is not mixed in
		{"/", 200, ""},
		{"/vendor/hls.min.js", 200, ""},
		{"/courses/mine/../../etc/passwd", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			a.server.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1:1"+tt.path, nil))
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if b, _ := io.ReadAll(w.Body); tt.body != "" && string(b) != tt.body {
				t.Errorf("body = %q, want %q", b, tt.body)
			}
		})
	}
}

// TestOriginFolderNoEscape: a symlink inside the origin folder that points
// outside it is not followed (S3 has no symlinks; locally one must not leak
// files or cross course scopes), while ordinary files are served.
func TestOriginFolderNoEscape(t *testing.T) {
	origin, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(origin, "courses", "intro-to-hls"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(origin, "courses", "intro-to-hls", "ok.m3u8"), []byte("#EXTM3U\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An allowlisted name, so that os.Root, not the course allowlist, is what refuses it.
	if err := os.WriteFile(filepath.Join(outside, "passwd.m3u8"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(origin, "courses", "intro-to-hls", "leak")); err != nil {
		t.Fatal(err)
	}
	b, err := newBucket(origin, "")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{
		"courses/intro-to-hls/ok.m3u8":          http.StatusOK,
		"courses/intro-to-hls/leak/passwd.m3u8": http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		b.serveObject(rec, httptest.NewRequest("GET", "/"+key, nil), key)
		if rec.Code != want || strings.Contains(rec.Body.String(), "secret") {
			t.Errorf("%s: status %d body %q, want %d", key, rec.Code, rec.Body.String(), want)
		}
	}
}

// TestOriginServesCourseAllowlistOnly: under courses/ the local distribution
// serves what publish would upload and nothing else (HTML, SVG and script in a
// course folder would run on the distribution's origin), with the
// Content-Type and Content-Disposition that publish stores.
func TestOriginServesCourseAllowlistOnly(t *testing.T) {
	origin := t.TempDir()
	course := filepath.Join(origin, "courses", "intro-to-hls")
	files := map[string]string{
		"ts/master.m3u8":     "#EXTM3U\n",
		"files/workbook.pdf": "%PDF-1.4",
		"notes.html":         "<script>fetch('/api/session')</script>",
		"x.svg":              "<svg><script>alert(1)</script></svg>",
		"app.js":             "alert(1)",
	}
	for rel, body := range files {
		p := filepath.Join(course, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := newBucket(origin, "")
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]struct {
		status             int
		ctype, disposition string
	}{
		"ts/master.m3u8":     {http.StatusOK, "application/vnd.apple.mpegurl", ""},
		"files/workbook.pdf": {http.StatusOK, "application/pdf", `attachment; filename="workbook.pdf"`},
		"notes.html":         {http.StatusNotFound, "", ""},
		"x.svg":              {http.StatusNotFound, "", ""},
		"app.js":             {http.StatusNotFound, "", ""},
	} {
		key := "courses/intro-to-hls/" + rel
		rec := httptest.NewRecorder()
		b.serveObject(rec, httptest.NewRequest("GET", "/"+key, nil), key)
		if rec.Code != want.status {
			t.Errorf("%s: status %d, want %d", rel, rec.Code, want.status)
			continue
		}
		if want.status != http.StatusOK {
			if strings.Contains(rec.Body.String(), "script") {
				t.Errorf("%s: body %q served", rel, rec.Body.String())
			}
			continue
		}
		if got := rec.Header().Get("Content-Type"); got != want.ctype {
			t.Errorf("%s: Content-Type %q, want %q", rel, got, want.ctype)
		}
		if got := rec.Header().Get("Content-Disposition"); got != want.disposition {
			t.Errorf("%s: Content-Disposition %q, want %q", rel, got, want.disposition)
		}
	}
}
