package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// mediaBucket creates a bucket on moto holding intro-to-hls's manifest, as
// publish writes it, and returns its name.
func mediaBucket(t *testing.T, w *world) string {
	t.Helper()
	name := strings.Trim(motoserver.Unique(t, "media"), "-")
	c := s3.NewFromConfig(w.awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	manifest := `{"course":"intro-to-hls","playlists":["fmp4/master.m3u8","ts/master.m3u8"],` +
		`"files":[{"name":"ebook.pdf","size":1234,"type":"application/pdf","title":"The ebook"}]}`
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("manifests/intro-to-hls.json"),
		Body: strings.NewReader(manifest), ContentType: aws.String("application/json")}); err != nil {
		t.Fatal(err)
	}
	return name
}

// routeEvent is the access.json fixture sent to another route.
func routeEvent(t *testing.T, method, path, session string) []byte {
	t.Helper()
	b := event(t, "access.json", session)
	b = bytes.ReplaceAll(b, []byte(`"/api/courses/intro-to-hls/access"`), []byte(`"`+path+`"`))
	return bytes.Replace(b, []byte(`"method": "POST"`), []byte(`"method": "`+method+`"`), 1)
}

// TestHandlerFilesAndLink: the function lists a course's files from the
// manifest in S3 and signs a download link for one of them (DynamoDB, S3 and
// Secrets Manager on moto).
func TestHandlerFilesAndLink(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["MEDIA_BUCKET"] = mediaBucket(t, w)
	var logs syncbuf.Buffer
	invoke := newTestInvoke(t, w, env, &logs)
	session := checkLogin(t, decode(t, invokeJSON(t, invoke, event(t, "login.json", ""))))

	resp := decode(t, invokeJSON(t, invoke, routeEvent(t, "GET", "/api/courses/intro-to-hls/files", session)))
	want := `{"files":[{"name":"ebook.pdf","size":1234,"type":"application/pdf","title":"The ebook"}]}`
	if resp.StatusCode != 200 || strings.TrimSpace(resp.Body) != want {
		t.Fatalf("files: %d %s, want 200 %s", resp.StatusCode, resp.Body, want)
	}

	before := time.Now()
	resp = decode(t, invokeJSON(t, invoke, routeEvent(t, "POST", "/api/courses/intro-to-hls/files/ebook.pdf/link", session)))
	if resp.StatusCode != 200 {
		t.Fatalf("link: %d %s", resp.StatusCode, resp.Body)
	}
	var link struct{ URL, Expires string }
	if err := json.Unmarshal([]byte(resp.Body), &link); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "https://"+testDomain+"/courses/intro-to-hls/files/ebook.pdf?Expires=") {
		t.Errorf("link %s", link.URL)
	}
	u, err := url.Parse(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	keys := verifier.KeyMap{w.keyID: w.pub}
	if d := verifier.New(verifier.Options{}).Verify(verifier.Request{URL: u, Now: before}, keys); !d.Allowed {
		t.Errorf("CloudFront would refuse the link: %+v", d)
	}
	if exp, err := time.Parse(time.RFC3339, link.Expires); err != nil || exp.Sub(before) > 5*time.Minute || exp.Sub(before) < 5*time.Minute-2*time.Second {
		t.Errorf("expires %s, want about 5m from now (DOWNLOAD_LINK_TTL's default)", link.Expires)
	}

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/courses/intro-to-hls/files/nope.pdf/link", 404},
		{"POST", "/api/courses/advanced-streaming/files/ebook.pdf/link", 403},
		{"GET", "/api/courses/advanced-streaming/files", 403},
	} {
		resp := decode(t, invokeJSON(t, invoke, routeEvent(t, tc.method, tc.path, session)))
		if resp.StatusCode != tc.want || strings.Contains(resp.Body, "Signature") {
			t.Errorf("%s %s: %d %s, want %d and no URL", tc.method, tc.path, resp.StatusCode, resp.Body, tc.want)
		}
	}
	resp = decode(t, invokeJSON(t, invoke, routeEvent(t, "POST", "/api/courses/intro-to-hls/files/ebook.pdf/link", "")))
	if resp.StatusCode != 401 {
		t.Errorf("link without a session: %d, want 401", resp.StatusCode)
	}
	noSecrets(t, logs.String(), session)
	if sig := u.Query().Get("Signature"); strings.Contains(logs.String(), sig) || !strings.Contains(logs.String(), "download link signed") {
		t.Error("logs carry the link's signature, or no link line")
	}
}
