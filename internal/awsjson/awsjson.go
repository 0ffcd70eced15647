// Package awsjson calls single operations of AWS services that speak the
// JSON 1.1 protocol (SSM, KMS) with the SDK's configuration, credentials and
// SigV4 signer, but without the generated clients: the login function makes
// one SSM call at cold start and one KMS call per signature-cache miss, and
// linking service/ssm and service/kms for them would push its bootstrap over
// 10 MiB (BENCHMARKS.md). internal/ssmparam, internal/kmssign and
// internal/smsecret are its operations. Send, the one signed request under
// Call, also serves the REST readers that do without generated clients
// (internal/keygroup, internal/materials).
//
// The protocol: POST / with Content-Type application/x-amz-json-1.1 and
// X-Amz-Target "<Service>.<Operation>", a JSON body, a JSON answer; errors
// carry "__type" and "message" (see the services' API references).
package awsjson

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

// Client calls one service.
type Client struct {
	cfg      aws.Config
	service  string // signing name and endpoint prefix, e.g. "ssm", "kms"
	endpoint string // override, "" for the default
	signer   *v4.Signer
	// Sleep waits between attempts; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// New returns a client of service for cfg's region and credentials.
// endpoint overrides the service endpoint (the value of
// AWS_ENDPOINT_URL_<SERVICE>, read by the caller); empty means
// cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else
// https://<service>.<region>.<the partition's DNS suffix>.
func New(cfg aws.Config, service, endpoint string) *Client {
	return &Client{cfg: cfg, service: service, endpoint: endpoint, signer: v4.NewSigner(), Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Error is an error answer of the service, e.g. Code "ParameterNotFound"
// (SSM) or "ThrottlingException" (KMS).
type Error struct {
	Service string
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Service, e.Code, e.Status)
	}
	return fmt.Sprintf("%s: %s: %s (HTTP %d)", e.Service, e.Code, e.Message, e.Status)
}

// URL is the endpoint the client calls.
func (c *Client) URL() (string, error) {
	switch {
	case c.endpoint != "":
		return c.endpoint, nil
	case c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "":
		return *c.cfg.BaseEndpoint, nil
	case c.cfg.Region != "":
		return "https://" + c.service + "." + c.cfg.Region + "." + DNSSuffix(c.cfg.Region), nil
	}
	return "", fmt.Errorf("%s: no region configured", c.service)
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

// EmptyPayloadHash is the SHA-256 of an empty body, hex: the payload hash of
// a signed GET.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Send signs req for service in region with cfg's credentials (SigV4, the
// body's SHA-256 given as payloadHash) and sends it with cfg's HTTP client
// (http.DefaultClient without one). sent is false when the request was not
// sent (no credentials, or signing failed), and then err says why; when sent,
// err is the transport's and resp, on success, the caller's to close.
func Send(ctx context.Context, cfg aws.Config, signer *v4.Signer, req *http.Request, payloadHash, service, region string) (resp *http.Response, sent bool, err error) {
	if cfg.Credentials == nil {
		return nil, false, errors.New("no credentials configured")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("retrieve credentials: %w", err)
	}
	if err := signer.SignHTTP(ctx, creds, req, payloadHash, service, region, time.Now()); err != nil {
		return nil, false, fmt.Errorf("sign request: %w", err)
	}
	var client aws.HTTPClient = http.DefaultClient
	if cfg.HTTPClient != nil {
		client = cfg.HTTPClient
	}
	resp, err = client.Do(req)
	return resp, true, err
}

// Call sends target (e.g. "AmazonSSM.GetParameter") with in as the JSON
// body and decodes the answer into out. Throttling, 5xx and transport
// errors are retried: attempts in all, waiting backoff << attempt between
// them (and never past ctx).
func (c *Client) Call(ctx context.Context, target string, in, out any, attempts int, backoff time.Duration) error {
	endpoint, err := c.URL()
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", c.service, err)
	}
	var last error
	for attempt := range max(attempts, 1) {
		if attempt > 0 {
			if err := c.Sleep(ctx, backoff<<attempt); err != nil {
				return fmt.Errorf("%w (after %v)", err, last)
			}
		}
		retry, err := c.once(ctx, endpoint, target, body, out)
		if err == nil {
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return last
}

func (c *Client) once(ctx context.Context, endpoint, target string, body []byte, out any) (retry bool, err error) {
	op := target
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %w", c.service, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	resp, sent, err := Send(ctx, c.cfg, c.signer, req, hex.EncodeToString(sum[:]), c.service, c.cfg.Region)
	if !sent {
		return false, fmt.Errorf("%s: %w", c.service, err)
	}
	if err != nil {
		return true, fmt.Errorf("%s: %s: %w", c.service, op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return true, fmt.Errorf("%s: read answer: %w", c.service, err)
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
		return retry, &Error{Service: c.service, Status: resp.StatusCode, Code: code, Message: msg}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return false, fmt.Errorf("%s: malformed answer: %w", c.service, err)
	}
	return false, nil
}
