package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestContentTypeAndCacheControl(t *testing.T) {
	tests := []struct {
		key, ct, cc string
		site        bool
	}{
		{"courses/a/ts/master.m3u8", "application/vnd.apple.mpegurl", CachePlaylist, false},
		{"courses/a/ts/v0/INDEX.M3U8", "application/vnd.apple.mpegurl", CachePlaylist, false},
		{"courses/a/ts/v0/seg000.ts", "video/mp2t", CacheImmutable, false},
		{"courses/a/fmp4/v0/init_0.mp4", "video/mp4", CacheImmutable, false},
		{"courses/a/fmp4/v0/seg000.m4s", "video/mp4", CacheImmutable, false},
		{"courses/a/audio/seg.aac", "audio/aac", CacheImmutable, false},
		{"courses/a/subs/en.vtt", "text/vtt", CacheImmutable, false},
		{"courses/a/notes.pdf", "application/pdf", CacheImmutable, false},
		{"courses/a/noext", "application/octet-stream", CacheImmutable, false},
		{"site/index.html", "text/html; charset=utf-8", CacheSite, true},
		{"site/app.js", "text/javascript; charset=utf-8", CacheSite, true},
		{"site/style.css", "text/css; charset=utf-8", CacheSite, true},
		{"site/config.json", "application/json", CacheSite, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := ContentType(tt.key); got != tt.ct {
				t.Errorf("ContentType = %q, want %q", got, tt.ct)
			}
			if got := CacheControl(tt.key, tt.site); got != tt.cc {
				t.Errorf("CacheControl = %q, want %q", got, tt.cc)
			}
		})
	}
}

// writeTree writes files (slash paths → content) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hlsTree is a small but complete two-format course: TS with a nested variant
// and an AES key, fMP4 with an EXT-X-MAP init segment, subtitles.
func hlsTree() map[string]string {
	return map[string]string{
		"ts/master.m3u8": "#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"en\",URI=\"subs/en.m3u8\"\n" +
			"#EXT-X-STREAM-INF:BANDWIDTH=800000,SUBTITLES=\"subs\"\nv0/index.m3u8\n",
		"ts/v0/index.m3u8": "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-KEY:METHOD=AES-128,URI=\"../key.bin\",IV=0x1\n" +
			"#EXTINF:4.0,\nseg000.ts\n#EXTINF:4.0,\nseg001.ts?v=1\n#EXT-X-ENDLIST\n",
		"ts/v0/seg000.ts":    strings.Repeat("T", 1000),
		"ts/v0/seg001.ts":    strings.Repeat("U", 900),
		"ts/key.bin":         "0123456789abcdef",
		"ts/subs/en.m3u8":    "#EXTM3U\n#EXTINF:4.0,\nen.vtt\n#EXT-X-ENDLIST\n",
		"ts/subs/en.vtt":     "WEBVTT\n",
		"fmp4/master.m3u8":   "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv0/index.m3u8\n",
		"fmp4/v0/index.m3u8": "#EXTM3U\n#EXT-X-MAP:URI=\"init_0.mp4\"\n#EXT-X-KEY:METHOD=NONE\n#EXTINF:4.0,\nseg000.m4s\n#EXT-X-ENDLIST\n",
		"fmp4/v0/init_0.mp4": "init",
		"fmp4/v0/seg000.m4s": "m4s",
		".DS_Store":          "ignored",
	}
}

func TestValidateHLS(t *testing.T) {
	if err := ValidateHLS(writeTree(t, hlsTree())); err != nil {
		t.Fatalf("complete tree refused: %v", err)
	}
	tests := []struct {
		name   string
		edit   func(m map[string]string)
		wantIn string
	}{
		{"no playlist", func(m map[string]string) {
			for k := range m {
				if strings.HasSuffix(k, ".m3u8") {
					delete(m, k)
				}
			}
		}, "no .m3u8 playlist"},
		{"missing segment", func(m map[string]string) { delete(m, "ts/v0/seg001.ts") }, "ts/v0/index.m3u8:7: names missing file ts/v0/seg001.ts"},
		{"missing variant playlist", func(m map[string]string) { delete(m, "fmp4/v0/index.m3u8") }, "fmp4/master.m3u8:3: names missing file fmp4/v0/index.m3u8"},
		{"missing init segment", func(m map[string]string) { delete(m, "fmp4/v0/init_0.mp4") }, "names missing file fmp4/v0/init_0.mp4"},
		{"missing key", func(m map[string]string) { delete(m, "ts/key.bin") }, "names missing file ts/key.bin"},
		{"missing rendition playlist", func(m map[string]string) { delete(m, "ts/subs/en.m3u8") }, "names missing file ts/subs/en.m3u8"},
		{"absolute segment URL", func(m map[string]string) {
			m["ts/v0/index.m3u8"] = "#EXTM3U\n#EXTINF:4.0,\nhttps://elsewhere.example.com/seg000.ts\n"
		}, "absolute URL"},
		{"root-relative path", func(m map[string]string) {
			m["ts/v0/index.m3u8"] = "#EXTM3U\n#EXTINF:4.0,\n/courses/other/seg000.ts\n"
		}, "root-relative"},
		{"escapes the folder", func(m map[string]string) {
			m["ts/v0/index.m3u8"] = "#EXTM3U\n#EXTINF:4.0,\n../../../x.ts\n"
		}, "points outside the folder"},
		{"not a playlist", func(m map[string]string) { m["ts/master.m3u8"] = "hello\n" }, "first line is not #EXTM3U"},
		{"empty playlist", func(m map[string]string) { m["ts/master.m3u8"] = "" }, "empty playlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := hlsTree()
			tt.edit(m)
			err := ValidateHLS(writeTree(t, m))
			var nh *NotHLSError
			if !errors.As(err, &nh) {
				t.Fatalf("err = %v, want *NotHLSError", err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.wantIn)
			}
		})
	}
	t.Run("key server URL allowed", func(t *testing.T) {
		m := hlsTree()
		m["ts/v0/index.m3u8"] = "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"https://keys.example.com/k\"\n#EXTINF:4.0,\nseg000.ts\n"
		if err := ValidateHLS(writeTree(t, m)); err != nil {
			t.Error(err)
		}
	})
}

// motoEnv points the process's SDK configuration at moto (as a user would
// with AWS_ENDPOINT_URL) and returns a path-style client for assertions.
func motoEnv(t *testing.T) *s3.Client {
	t.Helper()
	s := motoserver.Shared(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return s3.NewFromConfig(s.Config(t), func(o *s3.Options) { o.UsePathStyle = true })
}

func newBucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	b := motoserver.Unique(t, "media")
	if len(b) > 63 {
		b = b[len(b)-63:]
	}
	b = strings.Trim(b, "-")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	return b
}

func keys(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, aws.ToString(o.Key))
	}
	slices.Sort(ks)
	return ks
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestPublishCourse(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	dir := writeTree(t, hlsTree())

	out, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", "--concurrency", "4", dir)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, progress)
	}
	want := []string{
		"courses/intro-to-hls/fmp4/master.m3u8", "courses/intro-to-hls/fmp4/v0/index.m3u8",
		"courses/intro-to-hls/fmp4/v0/init_0.mp4", "courses/intro-to-hls/fmp4/v0/seg000.m4s",
		"courses/intro-to-hls/ts/key.bin", "courses/intro-to-hls/ts/master.m3u8",
		"courses/intro-to-hls/ts/subs/en.m3u8", "courses/intro-to-hls/ts/subs/en.vtt",
		"courses/intro-to-hls/ts/v0/index.m3u8", "courses/intro-to-hls/ts/v0/seg000.ts",
		"courses/intro-to-hls/ts/v0/seg001.ts", "manifests/intro-to-hls.json",
	}
	if got := keys(t, c, bucket); !slices.Equal(got, want) {
		t.Fatalf("objects:\n got %v\nwant %v", got, want)
	}
	if !strings.HasPrefix(out, "uploaded 11 files") || !strings.Contains(out, "0 already identical") {
		t.Errorf("summary %q", out)
	}
	// Not a terminal: one plain line per file, no carriage returns.
	if strings.Count(progress, "\n") != 11 || strings.Contains(progress, "\r") || !strings.Contains(progress, "uploaded courses/intro-to-hls/ts/v0/seg000.ts (1000 B)") {
		t.Errorf("progress lines:\n%s", progress)
	}

	headers := map[string][2]string{
		"ts/master.m3u8":     {"application/vnd.apple.mpegurl", "public, max-age=60"},
		"ts/v0/index.m3u8":   {"application/vnd.apple.mpegurl", "public, max-age=60"},
		"ts/v0/seg000.ts":    {"video/mp2t", "public, max-age=31536000, immutable"},
		"fmp4/v0/init_0.mp4": {"video/mp4", "public, max-age=31536000, immutable"},
		"fmp4/v0/seg000.m4s": {"video/mp4", "public, max-age=31536000, immutable"},
		"ts/subs/en.vtt":     {"text/vtt", "public, max-age=31536000, immutable"},
	}
	for rel, w := range headers {
		h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("courses/intro-to-hls/" + rel)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(h.ContentType) != w[0] || aws.ToString(h.CacheControl) != w[1] {
			t.Errorf("%s: Content-Type %q Cache-Control %q, want %q %q", rel, aws.ToString(h.ContentType), aws.ToString(h.CacheControl), w[0], w[1])
		}
		if len(h.Metadata[MetaSHA256]) != 64 {
			t.Errorf("%s: sha256 metadata %q", rel, h.Metadata[MetaSHA256])
		}
	}

	t.Run("second run skips identical", func(t *testing.T) {
		out, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "uploaded 0 files") || !strings.Contains(out, "11 already identical") {
			t.Errorf("summary %q", out)
		}
		if strings.Contains(progress, "] uploaded") {
			t.Errorf("something uploaded again:\n%s", progress)
		}
	})
	t.Run("changed file uploads alone", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "ts", "v0", "seg001.ts"), []byte(strings.Repeat("V", 900)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "uploaded 1 files") || !strings.Contains(progress, "uploaded courses/intro-to-hls/ts/v0/seg001.ts") {
			t.Errorf("summary %q\n%s", out, progress)
		}
	})
	t.Run("changed headers upload again", func(t *testing.T) {
		// An object put by another tool with a wrong type is corrected.
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
			Key: aws.String("courses/intro-to-hls/ts/v0/seg000.ts"), Body: strings.NewReader(strings.Repeat("T", 1000)),
			ContentType: aws.String("binary/octet-stream")})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir)
		if err != nil || !strings.HasPrefix(out, "uploaded 1 files") {
			t.Errorf("summary %q err %v", out, err)
		}
	})
}

func TestDryRunUploadsNothing(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	out, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", "--dry-run", writeTree(t, hlsTree()))
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(t, c, bucket); len(got) != 0 {
		t.Errorf("dry run uploaded %v", got)
	}
	if !strings.HasPrefix(out, "would upload 11 files") || !strings.Contains(progress, "would upload courses/intro-to-hls/ts/master.m3u8") {
		t.Errorf("summary %q\n%s", out, progress)
	}
}

// TestRefusesRenderableFiles: a course folder holding HTML or SVG is refused
// whole, dry run or not, and the error names every such file.
func TestRefusesRenderableFiles(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	tree := hlsTree()
	tree["notes.html"] = "<script>fetch('/api/session')</script>"
	tree["ts/x.svg"] = "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
	dir := writeTree(t, tree)
	for _, dry := range []bool{true, false} {
		args := []string{"--bucket", bucket, "--course", "intro-to-hls", dir}
		if dry {
			args = append([]string{"--dry-run"}, args...)
		}
		_, _, err := run(t, args...)
		var refused *RefusedError
		if !errors.As(err, &refused) {
			t.Fatalf("dry-run=%v: err = %v, want a RefusedError", dry, err)
		}
		if !slices.Equal(refused.Files, []string{"notes.html", "ts/x.svg"}) {
			t.Errorf("dry-run=%v: refused %v, want [notes.html ts/x.svg]", dry, refused.Files)
		}
		for _, want := range []string{"notes.html", "ts/x.svg", "2 file(s)", ".m3u8"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("dry-run=%v: error %q lacks %q", dry, err, want)
			}
		}
	}
	if got := keys(t, c, bucket); len(got) != 0 {
		t.Errorf("a refused folder uploaded %v", got)
	}
}

// TestMaterialsAreAttachments: course materials are stored with
// Content-Disposition: attachment and the file's name; media are not.
func TestMaterialsAreAttachments(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	tree := hlsTree()
	tree["files/workbook.pdf"] = "%PDF-1.4 test"
	dir := writeTree(t, tree)
	if _, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir); err != nil {
		t.Fatalf("publish: %v\n%s", err, progress)
	}
	for key, want := range map[string][2]string{
		"courses/intro-to-hls/files/workbook.pdf": {"application/pdf", `attachment; filename="workbook.pdf"`},
		"courses/intro-to-hls/ts/v0/seg000.ts":    {"video/mp2t", ""},
	} {
		h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{aws.ToString(h.ContentType), aws.ToString(h.ContentDisposition)}; got != want {
			t.Errorf("%s: Content-Type, Content-Disposition = %q, want %q", key, got, want)
		}
	}
	// Identical on a second run, Content-Disposition included.
	out, _, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir)
	if err != nil || !strings.HasPrefix(out, "uploaded 0 files") {
		t.Errorf("second run: %q %v", out, err)
	}
}

func TestRefusals(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	good := writeTree(t, hlsTree())
	missing := hlsTree()
	delete(missing, "fmp4/v0/init_0.mp4")
	tests := []struct {
		name   string
		args   []string
		wantIn string
	}{
		{"not HLS", []string{"--course", "intro", writeTree(t, map[string]string{"a.mp4": "x"})}, "no .m3u8 playlist"},
		{"missing file", []string{"--course", "intro", writeTree(t, missing)}, "names missing file fmp4/v0/init_0.mp4"},
		{"course id with slash", []string{"--course", "../other", good}, "course id"},
		{"course id with wildcard", []string{"--course", "a*", good}, "course id"},
		{"course id upper case", []string{"--course", "Intro", good}, "course id"},
		{"no bucket", []string{"--bucket", "", "--course", "intro", good}, "--bucket is required"},
		{"no dir", []string{"--course", "intro"}, "want one DIR"},
		{"course and site", []string{"--course", "intro", "--site", good}, "either --course"},
		{"missing bucket", []string{"--bucket", "no-such-bucket-cfgate", "--course", "intro", good}, "no-such-bucket-cfgate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !slices.Contains(args, "--bucket") {
				args = append([]string{"--bucket", bucket}, args...)
			}
			_, _, err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantIn)
			}
		})
	}
	if got := keys(t, c, bucket); len(got) != 0 {
		t.Errorf("refused runs uploaded %v", got)
	}
}

func TestPublishSite(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	player := writeTree(t, map[string]string{
		"site/index.html": "<!doctype html>", "site/app.js": "1", "site/style.css": "a{}",
		"node_modules/hls.js/dist/hls.min.js": "hls", "package.json": "{}",
	})
	if _, _, err := run(t, "--bucket", bucket, "--site", player); err != nil {
		t.Fatal(err)
	}
	want := []string{"site/app.js", "site/index.html", "site/style.css", "site/vendor/hls.min.js"}
	if got := keys(t, c, bucket); !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	h, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("site/vendor/hls.min.js")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(h.ContentType) != "text/javascript; charset=utf-8" || aws.ToString(h.CacheControl) != CacheSite {
		t.Errorf("hls.min.js: %q %q", aws.ToString(h.ContentType), aws.ToString(h.CacheControl))
	}
	t.Run("hls.js not installed", func(t *testing.T) {
		bare := writeTree(t, map[string]string{"site/index.html": "x"})
		_, _, err := run(t, "--bucket", bucket, "--site", bare)
		if err == nil || !strings.Contains(err.Error(), "npm ci --prefix") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestFromMP4(t *testing.T) {
	needs.Tool(t, "ffmpeg")
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is required (apt-get install -y ffmpeg; make test installs it): %v", err)
	}
	c := motoEnv(t)
	bucket := newBucket(t, c)
	src := filepath.Join(t.TempDir(), "talk.mp4")
	mk := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=24", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", src)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make source: %v\n%s", err, out)
	}
	keep := t.TempDir()
	out, progress, err := run(t, "--bucket", bucket, "--course", "from-mp4", "--from-mp4", src, keep)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, progress)
	}
	got := keys(t, c, bucket)
	for _, k := range []string{
		"courses/from-mp4/ts/master.m3u8", "courses/from-mp4/ts/v0/index.m3u8", "courses/from-mp4/ts/v1/index.m3u8",
		"courses/from-mp4/ts/v0/seg000.ts", "courses/from-mp4/ts/v1/seg000.ts",
		"courses/from-mp4/fmp4/master.m3u8", "courses/from-mp4/fmp4/v0/init_0.mp4", "courses/from-mp4/fmp4/v1/seg000.m4s",
	} {
		if !slices.Contains(got, k) {
			t.Errorf("missing %s in %v", k, got)
		}
	}
	master, err := os.ReadFile(filepath.Join(keep, "ts", "master.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(master), "#EXT-X-STREAM-INF"); n != 2 || !strings.Contains(string(master), "RESOLUTION=960x720") || !strings.Contains(string(master), "mp4a") {
		t.Errorf("master playlist: want 2 renditions (720p, 360p) with audio:\n%s", master)
	}
	if !strings.HasPrefix(out, "uploaded ") {
		t.Errorf("summary %q", out)
	}
	t.Run("unreadable input", func(t *testing.T) {
		_, _, err := run(t, "--bucket", bucket, "--course", "from-mp4", "--from-mp4", filepath.Join(t.TempDir(), "none.mp4"))
		if err == nil {
			t.Error("want an error")
		}
	})
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	b := &bar{w: &buf, width: 10}
	b.Start(2, 200)
	b.Done(File{Key: "a", Size: 100}, ActionUploaded)
	b.Done(File{Key: "b", Size: 100}, ActionSkipped)
	b.Finish()
	s := buf.String()
	for _, want := range []string{"\r[----------] 0/2 files", "\r[#####-----] 1/2 files  100 B/200 B", "\r[##########] 2/2 files  200 B/200 B"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar output %q lacks %q", s, want)
		}
	}
	if _, ok := NewProgress(&buf).(*lines); !ok {
		t.Error("a buffer is not a terminal: want plain lines")
	}
}
