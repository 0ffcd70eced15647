package materials

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cfgate/cfgate/internal/awsjson"
)

// S3Reader reads objects of one bucket with S3's REST GetObject, signed with
// the SDK's configuration, credentials and SigV4 signer but without the
// generated S3 client, which would add about 850 KB to the login function's
// bootstrap for this one call (the trade internal/keygroup and
// internal/ssmparam make). It implements Objects; the tests check it against
// the SDK's client on moto (TestS3ReaderMoto).
type S3Reader struct {
	cfg      aws.Config
	bucket   string
	endpoint string
	signer   *v4.Signer
}

// NewS3Reader returns a reader of bucket with cfg's region and credentials.
// endpoint overrides the service endpoint (AWS_ENDPOINT_URL_S3, read by the
// caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, both with
// path-style addressing (moto_server, a local S3), else the bucket's
// virtual-hosted regional endpoint, https://<bucket>.s3.<region>.amazonaws.com.
func NewS3Reader(cfg aws.Config, bucket, endpoint string) *S3Reader {
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	return &S3Reader{cfg: cfg, bucket: bucket, endpoint: strings.TrimRight(endpoint, "/"),
		signer: v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })}
}

func (r *S3Reader) url(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	path := strings.Join(segs, "/")
	switch {
	case r.endpoint != "":
		return r.endpoint + "/" + url.PathEscape(r.bucket) + "/" + path
	case strings.Contains(r.bucket, "."):
		// A dotted name breaks the wildcard certificate of virtual hosts.
		return "https://s3." + r.cfg.Region + ".amazonaws.com/" + r.bucket + "/" + path
	default:
		return "https://" + r.bucket + ".s3." + r.cfg.Region + ".amazonaws.com/" + path
	}
}

// Get implements Objects. NoSuchKey (404) and AccessDenied (403, what S3
// answers for a missing key when the reader may not list the bucket, or for
// a key outside what the role may read) wrap ErrNotFound.
func (r *S3Reader) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if key == "" || strings.HasPrefix(key, "/") {
		return nil, fmt.Errorf("%q: %w", key, ErrNotFound)
	}
	if r.cfg.Region == "" {
		return nil, errors.New("s3: no region configured")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url(key), nil)
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	req.Header.Set("X-Amz-Content-Sha256", awsjson.EmptyPayloadHash)
	resp, sent, err := awsjson.Send(ctx, r.cfg, r.signer, req, awsjson.EmptyPayloadHash, "s3", r.cfg.Region)
	if !sent {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("get s3 object %s: %w", key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Code string `xml:"Code"`
		}
		_ = xml.Unmarshal(raw, &e)
		// Only these: a missing bucket or a refused signature is a
		// misconfiguration that must fail loudly, not read as "no manifest".
		if e.Code == "NoSuchKey" || e.Code == "AccessDenied" || (e.Code == "" && resp.StatusCode == http.StatusNotFound) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		if e.Code == "" {
			e.Code = http.StatusText(resp.StatusCode)
		}
		return nil, fmt.Errorf("get s3 object %s: %s (HTTP %d)", key, e.Code, resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", key, max)
	}
	return readAll(resp.Body, key, max)
}
