// Package kmssign calls AWS KMS's Sign with the SDK's configuration,
// credentials and SigV4 signer, but without the generated KMS client: the
// login function makes this one call (on a signature-cache miss), and
// linking service/kms for it adds about 460 KB to its bootstrap, which must
// stay under 10 MiB (BENCHMARKS.md). The wire format is KMS's JSON 1.1
// protocol (X-Amz-Target TrentService.Sign), through internal/awsjson; see
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html.
package kmssign

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/awsjson"
)

// Client signs digests with KMS keys.
type Client struct {
	rpc *awsjson.Client
}

// New returns a client for cfg's region and credentials. endpoint overrides
// the service endpoint (the value of AWS_ENDPOINT_URL_KMS, read by the
// caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else
// https://kms.<region>.<the partition's DNS suffix>.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{rpc: awsjson.New(cfg, "kms", endpoint)}
}

// Error is an error answer from KMS, e.g. Code "ThrottlingException" or
// "KMSInvalidStateException".
type Error = awsjson.Error

// attempts is how many times a throttled or failed Sign is tried.
const attempts = 3

// SignDigest signs digest (MessageType DIGEST) with the KMS key keyID (id,
// ARN or alias) and signingAlgorithm (e.g. ECDSA_SHA_256) and returns the
// signature.
func (c *Client) SignDigest(ctx context.Context, keyID, signingAlgorithm string, digest []byte) ([]byte, error) {
	if keyID == "" || signingAlgorithm == "" || len(digest) == 0 {
		return nil, errors.New("kms: Sign needs a key, a signing algorithm and a digest")
	}
	in := struct {
		KeyId            string
		Message          []byte // base64 in JSON, as KMS wants the blob
		MessageType      string
		SigningAlgorithm string
	}{keyID, digest, "DIGEST", signingAlgorithm}
	var out struct {
		Signature []byte
	}
	if err := c.rpc.Call(ctx, "TrentService.Sign", in, &out, attempts, 25*time.Millisecond); err != nil {
		return nil, err
	}
	if len(out.Signature) == 0 {
		return nil, errors.New("kms: answer has no signature")
	}
	return out.Signature, nil
}
