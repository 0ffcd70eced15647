package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// seen is one request that reached the distribution.
type seen struct {
	path   string
	status int
	cookie bool
}

// recorder records every request the distribution answers.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []seen
}

// ServeHTTP records each request when its status is written, before the
// client can have the answer, so take never misses a request that was
// answered.
func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &recordingWriter{ResponseWriter: w, rc: rc, s: seen{path: r.URL.Path, cookie: r.Header.Get("Cookie") != ""}}
	rc.next.ServeHTTP(rw, r)
	rw.WriteHeader(http.StatusOK) // no-op when already written
}

type recordingWriter struct {
	http.ResponseWriter
	rc   *recorder
	s    seen
	done bool
}

func (rw *recordingWriter) WriteHeader(code int) {
	if rw.done {
		return
	}
	rw.done = true
	rw.s.status = code
	rw.rc.mu.Lock()
	rw.rc.reqs = append(rw.rc.reqs, rw.s)
	rw.rc.mu.Unlock()
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recordingWriter) Write(b []byte) (int, error) {
	rw.WriteHeader(http.StatusOK)
	return rw.ResponseWriter.Write(b)
}

func (rc *recorder) take() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.reqs
	rc.reqs = nil
	return out
}

// playbackDist serves the in-process distribution over real TCP on a fake
// clock (issuer, API and verifier share it), recording every request.
func playbackDist(t *testing.T) (base string, rec *recorder, clock *fakeclock.Clock) {
	t.Helper()
	needHLSJS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	clock = fakeclock.New(time.Now().UTC())
	o := &options{state: t.TempDir(), template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute,
		demoPassword: testPassword, playbackTTL: time.Hour, now: clock.Now}
	a, err := setup(context.Background(), o, ln.Addr().String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{next: a.server}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(a.close)
	t.Cleanup(srv.Close)
	return srv.URL, rec, clock
}

// playbackURL signs in as the demo user and asks for course id's playback
// URL (body "" = the default playlist); it returns the status, the URL and
// the raw body.
func playbackURL(t *testing.T, base, id, body string, signIn bool) (int, string, time.Time, string) {
	t.Helper()
	c := &client{t: t, base: base, cookies: map[string]*http.Cookie{}}
	if signIn {
		if resp := c.do("POST", "/api/login", `{"email":"`+demoEmail+`","password":"`+testPassword+`"}`); resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
	}
	resp := c.do("POST", "/api/courses/"+id+"/playback", body)
	raw := readAll(t, resp)
	var b struct{ URL, Expires string }
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(raw), &b); err != nil {
			t.Fatalf("playback body %s: %v", raw, err)
		}
	}
	exp, _ := time.Parse(time.RFC3339, b.Expires)
	return resp.StatusCode, b.URL, exp, raw
}

// plain is an HTTP client without a cookie jar.
var plain = &http.Client{Timeout: 30 * time.Second}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := plain.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// uris returns every URI of a playlist: URI lines and URI="…" attributes.
func uris(playlist string) []string {
	var out []string
	for _, l := range strings.Split(playlist, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
		case strings.HasPrefix(l, "#"):
			if i := strings.Index(l, `URI="`); i >= 0 {
				rest := l[i+5:]
				out = append(out, rest[:strings.IndexByte(rest, '"')])
			}
		default:
			out = append(out, l)
		}
	}
	return out
}

// follow fetches the playlist at u and every URI it leads to with the
// plain client, and returns the playlist URLs and the media URLs fetched
// (each once); every answer must be 200.
func follow(t *testing.T, u string) (playlists, media []string) {
	t.Helper()
	done := map[string]bool{}
	queue := []string{u}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		if done[u] {
			continue
		}
		done[u] = true
		status, body := get(t, u)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", strings.SplitN(u, "?", 2)[0], status, body)
		}
		if !strings.Contains(u, "/api/play/") {
			media = append(media, u)
			continue
		}
		playlists = append(playlists, u)
		queue = append(queue, uris(body)...)
	}
	return playlists, media
}

// TestPlaybackPlainHTTPClient: from the playback URL alone, a client with
// no cookie jar fetches every playlist, init segment and media segment of
// the course (both renditions of both formats), each 200, and the
// distribution never sees a Cookie header from it.
func TestPlaybackPlainHTTPClient(t *testing.T) {
	base, rec, _ := playbackDist(t)
	for _, pl := range []string{"ts/master.m3u8", "fmp4/master.m3u8"} {
		status, u, _, raw := playbackURL(t, base, demoGranted, `{"playlist":"`+pl+`"}`, true)
		if status != 200 || !strings.HasPrefix(u, base+"/api/play/"+demoGranted+"/"+pl+"?Policy=") {
			t.Fatalf("%s: playback %d %s", pl, status, raw)
		}
		rec.take() // the login and the POST carried the session cookie
		playlists, media := follow(t, u)
		// A master, two media playlists; 2 × 4 segments (+ 2 init segments for fMP4).
		want := 8
		if strings.HasPrefix(pl, "fmp4") {
			want = 10
		}
		if len(playlists) != 3 || len(media) != want {
			t.Errorf("%s: %d playlists, %d media objects; want 3 and %d", pl, len(playlists), len(media), want)
		}
		reqs := rec.take()
		if len(reqs) != len(playlists)+len(media) {
			t.Errorf("%s: the distribution saw %d requests, the client made %d", pl, len(reqs), len(playlists)+len(media))
		}
		for _, r := range reqs {
			if r.cookie || r.status != 200 {
				t.Errorf("%s: %s: status %d, cookie %v", pl, r.path, r.status, r.cookie)
			}
			if !strings.HasPrefix(r.path, "/api/play/"+demoGranted+"/") && !strings.HasPrefix(r.path, "/courses/"+demoGranted+"/") {
				t.Errorf("%s: request outside the course: %s", pl, r.path)
			}
		}
	}
}

// TestPlaybackFFmpeg: ffmpeg, which keeps no cookies, downloads the whole
// course from the playback URL, TS and fMP4: exit 0, and the output lasts
// as long as the course (the media playlists' EXTINF sum).
func TestPlaybackFFmpeg(t *testing.T) {
	needs.Tool(t, "ffmpeg")
	base, rec, _ := playbackDist(t)
	for _, pl := range []string{"ts/master.m3u8", "fmp4/master.m3u8"} {
		t.Run(strings.Split(pl, "/")[0], func(t *testing.T) {
			status, u, _, raw := playbackURL(t, base, demoGranted, `{"playlist":"`+pl+`"}`, true)
			if status != 200 {
				t.Fatalf("playback %d %s", status, raw)
			}
			rec.take()
			out := filepath.Join(t.TempDir(), "out.ts")
			cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", u, "-c", "copy", "-f", "mpegts", "-y", out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, b)
			}
			probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", out).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			got, err := strconv.ParseFloat(strings.TrimSpace(string(probe)), 64)
			if err != nil {
				t.Fatalf("ffprobe duration %q: %v", probe, err)
			}
			// The course's duration: the sum of a media playlist's EXTINF.
			_, media := get(t, base+"/courses/"+demoGranted+"/"+strings.Replace(pl, "master", "360p/index", 1)+"?"+strings.SplitN(u, "?", 2)[1])
			want := 0.0
			for _, l := range strings.Split(media, "\n") {
				if d, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
					f, _ := strconv.ParseFloat(strings.TrimSuffix(d, ","), 64)
					want += f
				}
			}
			if want < 7.9 || got < want-0.25 || got > want+0.25 {
				t.Errorf("output lasts %.3f s, the course %.3f s", got, want)
			}
			segments := 0
			for _, r := range rec.take() {
				if r.cookie {
					t.Errorf("%s: a request with a Cookie header", r.path)
				}
				if r.status != 200 && r.status != http.StatusPartialContent { // ffmpeg asks for ranges
					t.Errorf("%s: status %d", r.path, r.status)
				}
				if strings.HasSuffix(r.path, ".ts") || strings.HasSuffix(r.path, ".m4s") {
					segments++
				}
			}
			if segments < 4 {
				t.Errorf("ffmpeg fetched %d segments through the distribution, want the course's 4 at least", segments)
			}
		})
	}
}

// TestPlaybackRefusalsOverHTTP: what the playback URL does not open.
func TestPlaybackRefusalsOverHTTP(t *testing.T) {
	base, _, clock := playbackDist(t)
	status, u, exp, raw := playbackURL(t, base, demoGranted, "", true)
	if status != 200 {
		t.Fatalf("playback %d %s", status, raw)
	}
	q := strings.SplitN(u, "?", 2)[1]
	const other = "advanced-streaming"
	denied := func(name, u string) {
		t.Helper()
		status, body := get(t, u)
		if status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("%s: %d %s; want 403 AccessDenied", name, status, body)
		}
	}
	// Course A's query on course B's playlist route.
	denied("other course's master", base+"/api/play/"+other+"/fmp4/master.m3u8?"+q)
	denied("other course's media playlist", base+"/api/play/"+other+"/ts/360p/index.m3u8?"+q)
	// Each of A's segment URLs, moved to course B.
	_, media := follow(t, u)
	_, tsMedia := follow(t, strings.Replace(u, "fmp4/master", "ts/master", 1))
	for _, m := range append(media, tsMedia...) {
		denied("segment moved to the other course", strings.Replace(m, "/courses/"+demoGranted+"/", "/courses/"+other+"/", 1))
	}
	// One byte of the signature changed: the playlist and a segment.
	flip := func(u string) string {
		i := strings.Index(u, "&Signature=") + len("&Signature=") + 7
		c := byte('A')
		if u[i] == 'A' {
			c = 'B'
		}
		return u[:i] + string(c) + u[i+1:]
	}
	denied("tampered playlist URL", flip(u))
	denied("tampered segment URL", flip(media[0]))
	// Expired: the clock passes the URL's expiry.
	clock.Add(exp.Sub(clock.Now()) + time.Second)
	denied("expired playlist URL", u)
	denied("expired segment URL", media[0])

	// No URL without a session or without a grant.
	base, _, _ = playbackDist(t)
	if status, _, _, raw := playbackURL(t, base, demoGranted, "", false); status != 401 || strings.Contains(raw, "url") {
		t.Errorf("no session: %d %s", status, raw)
	}
	if status, _, _, raw := playbackURL(t, base, other, "", true); status != 403 || strings.Contains(raw, "url") {
		t.Errorf("no grant: %d %s", status, raw)
	}
}
