// Package publish puts media and the player page into cfgate's bucket: an HLS
// folder under courses/<id>/ and the player under site/, with the
// Content-Type and Cache-Control that CloudFront passes on to players,
// concurrently, skipping objects that are already identical. It is the logic
// of `go run ./distribution/publish`.
package publish

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/mediatype"
)

// S3API is what publishing needs from the S3 client.
type S3API interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// MetaSHA256 is the user metadata key holding the object's SHA-256 (hex), used
// to recognise identical objects whatever the ETag (multipart, SSE-KMS).
const MetaSHA256 = "sha256"

// File is one local file and the object it becomes.
type File struct {
	Path         string // local path
	Key          string // object key
	Size         int64
	ContentType  string
	CacheControl string
	// ContentDisposition is "attachment; filename=…" for course materials
	// (PDF, EPUB, ZIP) and "" for everything else.
	ContentDisposition string
}

// CoursePrefix returns the key prefix of a course, after validating its id.
func CoursePrefix(courseID string) (string, error) {
	if err := cfsign.ValidateCourseID(courseID); err != nil {
		return "", fmt.Errorf("course id %q: %w", courseID, err)
	}
	return "courses/" + courseID + "/", nil
}

// CourseFiles validates dir as HLS (see ValidateHLS) and lists its files as
// objects under courses/<courseID>/. Hidden files (.DS_Store, …) are left out.
// Every file must be of a type on the course allowlist (internal/mediatype):
// one that is not (HTML, script, SVG, …) would be served from the
// distribution's own origin, so the folder is refused, naming every such file.
//
// The names in files/ (the course's downloads) are checked first, before
// anything else is read (materials.CheckFileNames), and titles.tsv at the
// folder's root (materials.TitlesFile) is metadata for the manifest, never
// uploaded.
func CourseFiles(dir, courseID string) ([]File, error) {
	prefix, err := CoursePrefix(courseID)
	if err != nil {
		return nil, err
	}
	if _, err := materials.CheckFileNames(os.DirFS(dir)); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	files, err := listFiles(dir, prefix, false)
	if err != nil {
		return nil, err
	}
	if err := ValidateHLS(dir); err != nil {
		return nil, err
	}
	return files, nil
}

// HLSJSPath is where `npm ci --prefix distribution/player` puts hls.js.
const HLSJSPath = "node_modules/hls.js/dist/hls.min.js"

// SiteFiles lists the player page for site/: playerDir/site/* and hls.js
// (playerDir/node_modules/hls.js/dist/hls.min.js) as site/vendor/hls.min.js.
func SiteFiles(playerDir string) ([]File, error) {
	siteDir := filepath.Join(playerDir, "site")
	if _, err := os.Stat(filepath.Join(siteDir, "index.html")); err != nil {
		return nil, fmt.Errorf("player page: %w (want %s/site/index.html)", err, playerDir)
	}
	files, err := listFiles(siteDir, "site/", true)
	if err != nil {
		return nil, err
	}
	hls := filepath.Join(playerDir, filepath.FromSlash(HLSJSPath))
	fi, err := os.Stat(hls)
	if err != nil {
		return nil, fmt.Errorf("hls.js not installed (run: npm ci --prefix %s): %w", playerDir, err)
	}
	const key = "site/vendor/hls.min.js"
	files = append(files, File{Path: hls, Key: key, Size: fi.Size(), ContentType: ContentType(key), CacheControl: CacheControl(key, true)})
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	return files, nil
}

// RefusedError names the files of a course folder whose types are not on
// the course allowlist.
type RefusedError struct {
	Dir   string
	Files []string // relative to Dir, slash-separated, sorted
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %d file(s) of a type not allowed in a course: %s (allowed: %s; HTML, script and SVG would run on the distribution's origin)",
		e.Dir, len(e.Files), strings.Join(e.Files, ", "), strings.Join(mediatype.CourseExts(), " "))
}

func listFiles(dir, prefix string, site bool) ([]File, error) {
	var files []File
	var refused []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !site && filepath.ToSlash(rel) == materials.TitlesFile {
			return nil
		}
		key := prefix + filepath.ToSlash(rel)
		f := File{Path: p, Key: key, Size: info.Size(), ContentType: ContentType(key), CacheControl: CacheControl(key, site)}
		if !site {
			obj, ok := mediatype.Course(key)
			if !ok {
				refused = append(refused, filepath.ToSlash(rel))
				return nil
			}
			f.ContentType, f.ContentDisposition = obj.ContentType, obj.Disposition
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(refused) > 0 {
		return nil, &RefusedError{Dir: dir, Files: refused}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no files", dir)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	return files, nil
}

// Actions reported per file.
const (
	ActionUploaded    = "uploaded"
	ActionSkipped     = "skipped (identical)"
	ActionWouldUpload = "would upload"
	ActionWouldSkip   = "would skip (identical)"
)

// Result counts what Upload did.
type Result struct {
	Uploaded, Skipped           int
	UploadedBytes, SkippedBytes int64
}

// Uploader uploads Files to a bucket.
type Uploader struct {
	Client      S3API
	Bucket      string
	Concurrency int      // default 8
	DryRun      bool     // compare, report, upload nothing
	Progress    Progress // may be nil
}

// Upload puts every file that is not already identical in the bucket
// (same SHA-256 metadata, or same MD5 ETag, and same Content-Type and
// Cache-Control). It stops at the first error and returns it.
func (u *Uploader) Upload(ctx context.Context, files []File) (Result, error) {
	n := u.Concurrency
	if n <= 0 {
		n = 8
	}
	progress := u.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	progress.Start(len(files), total)
	defer progress.Finish()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan File)
	var (
		mu       sync.Mutex
		res      Result
		firstErr error
		wg       sync.WaitGroup
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				action, err := u.one(ctx, f)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				switch action {
				case ActionUploaded, ActionWouldUpload:
					res.Uploaded++
					res.UploadedBytes += f.Size
				default:
					res.Skipped++
					res.SkippedBytes += f.Size
				}
				mu.Unlock()
				progress.Done(f, action)
			}
		}()
	}
feed:
	for _, f := range files {
		select {
		case jobs <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

func (u *Uploader) one(ctx context.Context, f File) (string, error) {
	sum, md5sum, err := digests(f.Path)
	if err != nil {
		return "", err
	}
	same, err := u.identical(ctx, f, sum, md5sum)
	if err != nil {
		return "", err
	}
	switch {
	case same && u.DryRun:
		return ActionWouldSkip, nil
	case same:
		return ActionSkipped, nil
	case u.DryRun:
		return ActionWouldUpload, nil
	}
	body, err := os.Open(f.Path)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", f.Key, err)
	}
	defer body.Close()
	_, err = u.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String(u.Bucket),
		Key:                aws.String(f.Key),
		Body:               body,
		ContentLength:      aws.Int64(f.Size),
		ContentType:        aws.String(f.ContentType),
		CacheControl:       aws.String(f.CacheControl),
		ContentDisposition: optional(f.ContentDisposition),
		Metadata:           map[string]string{MetaSHA256: sum},
	})
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", u.Bucket, f.Key, err)
	}
	return ActionUploaded, nil
}

func (u *Uploader) identical(ctx context.Context, f File, sum, md5sum string) (bool, error) {
	head, err := u.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(f.Key)})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("compare s3://%s/%s: %w", u.Bucket, f.Key, err)
	}
	if aws.ToString(head.ContentType) != f.ContentType || aws.ToString(head.CacheControl) != f.CacheControl ||
		aws.ToString(head.ContentDisposition) != f.ContentDisposition || aws.ToInt64(head.ContentLength) != f.Size {
		return false, nil
	}
	if s, ok := head.Metadata[MetaSHA256]; ok {
		return s == sum, nil
	}
	// Objects put by other tools: a single-part, SSE-S3 object's ETag is its MD5.
	return strings.Trim(aws.ToString(head.ETag), `"`) == md5sum, nil
}

// optional is nil for "", so an empty header is not sent at all.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func isNotFound(err error) bool {
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func digests(p string) (sha, md string, err error) {
	f, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h, m := sha256.New(), md5.New()
	if _, err := io.Copy(io.MultiWriter(h, m), f); err != nil {
		return "", "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(m.Sum(nil)), nil
}

// CourseManifest is the manifest of the course folder dir
// (materials.Build): what PutManifest records after the upload.
func CourseManifest(dir, courseID string) (*materials.Manifest, error) {
	m, err := materials.Build(os.DirFS(dir), courseID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// CacheManifest is the Cache-Control of a manifest object (read by the
// login function only, never served by the distribution).
const CacheManifest = "no-cache"

// PutManifest writes m at materials.ManifestKey: call it last, once every
// object of the course is in the bucket, so the login function never lists
// a file that is not there yet. With DryRun it writes nothing.
func (u *Uploader) PutManifest(ctx context.Context, m *materials.Manifest) (string, error) {
	b, err := m.Marshal()
	if err != nil {
		return "", err
	}
	key := materials.ManifestKey(m.Course)
	if u.DryRun {
		return key, nil
	}
	_, err = u.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(u.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))),
		ContentType:   aws.String("application/json"),
		CacheControl:  aws.String(CacheManifest),
	})
	if err != nil {
		return "", fmt.Errorf("write manifest s3://%s/%s: %w", u.Bucket, key, err)
	}
	return key, nil
}
