// Package ssmparam reads one AWS Systems Manager parameter with the SDK's
// configuration, credentials and SigV4 signer, but without the generated SSM
// client: the login Lambda reads a single parameter once at cold start, and
// linking service/ssm for that adds 1.2 MB to its bootstrap and ~2 ms to its
// init. The wire format is SSM's JSON 1.1 protocol (X-Amz-Target
// AmazonSSM.GetParameter), through internal/awsjson.
package ssmparam

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/awsjson"
)

// Client reads SSM parameters.
type Client struct {
	rpc *awsjson.Client
}

// New returns a client for cfg's region and credentials. endpoint overrides
// the service endpoint (the value of AWS_ENDPOINT_URL_SSM, read by the
// caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else
// https://ssm.<region>.<the partition's DNS suffix>.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{rpc: awsjson.New(cfg, "ssm", endpoint)}
}

// Error is an error answer from SSM, e.g. Code "ParameterNotFound".
type Error = awsjson.Error

func (c *Client) url() (string, error) { return c.rpc.URL() }

// GetParameterValue returns the value of the named parameter (String or
// SecureString, decrypted). Throttling and 5xx answers are retried up to
// three times with a short backoff.
func (c *Client) GetParameterValue(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("ssm: empty parameter name")
	}
	var out struct {
		Parameter *struct {
			Value *string
		}
	}
	in := struct {
		Name           string
		WithDecryption bool
	}{name, true}
	if err := c.rpc.Call(ctx, "AmazonSSM.GetParameter", in, &out, 3, 50*time.Millisecond); err != nil {
		return "", err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", errors.New("ssm: answer has no parameter value")
	}
	return *out.Parameter.Value, nil
}
