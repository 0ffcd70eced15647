// Package smsecret reads secret values from AWS Secrets Manager with the
// SDK's configuration, credentials and SigV4 signer, but without the SDK's
// service/secretsmanager package: the login function reads two secrets (the
// signing key, the origin secret), and linking that package, even for its
// types alone (its init builds the service's schemas and endpoint tables),
// adds about 240 KB to its bootstrap, which must stay under 10 MiB
// (BENCHMARKS.md). The wire format is Secrets Manager's JSON 1.1 protocol
// (X-Amz-Target secretsmanager.GetSecretValue), through internal/awsjson; see
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html.
package smsecret

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/awsjson"
)

// ErrNotFound is wrapped by the error of GetSecretValue when Secrets Manager
// answers ResourceNotFoundException: no such secret, or no version in the
// stage asked for (a secret that was never rotated has no AWSPREVIOUS).
var ErrNotFound = errors.New("secretsmanager: no such secret or version")

// Error is an error answer from Secrets Manager, e.g. Code
// "AccessDeniedException" or "ThrottlingException".
type Error = awsjson.Error

// Value is one version of a secret: exactly one of String and Binary is set.
type Value struct {
	VersionID string
	String    *string
	Binary    []byte
}

// Client reads Secrets Manager secret values.
type Client struct {
	rpc *awsjson.Client
}

// New returns a client for cfg's region and credentials. endpoint overrides
// the service endpoint (the value of AWS_ENDPOINT_URL_SECRETS_MANAGER, read
// by the caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set,
// else https://secretsmanager.<region>.<the partition's DNS suffix>.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{rpc: awsjson.New(cfg, "secretsmanager", endpoint)}
}

// attempts is how many times a throttled or failed call is tried.
const attempts = 3

// GetSecretValue reads the version of secret secretID (name or ARN) in
// versionStage (e.g. AWSCURRENT, AWSPREVIOUS). Throttling and 5xx answers
// are retried; ResourceNotFoundException wraps ErrNotFound; other error
// answers are *Error.
func (c *Client) GetSecretValue(ctx context.Context, secretID, versionStage string) (Value, error) {
	if secretID == "" || versionStage == "" {
		return Value{}, errors.New("secretsmanager: GetSecretValue needs a secret id and a version stage")
	}
	in := struct {
		SecretId     string
		VersionStage string
	}{secretID, versionStage}
	var out struct {
		VersionId    string
		SecretString *string
		SecretBinary []byte // base64 in JSON
	}
	if err := c.rpc.Call(ctx, "secretsmanager.GetSecretValue", in, &out, attempts, 50*time.Millisecond); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == "ResourceNotFoundException" {
			return Value{}, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return Value{}, err
	}
	if (out.SecretString == nil) == (out.SecretBinary == nil) {
		return Value{}, errors.New("secretsmanager: answer has not exactly one of SecretString and SecretBinary")
	}
	return Value{VersionID: out.VersionId, String: out.SecretString, Binary: out.SecretBinary}, nil
}
