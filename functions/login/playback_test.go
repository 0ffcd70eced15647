package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// playEvent is a cookie-less GET of the playlist route, as API Gateway
// passes it on from CloudFront (path and raw query as the viewer sent them).
func playEvent(t *testing.T, path, rawQuery string) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(event(t, "access.json", ""), &ev); err != nil {
		t.Fatal(err)
	}
	ev.RawPath, ev.RequestContext.HTTP.Path = path, path
	ev.RequestContext.HTTP.Method = "GET"
	ev.RawQueryString = rawQuery
	ev.Cookies = nil
	delete(ev.Headers, "content-type")
	delete(ev.Headers, "origin")
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHandlerPlayback: the function, wired as in Lambda (DynamoDB, S3,
// Secrets Manager and CloudFront on moto), hands out a playback URL and
// serves the playlists it leads to with no cookie: the query is checked
// against the key group's public keys read from CloudFront, the playlists
// are read from S3 and rewritten.
func TestHandlerPlayback(t *testing.T) {
	w := seed(t)
	env := w.env()
	env["MEDIA_BUCKET"] = mediaBucket(t, w)
	c := s3.NewFromConfig(w.awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, p := range []string{"fmp4/master.m3u8", "fmp4/180p/index.m3u8", "fmp4/360p/index.m3u8"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "distribution", "demo", "media", "courses", testCourse, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(env["MEDIA_BUCKET"]),
			Key: aws.String("courses/" + testCourse + "/" + p), Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
	}
	var logs syncbuf.Buffer
	invoke := newTestInvoke(t, w, env, &logs)
	session := checkLogin(t, decode(t, invokeJSON(t, invoke, event(t, "login.json", ""))))

	resp := decode(t, invokeJSON(t, invoke, routeEvent(t, "POST", "/api/courses/"+testCourse+"/playback", session)))
	if resp.StatusCode != 200 {
		t.Fatalf("playback: %d %s", resp.StatusCode, resp.Body)
	}
	var pb struct{ URL, Expires string }
	if err := json.Unmarshal([]byte(resp.Body), &pb); err != nil {
		t.Fatal(err)
	}
	prefix := "https://" + testDomain + "/api/play/" + testCourse + "/fmp4/master.m3u8?"
	if !strings.HasPrefix(pb.URL, prefix) {
		t.Fatalf("playback URL %s", pb.URL)
	}
	query := strings.TrimPrefix(pb.URL, prefix)

	resp = decode(t, invokeJSON(t, invoke, playEvent(t, "/api/play/"+testCourse+"/fmp4/master.m3u8", query)))
	if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/vnd.apple.mpegurl" {
		t.Fatalf("master: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	variants := 0
	for _, l := range strings.Split(resp.Body, "\n") {
		if !strings.HasPrefix(l, "https://") {
			continue
		}
		path, q, _ := strings.Cut(strings.TrimPrefix(l, "https://"+testDomain), "?")
		if q != query || !strings.HasPrefix(path, "/api/play/"+testCourse+"/fmp4/") {
			t.Fatalf("rewritten variant %s", l)
		}
		variants++
		v := decode(t, invokeJSON(t, invoke, playEvent(t, path, q)))
		if v.StatusCode != 200 || !strings.Contains(v.Body, "https://"+testDomain+"/courses/"+testCourse+"/fmp4/") {
			t.Fatalf("%s: %d %s", path, v.StatusCode, v.Body)
		}
	}
	if variants != 2 {
		t.Errorf("%d variants rewritten, want 2", variants)
	}
	// Course A's query on course B, and a changed signature: CloudFront's 403.
	for name, ev := range map[string][]byte{
		"other course": playEvent(t, "/api/play/advanced-streaming/fmp4/master.m3u8", query),
		"tampered":     playEvent(t, "/api/play/"+testCourse+"/fmp4/master.m3u8", strings.Replace(query, "&Signature=", "&Signature=A", 1)),
	} {
		r := decode(t, invokeJSON(t, invoke, ev))
		if r.StatusCode != 403 || !strings.Contains(r.Body, "<Code>") {
			t.Errorf("%s: %d %s, want 403 with CloudFront's code", name, r.StatusCode, r.Body)
		}
	}
	noSecrets(t, logs.String(), session)
	if sig := strings.SplitN(strings.SplitN(query, "Signature=", 2)[1], "&", 2)[0]; strings.Contains(logs.String(), sig) {
		t.Error("logs carry the playback URL's signature")
	}
}
