package publish

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Usage is the publish command's help text.
const Usage = `usage: publish --bucket BUCKET --course ID [flags] DIR
       publish --bucket BUCKET --course ID --from-mp4 FILE [flags] [DIR]
       publish --bucket BUCKET --site PLAYERDIR [flags]

Uploads an HLS folder to s3://BUCKET/courses/ID/ (or the player page to
s3://BUCKET/site/) with the right Content-Type and Cache-Control, skipping
objects that are already identical. The folder must be HLS: at least one
.m3u8, and every file a playlist names present.

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

	var files []File
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
	}

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	usePathStyle := *pathStyle || cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = usePathStyle })

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
	return nil
}
