package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// benchSegment is a 2 s MPEG-TS segment of the 360p rendition (about 59 KB);
// benchPlaylist is the master playlist (about 230 bytes), where the check's share
// of the work is largest.
const (
	benchSegment  = "/courses/intro-to-hls/ts/360p/seg001.ts"
	benchPlaylist = "/courses/intro-to-hls/ts/master.m3u8"
)

// BenchmarkServeSegmentSigned serves one media segment through the whole local
// distribution handler (behavior match, verifier on the course cookies, origin,
// access log) in process; BenchmarkServeSegmentUnsigned serves the same file through
// the same handler with the behavior's TrustedKeyGroups removed. The difference is
// the cost of the signature check per request.
func BenchmarkServeSegmentSigned(b *testing.B) {
	a := newTestApp(b, "127.0.0.1:8080")
	benchServe(b, a, benchSegment, courseCookies(b, a))
}

// BenchmarkServeSegmentUnsigned: see BenchmarkServeSegmentSigned.
func BenchmarkServeSegmentUnsigned(b *testing.B) {
	a := newTestApp(b, "127.0.0.1:8080")
	cookies := courseCookies(b, a) // sent but not checked, so both requests are alike
	a.server.dist = unsignedCopy(a.server.dist)
	benchServe(b, a, benchSegment, cookies)
}

// BenchmarkServePlaylistSigned is BenchmarkServeSegmentSigned for the master playlist.
func BenchmarkServePlaylistSigned(b *testing.B) {
	a := newTestApp(b, "127.0.0.1:8080")
	benchServe(b, a, benchPlaylist, courseCookies(b, a))
}

// BenchmarkServePlaylistUnsigned is BenchmarkServeSegmentUnsigned for the master playlist.
func BenchmarkServePlaylistUnsigned(b *testing.B) {
	a := newTestApp(b, "127.0.0.1:8080")
	cookies := courseCookies(b, a)
	a.server.dist = unsignedCopy(a.server.dist)
	benchServe(b, a, benchPlaylist, cookies)
}

func benchServe(b *testing.B, a *app, path string, cookies []*http.Cookie) {
	b.Helper()
	req := httptest.NewRequest("GET", "http://127.0.0.1:8080"+path, nil)
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	a.server.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	b.SetBytes(int64(w.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.server.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// courseCookies issues the demo course's cookies with the app's signing key.
func courseCookies(b *testing.B, a *app) []*http.Cookie {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join(a.stateDir, signingKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	key, err := cfsign.ParseSecret(raw)
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: "127.0.0.1:8080"})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := issuer.Issue(key, "intro-to-hls", cfsign.Conditions{})
	if err != nil {
		b.Fatal(err)
	}
	return cc.Cookies
}
