package materials

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3GetAPI is the part of the S3 client that S3Objects uses.
type S3GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Objects reads objects from the media bucket through the SDK's generated
// S3 client. It lives in the tests only, as the reference TestS3ReaderMoto
// holds S3Reader (what the login function uses) to: linking the generated
// client would add about 850 KB to the function's bootstrap.
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
