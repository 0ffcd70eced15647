package api

import (
	"crypto"
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/store"
)

// countingSigner counts signatures.
type countingSigner struct {
	crypto.Signer
	n atomic.Int64
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(r, digest, opts)
}

// playbackCallsEnv: a recording store, a counting bucket and a counting
// signer behind the handler.
func playbackCallsEnv(t testing.TB) (*env, *recordingStore, *countingObjects, *countingSigner) {
	t.Helper()
	signer, err := cfsign.ParsePrivateKeyPEM(testSigningKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSigner{Signer: signer}
	key, err := cfsign.NewKey(testKeyID, cfsign.RSASHA1, cs)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingStore{}
	objs := &countingObjects{Objects: materials.DirObjects{FS: demoBucket(t)}}
	e := newEnv(t, withStore(func(s store.Store) store.Store { rec.Store = s; return rec }), withKeys(keysource.Static{K: key}),
		withConfig(func(c *Config) {
			c.Objects = objs
			c.TrustedKeys = StaticTrustedKeys{Keys: verifier.KeyMap{testKeyID: signer.Public()}}
		}))
	return e, rec, objs, cs
}

// TestPlaybackStartCalls counts what a playback start costs (BENCHMARKS.md):
// the POST reads the store in the two rounds of every course route and the
// manifest once per CatalogueTTL; each playlist costs one bucket read and
// no store call; a second start in the same expiry bucket signs nothing.
func TestPlaybackStartCalls(t *testing.T) {
	e, rec, objs, signs := playbackCallsEnv(t)
	token := e.login(t, alice, alicePW)
	rec.take()
	for i := range 3 {
		n0, s0 := objs.gets.Load(), signs.n.Load()
		u, _ := e.startPlayback(t, token, courseIntro, "")
		if got, want := rec.take(), []string{"GetSession", "GetUserGrant"}; !slices.Equal(got, want) {
			t.Fatalf("start %d: store calls %v, want %v", i, got, want)
		}
		wantGets, wantSigns := int64(0), int64(0)
		if i == 0 {
			wantGets, wantSigns = 1, 1 // the manifest; the first signature of the bucket
		}
		if d := objs.gets.Load() - n0; d != wantGets {
			t.Errorf("start %d: %d bucket reads for the POST, want %d", i, d, wantGets)
		}
		if d := signs.n.Load() - s0; d != wantSigns {
			t.Errorf("start %d: %d signatures, want %d", i, d, wantSigns)
		}
		// The player then reads the master and one media playlist.
		n0 = objs.gets.Load()
		status, _, body := e.get(t, u)
		if status != 200 {
			t.Fatalf("master: %d", status)
		}
		variant := uris(body)[0]
		if status, _, _ := e.get(t, variant); status != 200 {
			t.Fatalf("variant: %d", status)
		}
		if got := rec.take(); len(got) != 0 {
			t.Errorf("start %d: playlists made store calls %v", i, got)
		}
		if d := objs.gets.Load() - n0; d != 2 {
			t.Errorf("start %d: %d bucket reads for two playlists, want 2", i, d)
		}
	}
}

func uris(playlist string) []string {
	var out []string
	for _, l := range strings.Split(playlist, "\n") {
		if i := strings.Index(l, `URI="`); i >= 0 {
			r := l[i+5:]
			out = append(out, r[:strings.IndexByte(r, '"')])
		} else if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// BenchmarkPlaylistRoute: one GET /api/play/… in process: the stateless
// signature check (the verifier caches a verified signature), the bucket
// read (in memory here) and the rewrite of a demo course playlist.
func BenchmarkPlaylistRoute(b *testing.B) {
	e, _, _, _ := playbackCallsEnv(b)
	token := e.login(b, alice, alicePW)
	resp := e.do(withSession(req("POST", playbackPath(courseIntro), "", "Origin", ownOrigin), token))
	var body struct{ URL string }
	if err := json.Unmarshal([]byte(readBody(b, resp)), &body); err != nil || body.URL == "" {
		b.Fatalf("playback: %d %v", resp.StatusCode, err)
	}
	q := strings.SplitN(body.URL, "?", 2)[1]
	for _, pl := range []string{"fmp4/master.m3u8", "fmp4/360p/index.m3u8"} {
		target := "/api/play/" + courseIntro + "/" + pl + "?" + q
		b.Run(pl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
