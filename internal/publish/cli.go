package publish

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cfgate/cfgate/internal/materials"
)

// Usage is the publish command's help text.
const Usage = `usage: publish --bucket BUCKET --course ID [flags] DIR
       publish --bucket BUCKET --course ID --from-mp4 FILE [flags] [DIR]
       publish --bucket BUCKET --site PLAYERDIR [flags]

Uploads an HLS folder to s3://BUCKET/courses/ID/ (or the player page to
s3://BUCKET/site/) with the right Content-Type and Cache-Control, skipping
objects that are already identical. The folder must be HLS: at least one
.m3u8, and every file a playlist names present.

A course's downloads go in DIR/files/ (names ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$,
course types only; stored with Content-Disposition: attachment), their
optional titles in DIR/titles.tsv (name<TAB>title per line, not uploaded).
Last, publish writes s3://BUCKET/manifests/ID.json: the master playlists and
the files, which the login function lists and signs links for.

Examples:
  go run ./distribution/publish --bucket my-media --course intro-to-hls ./media/intro-to-hls
  go run ./distribution/publish --bucket my-media --course intro-to-hls --from-mp4 talk.mp4
  go run ./distribution/publish --bucket my-media --site distribution/player
  go run ./distribution/publish --bucket my-media --course intro-to-hls --dry-run ./media/intro-to-hls

The AWS SDK's standard configuration applies (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL, …); with an endpoint override, path-style addressing is used.

Flags:
`

// Run is the publish command: run(ctx, args, stdout, stderr).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, Usage)
		fs.PrintDefaults()
	}
	var (
		bucket      = fs.String("bucket", "", "destination bucket (the stack's MediaBucketName output)")
		course      = fs.String("course", "", "course id: ^[a-z0-9][a-z0-9-]{0,62}$")
		site        = fs.String("site", "", "player folder to publish to site/ (distribution/player: its site/ and hls.js)")
		fromMP4     = fs.String("from-mp4", "", "encode this video into a two-rendition HLS ladder (ts/ and fmp4/) with ffmpeg first")
		formats     = fs.String("formats", "ts,fmp4", "with --from-mp4: HLS formats to make (ts, fmp4)")
		dryRun      = fs.Bool("dry-run", false, "compare with the bucket and report, upload nothing")
		concurrency = fs.Int("concurrency", 8, "parallel uploads")
		pathStyle   = fs.Bool("path-style", false, "S3 path-style addressing (automatic with AWS_ENDPOINT_URL)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	usageErr := func(format string, a ...any) error {
		fs.Usage()
		return fmt.Errorf(format, a...)
	}
	if *bucket == "" {
		return usageErr("--bucket is required")
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usageErr("--concurrency must be 1..64")
	}
	if (*site == "") == (*course == "") {
		return usageErr("give either --course ID (with DIR or --from-mp4) or --site PLAYERDIR")
	}

	var (
		files    []File
		manifest *materials.Manifest
	)
	dest := "site/"
	switch {
	case *site != "":
		if fs.NArg() != 0 || *fromMP4 != "" {
			return usageErr("--site takes no DIR and no --from-mp4")
		}
		var err error
		if files, err = SiteFiles(*site); err != nil {
			return err
		}
	default:
		prefix, err := CoursePrefix(*course)
		if err != nil {
			return err
		}
		dest = prefix
		if fs.NArg() > 1 || (fs.NArg() == 0 && *fromMP4 == "") {
			return usageErr("want one DIR (or --from-mp4 FILE)")
		}
		dir := fs.Arg(0)
		if *fromMP4 != "" {
			if dir == "" {
				tmp, err := os.MkdirTemp("", "cfgate-publish-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			fmt.Fprintf(stderr, "encoding %s into %s (%s) …\n", *fromMP4, dir, *formats)
			if err := MakeLadder(ctx, *fromMP4, dir, LadderOptions{Formats: strings.Split(*formats, ",")}); err != nil {
				return err
			}
		}
		if files, err = CourseFiles(dir, *course); err != nil {
			return err
		}
		if manifest, err = CourseManifest(dir, *course); err != nil {
			return err
		}
	}

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	usePathStyle := *pathStyle || cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	client := newS3Client(cfg, usePathStyle)

	up := &Uploader{Client: client, Bucket: *bucket, Concurrency: *concurrency, DryRun: *dryRun, Progress: NewProgress(stderr)}
	res, err := up.Upload(ctx, files)
	if err != nil {
		return err
	}
	verb := "uploaded"
	if *dryRun {
		verb = "would upload"
	}
	fmt.Fprintf(stdout, "%s %d files (%s), %d already identical (%s), s3://%s/%s\n", verb,
		res.Uploaded, humanBytes(res.UploadedBytes), res.Skipped, humanBytes(res.SkippedBytes), *bucket, dest)
	if manifest != nil {
		// Last, once every object is there.
		key, err := up.PutManifest(ctx, manifest)
		if err != nil {
			return err
		}
		verb = "wrote"
		if *dryRun {
			verb = "would write"
		}
		fmt.Fprintf(stdout, "%s manifest s3://%s/%s (%d master playlists, %d files)\n", verb, *bucket, key, len(manifest.Playlists), len(manifest.Files))
	}
	return nil
}

// newS3Client makes the S3 client of Run (a test wraps it to record or
// fail calls).
var newS3Client = func(cfg aws.Config, pathStyle bool) S3API {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
}
