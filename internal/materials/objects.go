package materials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// readAll reads at most max bytes of r; more is an error.
func readAll(r io.Reader, key string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", key, max)
	}
	return b, nil
}

// DirObjects reads objects from a folder laid out like the bucket (the local
// distribution's origin: courses/…, manifests/…).
type DirObjects struct{ FS fs.FS }

// Get implements Objects.
func (d DirObjects) Get(_ context.Context, key string, max int64) ([]byte, error) {
	if !fs.ValidPath(key) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	f, err := d.FS.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return readAll(f, key, max)
}

// S3GetAPI is the part of the S3 client that S3Objects uses.
type S3GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Objects reads objects from the media bucket.
type S3Objects struct {
	Client S3GetAPI
	Bucket string
}

// Get implements Objects. NoSuchKey and AccessDenied (what S3 answers for a
// missing key when the reader may not list the bucket) wrap ErrNotFound.
func (o S3Objects) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	out, err := o.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var ae smithy.APIError
		if errors.As(err, &nsk) || errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "AccessDenied") {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get s3 object %s: %w", key, err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", key, max)
	}
	return readAll(out.Body, key, max)
}
