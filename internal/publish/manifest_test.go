package publish

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/internal/materials"
)

// materialsTree is hlsTree with downloads and their titles.
func materialsTree() map[string]string {
	tree := hlsTree()
	tree["files/ebook.pdf"] = "%PDF-1.4 ebook"
	tree["files/lesson1.mp3"] = "ID3 lesson"
	tree["files/.DS_Store"] = "ignored"
	tree["titles.tsv"] = "# name\ttitle\nebook.pdf\tThe HLS ebook\n\n"
	return tree
}

// recordingS3 passes calls to the real (moto) client, records the keys put
// in order, and fails the put of failKey.
type recordingS3 struct {
	S3API
	failKey string
	mu      sync.Mutex
	puts    []string
}

func (r *recordingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	r.mu.Lock()
	r.puts = append(r.puts, aws.ToString(in.Key))
	r.mu.Unlock()
	if aws.ToString(in.Key) == r.failKey {
		return nil, errors.New("injected failure")
	}
	return r.S3API.PutObject(ctx, in, opts...)
}

func recordS3(t *testing.T, failKey string) *recordingS3 {
	rec := &recordingS3{failKey: failKey}
	orig := newS3Client
	newS3Client = func(cfg aws.Config, pathStyle bool) S3API {
		rec.S3API = orig(cfg, pathStyle)
		return rec
	}
	t.Cleanup(func() { newS3Client = orig })
	return rec
}

func getObject(t *testing.T, c *s3.Client, bucket, key string) (*s3.GetObjectOutput, string) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return out, string(b)
}

// TestPublishMaterials: files/ is uploaded as attachments with their types,
// titles.tsv is not uploaded, and the manifest is written last, listing
// the master playlists and the files with their titles.
func TestPublishMaterials(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	rec := recordS3(t, "")
	dir := writeTree(t, materialsTree())
	out, progress, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", dir)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, progress)
	}
	if !strings.Contains(out, "wrote manifest s3://"+bucket+"/manifests/intro-to-hls.json (2 master playlists, 2 files)") {
		t.Errorf("summary %q", out)
	}
	if n := len(rec.puts); n != 14 || rec.puts[n-1] != "manifests/intro-to-hls.json" {
		t.Errorf("puts %v: want 13 objects, then the manifest last", rec.puts)
	}
	got := keys(t, c, bucket)
	for _, k := range []string{"courses/intro-to-hls/titles.tsv", "courses/intro-to-hls/files/.DS_Store"} {
		if slices.Contains(got, k) {
			t.Errorf("%s uploaded", k)
		}
	}
	for key, want := range map[string][2]string{
		"courses/intro-to-hls/files/ebook.pdf":   {"application/pdf", `attachment; filename="ebook.pdf"`},
		"courses/intro-to-hls/files/lesson1.mp3": {"audio/mpeg", `attachment; filename="lesson1.mp3"`},
	} {
		o, body := getObject(t, c, bucket, key)
		if g := [2]string{aws.ToString(o.ContentType), aws.ToString(o.ContentDisposition)}; g != want {
			t.Errorf("%s: Content-Type, Content-Disposition = %q, want %q", key, g, want)
		}
		if !strings.HasPrefix(body, "%PDF") && !strings.HasPrefix(body, "ID3") {
			t.Errorf("%s: body %q", key, body)
		}
	}
	o, body := getObject(t, c, bucket, "manifests/intro-to-hls.json")
	if ct := aws.ToString(o.ContentType); ct != "application/json" {
		t.Errorf("manifest Content-Type %q", ct)
	}
	want := `{"course":"intro-to-hls","playlists":["fmp4/master.m3u8","ts/master.m3u8"],"files":[` +
		`{"name":"ebook.pdf","size":14,"type":"application/pdf","title":"The HLS ebook"},` +
		`{"name":"lesson1.mp3","size":10,"type":"audio/mpeg"}]}`
	if body != want {
		t.Errorf("manifest\n %s\nwant\n %s", body, want)
	}
	if _, err := materials.ParseManifest("intro-to-hls", []byte(body)); err != nil {
		t.Errorf("the login function would refuse the manifest: %v", err)
	}
}

// TestManifestNotWrittenOnFailure: a failed upload leaves no manifest (the
// old one, if any, stays), so nothing is listed that is not in the bucket.
func TestManifestNotWrittenOnFailure(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	rec := recordS3(t, "courses/intro-to-hls/files/ebook.pdf")
	_, _, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", "--concurrency", "1", writeTree(t, materialsTree()))
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v, want the injected failure", err)
	}
	if slices.Contains(rec.puts, "manifests/intro-to-hls.json") || slices.Contains(keys(t, c, bucket), "manifests/intro-to-hls.json") {
		t.Error("manifest written after a failed upload")
	}
}

// TestMaterialsRefused: bad names, folders and types in files/ and a bad
// titles.tsv are refused with a clear error before anything is uploaded.
func TestMaterialsRefused(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	tests := []struct {
		name   string
		edit   func(map[string]string)
		wantIn []string
	}{
		{"space in name", func(m map[string]string) { m["files/my book.pdf"] = "x" }, []string{`files/"my book.pdf"`, "must match"}},
		{"non-ASCII name", func(m map[string]string) { m["files/über.pdf"] = "x" }, []string{"über.pdf"}},
		{"dot dot", func(m map[string]string) { m["files/a..pdf"] = "x" }, []string{"a..pdf"}},
		{"folder", func(m map[string]string) { m["files/extra/a.pdf"] = "x" }, []string{"files/extra: not a regular file"}},
		{"html", func(m map[string]string) { m["files/notes.html"] = "<script>" }, []string{"files/notes.html: type not allowed", ".pdf"}},
		{"unknown type", func(m map[string]string) { m["files/tool.exe"] = "MZ" }, []string{"files/tool.exe: type not allowed"}},
		{"every offender", func(m map[string]string) { m["files/a b.pdf"] = "x"; m["files/x.svg"] = "<svg/>" }, []string{`"a b.pdf"`, "x.svg"}},
		{"title for unknown file", func(m map[string]string) { m["titles.tsv"] = "nope.pdf\tNope\n" }, []string{"titles.tsv:1", "nope.pdf"}},
		{"title without tab", func(m map[string]string) { m["titles.tsv"] = "ebook.pdf The ebook\n" }, []string{"titles.tsv:1", "name<TAB>title"}},
		{"title with control char", func(m map[string]string) { m["titles.tsv"] = "ebook.pdf\tThe\x07ebook\n" }, []string{"titles.tsv:1", "printable"}},
		{"playlist path", func(m map[string]string) {
			m["ts/master.m3u8"] += "#EXT-X-STREAM-INF:BANDWIDTH=1\n_v/index.m3u8\n"
			m["_v/index.m3u8"] = "#EXTM3U\n#EXT-X-ENDLIST\n"
			m["ts/_v/index.m3u8"] = "#EXTM3U\n#EXT-X-ENDLIST\n"
		}, []string{"_v/index.m3u8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := materialsTree()
			tt.edit(tree)
			for _, dry := range []bool{true, false} {
				args := []string{"--bucket", bucket, "--course", "intro-to-hls", writeTree(t, tree)}
				if dry {
					args = append([]string{"--dry-run"}, args...)
				}
				_, _, err := run(t, args...)
				for _, w := range tt.wantIn {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("dry-run=%v: err = %v, want it to contain %q", dry, err, w)
					}
				}
			}
		})
	}
	if got := keys(t, c, bucket); len(got) != 0 {
		t.Errorf("refused runs uploaded %v", got)
	}
}

func TestDryRunWritesNoManifest(t *testing.T) {
	c := motoEnv(t)
	bucket := newBucket(t, c)
	out, _, err := run(t, "--bucket", bucket, "--course", "intro-to-hls", "--dry-run", writeTree(t, materialsTree()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "would write manifest") {
		t.Errorf("summary %q", out)
	}
	if got := keys(t, c, bucket); len(got) != 0 {
		t.Errorf("dry run wrote %v", got)
	}
}
