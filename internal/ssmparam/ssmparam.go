// Package ssmparam reads one AWS Systems Manager parameter with the SDK's
// configuration, credentials and SigV4 signer, but without the generated SSM
// client: the login Lambda reads a single parameter once at cold start, and
// linking service/ssm for that adds 1.2 MB to its bootstrap and ~2 ms to its
// init. The wire format is SSM's JSON 1.1 protocol (X-Amz-Target
// AmazonSSM.GetParameter).
package ssmparam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Client reads SSM parameters.
type Client struct {
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
	sleep    func(time.Duration)
}

// New returns a client for cfg's region and credentials. endpoint overrides
// the service endpoint (the value of AWS_ENDPOINT_URL_SSM, read by the
// caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else
// https://ssm.<region>.<the partition's DNS suffix>.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{cfg: cfg, endpoint: endpoint, signer: v4.NewSigner(), sleep: time.Sleep}
}

// Error is an error answer from SSM, e.g. Code "ParameterNotFound".
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("ssm: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("ssm: %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

func (c *Client) url() (string, error) {
	switch {
	case c.endpoint != "":
		return c.endpoint, nil
	case c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "":
		return *c.cfg.BaseEndpoint, nil
	case c.cfg.Region != "":
		return "https://ssm." + c.cfg.Region + "." + DNSSuffix(c.cfg.Region), nil
	}
	return "", errors.New("ssm: no region configured")
}

// DNSSuffix is the DNS suffix of the region's partition (what CloudFormation
// calls AWS::URLSuffix): amazonaws.com.cn in China, the isolated partitions'
// own suffixes, amazonaws.com elsewhere (aws, aws-us-gov).
func DNSSuffix(region string) string {
	for _, p := range []struct{ prefix, suffix string }{
		{"cn-", "amazonaws.com.cn"},
		{"us-isob-", "sc2s.sgov.gov"},
		{"us-isof-", "csp.hci.ic.gov"},
		{"us-iso-", "c2s.ic.gov"},
		{"eu-isoe-", "cloud.adc-e.uk"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.suffix
		}
	}
	return "amazonaws.com"
}

// GetParameterValue returns the value of the named parameter (String or
// SecureString, decrypted). Throttling and 5xx answers are retried up to
// three times with a short backoff.
func (c *Client) GetParameterValue(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("ssm: empty parameter name")
	}
	endpoint, err := c.url()
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(struct {
		Name           string
		WithDecryption bool
	}{name, true})
	if err != nil {
		return "", err
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			c.sleep(time.Duration(50<<attempt) * time.Millisecond)
		}
		v, retry, err := c.once(ctx, endpoint, body)
		if err == nil {
			return v, nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return "", last
}

func (c *Client) once(ctx context.Context, endpoint string, body []byte) (value string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return "", false, fmt.Errorf("ssm: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM.GetParameter")
	if c.cfg.Credentials == nil {
		return "", false, errors.New("ssm: no credentials configured")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", false, fmt.Errorf("ssm: retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm", c.cfg.Region, time.Now()); err != nil {
		return "", false, fmt.Errorf("ssm: sign request: %w", err)
	}
	var client aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		client = c.cfg.HTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", true, fmt.Errorf("ssm: GetParameter: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", true, fmt.Errorf("ssm: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		_ = json.Unmarshal(raw, &e)
		code := e.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = http.StatusText(resp.StatusCode)
		}
		msg := e.Message
		if msg == "" {
			msg = e.Msg
		}
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || strings.Contains(code, "Throttl")
		return "", retry, &Error{Status: resp.StatusCode, Code: code, Message: msg}
	}
	var out struct {
		Parameter *struct {
			Value *string
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", false, fmt.Errorf("ssm: malformed answer: %w", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", false, errors.New("ssm: answer has no parameter value")
	}
	return *out.Parameter.Value, false, nil
}
