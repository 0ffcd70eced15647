package hlsrewrite_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cfgate/cfgate/internal/hlsrewrite"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }

var target = hlsrewrite.Target{
	Playlists: "https://d.example/api/play/c1/",
	Media:     "https://d.example/courses/c1/",
	Query:     "Policy=eyJTdGF0ZW1lbnQiOltdfQ__&Signature=abc~def-ghi_&Key-Pair-Id=K2JCJMDEHXQW5F",
}

// uriAttrRE and the line loop below are the tests' own reading of the rule,
// written independently of the package: every URI line and every
// URI="…" attribute of a URI tag becomes prefix + resolved path + "?" + query.
var uriAttrRE = regexp.MustCompile(`URI="([^"]*)"`)

func expected(t *testing.T, src, playlist string) (string, []string) {
	t.Helper()
	dir := path.Dir(playlist)
	var resolved []string
	rewrite := func(uri string) string {
		p := path.Clean(path.Join(dir, uri))
		resolved = append(resolved, p)
		if strings.HasSuffix(p, ".m3u8") {
			return target.Playlists + p + "?" + target.Query
		}
		return target.Media + p + "?" + target.Query
	}
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		switch {
		case l == "" || i == 0:
		case strings.HasPrefix(l, "#EXT-X-MAP:"), strings.HasPrefix(l, "#EXT-X-KEY:"), strings.HasPrefix(l, "#EXT-X-MEDIA:"),
			strings.HasPrefix(l, "#EXT-X-SESSION-KEY:"), strings.HasPrefix(l, "#EXT-X-I-FRAME-STREAM-INF:"),
			strings.HasPrefix(l, "#EXT-X-SESSION-DATA:"), strings.HasPrefix(l, "#EXT-X-PRELOAD-HINT:"),
			strings.HasPrefix(l, "#EXT-X-RENDITION-REPORT:"), strings.HasPrefix(l, "#EXT-X-PART:"):
			lines[i] = uriAttrRE.ReplaceAllStringFunc(l, func(m string) string {
				return `URI="` + rewrite(uriAttrRE.FindStringSubmatch(m)[1]) + `"`
			})
		case strings.HasPrefix(l, "#"):
		default:
			lines[i] = rewrite(l)
		}
	}
	return strings.Join(lines, "\n"), resolved
}

// checkFolder rewrites every playlist of a course folder made by ffmpeg and
// compares with the expected text; every resolved path must be a file of
// the folder (resolution is right), and at least minURIs URIs were seen.
func checkFolder(t *testing.T, root string, minURIs int) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".m3u8") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := hlsrewrite.Rewrite(src, rel, target)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		want, resolved := expected(t, string(src), rel)
		if string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", rel, got, want)
		}
		for _, r := range resolved {
			if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(r))); err != nil || fi.IsDir() {
				t.Errorf("%s: resolved %s is not a file of the course: %v", rel, r, err)
			}
		}
		if strings.Count(string(got), target.Query) != len(resolved) {
			t.Errorf("%s: %d signed URIs, %d URIs", rel, strings.Count(string(got), target.Query), len(resolved))
		}
		n += len(resolved)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < minURIs {
		t.Errorf("%s: %d URIs rewritten, want at least %d", root, n, minURIs)
	}
}

// TestDemoPlaylists: the committed demo course (made by ffmpeg,
// distribution/demo/make-media.sh), TS and fMP4 with EXT-X-MAP.
func TestDemoPlaylists(t *testing.T) {
	for _, c := range []string{"intro-to-hls", "advanced-streaming"} {
		checkFolder(t, filepath.Join("..", "..", "distribution", "demo", "media", "courses", c), 2*2+2*4+2*5) // masters, TS media, fMP4 media with EXT-X-MAP
	}
}

func ffmpeg(t *testing.T, dir string, args ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=3",
		"-f", "lavfi", "-i", "sine=duration=3"}
	cmd := exec.Command("ffmpeg", append(base, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// TestFFmpegPlaylists: playlists made by ffmpeg with each feature the
// rewriter must handle: EXT-X-MEDIA renditions, EXT-X-BYTERANGE (single
// file), EXT-X-MAP with BYTERANGE, EXT-X-KEY (AES-128), I-frame playlists.
func TestFFmpegPlaylists(t *testing.T) {
	needs.Tool(t, "ffmpeg")
	root := t.TempDir()
	hls := []string{"-c:v", "libx264", "-g", "10", "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"}
	// Audio renditions in EXT-X-MEDIA, fMP4 with EXT-X-MAP per rendition.
	ffmpeg(t, filepath.Join(root, "groups"), append([]string{"-map", "0:v", "-map", "1:a", "-map", "1:a"}, append(hls,
		"-hls_segment_type", "fmp4", "-master_pl_name", "master.m3u8",
		"-var_stream_map", "v:0,agroup:aud a:0,agroup:aud,name:en,default:yes a:1,agroup:aud,name:fr",
		"-hls_segment_filename", "%v/s%d.m4s", "%v/index.m3u8")...)...)
	// One TS file addressed by EXT-X-BYTERANGE.
	ffmpeg(t, filepath.Join(root, "byterange"), append(hls, "-hls_flags", "single_file", "index.m3u8")...)
	// One fMP4 file: EXT-X-MAP:URI=…,BYTERANGE=… and EXT-X-BYTERANGE.
	ffmpeg(t, filepath.Join(root, "fmp4single"), append(hls, "-hls_flags", "single_file", "-hls_segment_type", "fmp4", "index.m3u8")...)
	// AES-128: EXT-X-KEY with a key file one folder up.
	keyDir := filepath.Join(root, "aes")
	if err := os.MkdirAll(filepath.Join(keyDir, "v"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keyDir, "k.key"), []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keyDir, "keyinfo"), []byte("../k.key\n"+filepath.Join(keyDir, "k.key")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ffmpeg(t, filepath.Join(keyDir, "v"), append(hls, "-hls_key_info_file", filepath.Join(keyDir, "keyinfo"), "index.m3u8")...)
	// I-frame-only playlist.
	ffmpeg(t, filepath.Join(root, "iframes"), append(hls, "-hls_flags", "iframes_only", "index.m3u8")...)

	for _, tc := range []struct {
		dir  string
		must string // a line the ffmpeg output must have, so the case tests what it says
		uris int
	}{
		{"groups", "#EXT-X-MEDIA:TYPE=AUDIO", 3 + 3*4},
		{"byterange", "#EXT-X-BYTERANGE:", 3},
		{"fmp4single", "#EXT-X-MAP:URI=", 4},
		{"aes", "#EXT-X-KEY:METHOD=AES-128,URI=", 4},
		{"iframes", "#EXT-X-I-FRAMES-ONLY", 3},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			var all strings.Builder
			_ = filepath.WalkDir(filepath.Join(root, tc.dir), func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".m3u8") {
					b, _ := os.ReadFile(p)
					all.Write(b)
				}
				return nil
			})
			if !strings.Contains(all.String(), tc.must) {
				t.Fatalf("ffmpeg wrote no %q line:\n%s", tc.must, all.String())
			}
			checkFolder(t, filepath.Join(root, tc.dir), tc.uris)
		})
	}
}

// TestTags: every tag with a URI attribute, CRLF line endings, comments,
// attributes before and after the URI, and a URI attribute inside quotes of
// another attribute that must not be mistaken for it.
func TestTags(t *testing.T) {
	src := "#EXTM3U\r\n" +
		"# a comment with URI=\"x.ts\"\r\n" +
		"#EXT-X-SESSION-DATA:DATA-ID=\"com.example.t\",URI=\"../data.json\",LANGUAGE=\"en\"\r\n" +
		"#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"keys/k.bin\",IV=0x00000000000000000000000000000001\r\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x,URI=y\",URI=\"a/en.m3u8\"\r\n" +
		"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc\",INSTREAM-ID=\"CC1\"\r\n" +
		"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI=\"iframe/index.m3u8\"\r\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=2000,AUDIO=\"a\"\r\n" +
		"v/index.m3u8\r\n" +
		"#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\r\n" +
		"#EXT-X-KEY:METHOD=NONE\r\n" +
		"#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"./k2.bin\",KEYFORMAT=\"identity\"\r\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"part1.mp4\",BYTERANGE=100@720\r\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part2.mp4\"\r\n" +
		"#EXT-X-RENDITION-REPORT:URI=\"../hi/index.m3u8\",LAST-MSN=4\r\n" +
		"#EXTINF:2.0,\r\n" +
		"#EXT-X-BYTERANGE:1000@720\r\n" +
		"seg.m4s\r\n" +
		"\r\n" +
		"#EXT-X-ENDLIST"
	q := "?" + target.Query
	want := "#EXTM3U\r\n" +
		"# a comment with URI=\"x.ts\"\r\n" +
		"#EXT-X-SESSION-DATA:DATA-ID=\"com.example.t\",URI=\"" + target.Media + "data.json" + q + "\",LANGUAGE=\"en\"\r\n" +
		"#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"" + target.Media + "ts/keys/k.bin" + q + "\",IV=0x00000000000000000000000000000001\r\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x,URI=y\",URI=\"" + target.Playlists + "ts/a/en.m3u8" + q + "\"\r\n" +
		"#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID=\"cc\",NAME=\"cc\",INSTREAM-ID=\"CC1\"\r\n" +
		"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1000,URI=\"" + target.Playlists + "ts/iframe/index.m3u8" + q + "\"\r\n" +
		"#EXT-X-STREAM-INF:BANDWIDTH=2000,AUDIO=\"a\"\r\n" +
		target.Playlists + "ts/v/index.m3u8" + q + "\r\n" +
		"#EXT-X-MAP:URI=\"" + target.Media + "ts/init.mp4" + q + "\",BYTERANGE=\"720@0\"\r\n" +
		"#EXT-X-KEY:METHOD=NONE\r\n" +
		"#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"" + target.Media + "ts/k2.bin" + q + "\",KEYFORMAT=\"identity\"\r\n" +
		"#EXT-X-PART:DURATION=0.5,URI=\"" + target.Media + "ts/part1.mp4" + q + "\",BYTERANGE=100@720\r\n" +
		"#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"" + target.Media + "ts/part2.mp4" + q + "\"\r\n" +
		"#EXT-X-RENDITION-REPORT:URI=\"" + target.Playlists + "hi/index.m3u8" + q + "\",LAST-MSN=4\r\n" +
		"#EXTINF:2.0,\r\n" +
		"#EXT-X-BYTERANGE:1000@720\r\n" +
		target.Media + "ts/seg.m4s" + q + "\r\n" +
		"\r\n" +
		"#EXT-X-ENDLIST"
	got, err := hlsrewrite.Rewrite([]byte(src), "ts/master.m3u8", target)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestRefused: every playlist that could lead outside the course, or that
// the rewriter cannot read with certainty, is refused as a whole.
func TestRefused(t *testing.T) {
	const head = "#EXTM3U\n#EXTINF:2,\n"
	for name, src := range map[string]string{
		"no EXTM3U":              "#EXTINF:2,\nseg.ts\n",
		"empty":                  "",
		"BOM":                    "\ufeff#EXTM3U\nseg.ts\n",
		"absolute https":         head + "https://evil.test/seg.ts\n",
		"absolute other scheme":  head + "data:text/plain,x\n",
		"scheme-relative":        head + "//evil.test/seg.ts\n",
		"root-relative":          head + "/courses/c1/ts/seg.ts\n",
		"escapes course":         head + "../../../other/ts/seg.ts\n",
		"escapes from root":      head + "../../../etc/passwd\n",
		"own query":              head + "seg.ts?v=1\n",
		"own empty query":        head + "seg.ts?\n",
		"fragment":               head + "seg.ts#t=1\n",
		"escaped slash":          head + "..%2F..%2Fother/seg.ts\n",
		"escaped dot":            head + "%2e%2e/%2e%2e/other/seg.ts\n",
		"escaped backslash":      head + "..%5Cseg.ts\n",
		"escaped NUL":            head + "seg%00.ts\n",
		"malformed escape":       head + "seg%zz.ts\n",
		"truncated escape":       head + "seg%2\n",
		"backslash":              head + "..\\other\\seg.ts\n",
		"space inside":           head + "my seg.ts\n",
		"quote":                  head + "seg\".ts\n",
		"non-ASCII":              head + "ség.ts\n",
		"template variable":      head + "{$base}/seg.ts\n",
		"folder":                 head + "ts/\n",
		"dot":                    head + ".\n",
		"dotdot to root":         head + "..\n",
		"double slash":           head + "a//seg.ts\n",
		"map absolute":           "#EXTM3U\n#EXT-X-MAP:URI=\"https://evil.test/init.mp4\"\n",
		"map unquoted":           "#EXTM3U\n#EXT-X-MAP:URI=init.mp4\n",
		"indented tag":           "#EXTM3U\n  #EXT-X-MAP:URI=\"init.mp4\"\n",
		"map empty":              "#EXTM3U\n#EXT-X-MAP:URI=\"\"\n",
		"map repeated":           "#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\",URI=\"b.mp4\"\n",
		"map unterminated":       "#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\n",
		"map escapes":            "#EXTM3U\n#EXT-X-MAP:URI=\"../../../x/init.mp4\"\n",
		"map bad attribute name": "#EXTM3U\n#EXT-X-MAP:uri=\"x\",URI=\"a.mp4\"\n",
		"map trailing comma":     "#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\",\n",
		"key data URI":           "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"data:text/plain;base64,AAAA\"\n",
		"key server":             "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example/k\"\n",
		"key skd":                "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://k\"\n",
		"key query":              "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k.bin?token=1\"\n",
		"media not a playlist":   "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"a\",URI=\"a/en.ts\"\n",
		"variant not a playlist": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.mp4\n",
		"variant bad name":       "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/.hidden.m3u8\n",
		"iframe not a playlist":  "#EXTM3U\n#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.ts\"\n",
		"report absolute":        "#EXTM3U\n#EXT-X-RENDITION-REPORT:URI=\"https://evil.test/x.m3u8\"\n",
		"part escapes":           "#EXTM3U\n#EXT-X-PART:DURATION=1,URI=\"../../../p.mp4\"\n",
		"hint fragment":          "#EXTM3U\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p.mp4#x\"\n",
		"session data absolute":  "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"http://evil.test/d.json\"\n",
		"session key escapes":    "#EXTM3U\n#EXT-X-SESSION-KEY:METHOD=AES-128,URI=\"../../../k\"\n",
	} {
		out, err := hlsrewrite.Rewrite([]byte(src), "ts/360p/index.m3u8", target)
		var e *hlsrewrite.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %q, %v; want an *Error", name, out, err)
			continue
		}
		if out != nil || strings.Contains(err.Error(), target.Query) {
			t.Errorf("%s: output %q, error %v", name, out, err)
		}
	}
}

// TestResolution: dot segments resolve inside the course, from a nested playlist.
func TestResolution(t *testing.T) {
	for uri, want := range map[string]string{
		"seg.ts":                target.Media + "ts/360p/seg.ts",
		"./seg.ts":              target.Media + "ts/360p/seg.ts",
		"../180p/seg.ts":        target.Media + "ts/180p/seg.ts",
		"../../shared/a.key":    target.Media + "shared/a.key",
		"x/../../../ts/seg.ts":  target.Media + "ts/seg.ts",
		"seg%20one.ts":          target.Media + "ts/360p/seg%20one.ts",
		"a:b/../seg.ts":         "", // a scheme
		"../../../c1/ts/seg.ts": "", // above the course, even if it names it
		"seg.ts ":               target.Media + "ts/360p/seg.ts",
	} {
		src := "#EXTM3U\n#EXTINF:1,\n" + uri + "\n"
		got, err := hlsrewrite.Rewrite([]byte(src), "ts/360p/index.m3u8", target)
		switch {
		case want == "" && err == nil:
			t.Errorf("%q: accepted: %s", uri, got)
		case want != "" && err != nil:
			t.Errorf("%q: %v", uri, err)
		case want != "" && string(got) != "#EXTM3U\n#EXTINF:1,\n"+want+"?"+target.Query+"\n":
			t.Errorf("%q: got %q", uri, got)
		}
	}
}

func TestBadArguments(t *testing.T) {
	src := []byte("#EXTM3U\nseg.ts\n")
	if _, err := hlsrewrite.Rewrite(src, "../x.m3u8", target); err == nil {
		t.Error("playlist path outside the course accepted")
	}
	for _, bad := range []hlsrewrite.Target{
		{Playlists: target.Playlists, Media: target.Media, Query: ""},
		{Playlists: target.Playlists, Media: target.Media, Query: "a\"b"},
		{Playlists: target.Playlists, Media: target.Media, Query: "a\nb"},
		{Playlists: target.Playlists, Media: "", Query: "q"},
		{Playlists: "x#", Media: target.Media, Query: "q"},
	} {
		if _, err := hlsrewrite.Rewrite(src, "a.m3u8", bad); err == nil {
			t.Errorf("target %+v accepted", bad)
		}
	}
}
