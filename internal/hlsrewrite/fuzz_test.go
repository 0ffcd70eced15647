package hlsrewrite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cfgate/cfgate/internal/hlsrewrite"
)

// FuzzRewrite: whatever the bucket holds, a rewritten playlist has the
// input's lines, and every URI in it is one of the two prefixes, a clean
// path inside the course and the query; anything else is refused.
func FuzzRewrite(f *testing.F) {
	for _, p := range []string{"ts/master.m3u8", "ts/360p/index.m3u8", "fmp4/master.m3u8", "fmp4/180p/index.m3u8"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "distribution", "demo", "media", "courses", "intro-to-hls", filepath.FromSlash(p)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, p)
	}
	f.Add([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"../i.mp4\",BYTERANGE=\"1@0\"\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\r\nseg%41.ts\n"), "a/b.m3u8")
	f.Add([]byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,NAME=\"a,URI=\\\"x\",URI=\"a.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"), "m.m3u8")
	f.Fuzz(func(t *testing.T, src []byte, playlist string) {
		out, err := hlsrewrite.Rewrite(src, playlist, target)
		if err != nil {
			if out != nil {
				t.Fatalf("output with error %v", err)
			}
			return
		}
		in, got := bytes.Split(src, []byte("\n")), bytes.Split(out, []byte("\n"))
		if len(in) != len(got) {
			t.Fatalf("%d lines in, %d out", len(in), len(got))
		}
		for i, l := range got {
			s := strings.TrimSuffix(string(l), "\r")
			// The first line, blank lines (spaces and tabs only) and tags
			// without a signed URI pass through unchanged.
			if i == 0 || strings.Trim(s, " \t") == "" || strings.HasPrefix(s, "#") && !bytes.Contains(l, []byte(target.Query)) {
				if !bytes.Equal(l, in[i]) && !(s == "" && len(bytes.Trim(in[i], " \t\r")) == 0) {
					t.Fatalf("line %d changed: %q -> %q", i+1, in[i], l)
				}
				continue
			}
			if strings.HasPrefix(s, "#") {
				m := uriAttrRE.FindAllStringSubmatch(s, -1)
				if len(m) == 0 {
					t.Fatalf("line %d: signed tag without URI attribute: %q", i+1, s)
				}
				for _, u := range m {
					if strings.Contains(u[1], target.Query) {
						checkURI(t, u[1])
					}
				}
				continue
			}
			checkURI(t, s)
		}
	})
}

func checkURI(t *testing.T, u string) {
	t.Helper()
	var p string
	switch {
	case strings.HasPrefix(u, target.Playlists):
		p = strings.TrimPrefix(u, target.Playlists)
	case strings.HasPrefix(u, target.Media):
		p = strings.TrimPrefix(u, target.Media)
	default:
		t.Fatalf("URI %q has neither prefix", u)
	}
	p, ok := strings.CutSuffix(p, "?"+target.Query)
	if !ok || p == "" || strings.ContainsAny(p, "?#\\\" ") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		t.Fatalf("URI %q: path %q", u, p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			t.Fatalf("URI %q: unclean path %q", u, p)
		}
	}
	if low := strings.ToLower(p); strings.Contains(low, "%2e") || strings.Contains(low, "%2f") || strings.Contains(low, "%5c") {
		t.Fatalf("URI %q: escaped separator or dot", u)
	}
}
