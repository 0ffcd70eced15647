package materials

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// TestS3ReaderMoto: the SDK-free reader against moto's S3, next to
// S3Objects over the SDK's client: same answers.
func TestS3ReaderMoto(t *testing.T) {
	srv := motoserver.Shared(t)
	cfg := srv.Config(t)
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := strings.Trim(motoserver.Unique(t, "media"), "-")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	body := `{"course":"a","playlists":[],"files":[]}`
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("manifests/a.json"), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	readers := map[string]Objects{
		"S3Reader":  NewS3Reader(cfg, bucket, ""),
		"S3Objects": S3Objects{Client: c, Bucket: bucket},
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			if b, err := r.Get(ctx, "manifests/a.json", 1<<20); err != nil || string(b) != body {
				t.Errorf("Get = %q, %v", b, err)
			}
			if _, err := r.Get(ctx, "manifests/a.json", 10); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("over max: %v, want a size error", err)
			}
			if _, err := r.Get(ctx, "manifests/none.json", 1<<20); !errors.Is(err, ErrNotFound) {
				t.Errorf("missing key: %v, want ErrNotFound", err)
			}
		})
	}
	// A bucket that does not exist is a misconfiguration, not "no manifest".
	if _, err := NewS3Reader(cfg, bucket+"-none", "").Get(ctx, "manifests/a.json", 1<<20); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("missing bucket: %v, want an error other than ErrNotFound", err)
	}
}

func TestS3ReaderURL(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1"}
	for _, tc := range []struct {
		bucket, endpoint, key, want string
	}{
		{"media-1", "", "manifests/a.json", "https://media-1.s3.eu-west-1.amazonaws.com/manifests/a.json"},
		{"media.example", "", "courses/a/ts/master.m3u8", "https://s3.eu-west-1.amazonaws.com/media.example/courses/a/ts/master.m3u8"},
		{"media-1", "http://127.0.0.1:5000/", "manifests/a b.json", "http://127.0.0.1:5000/media-1/manifests/a%20b.json"},
	} {
		if got := NewS3Reader(cfg, tc.bucket, tc.endpoint).url(tc.key); got != tc.want {
			t.Errorf("url(%s, %s, %s) = %s, want %s", tc.bucket, tc.endpoint, tc.key, got, tc.want)
		}
	}
}
