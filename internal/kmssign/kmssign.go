// Package kmssign calls AWS KMS's Sign with the SDK's configuration,
// credentials and SigV4 signer, but without the generated KMS client: the
// login function makes this one call (on a signature-cache miss), and
// linking service/kms for it adds about 460 KB to its bootstrap, which must
// stay under 10 MiB (BENCHMARKS.md). The wire format is KMS's JSON 1.1
// protocol (X-Amz-Target TrentService.Sign); see
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html.
package kmssign

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

// Client signs digests with KMS keys.
type Client struct {
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
	sleep    func(ctx context.Context, d time.Duration) error
}

// New returns a client for cfg's region and credentials. endpoint overrides
// the service endpoint (the value of AWS_ENDPOINT_URL_KMS, read by the
// caller); empty means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else
// https://kms.<region>.amazonaws.com.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{cfg: cfg, endpoint: endpoint, signer: v4.NewSigner(), sleep: sleepCtx}
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

// Error is an error answer from KMS, e.g. Code "ThrottlingException" or
// "KMSInvalidStateException".
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("kms: %s (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("kms: %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

func (c *Client) url() (string, error) {
	switch {
	case c.endpoint != "":
		return c.endpoint, nil
	case c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "":
		return *c.cfg.BaseEndpoint, nil
	case c.cfg.Region != "":
		return "https://kms." + c.cfg.Region + ".amazonaws.com", nil
	}
	return "", errors.New("kms: no region configured")
}

// attempts bounds the tries of one Sign: throttling, 5xx and network errors
// are retried with a short backoff, within ctx.
const attempts = 3

// SignDigest signs digest (MessageType DIGEST) with the KMS key keyID (id,
// ARN or alias) and signingAlgorithm (e.g. ECDSA_SHA_256) and returns the
// signature.
func (c *Client) SignDigest(ctx context.Context, keyID, signingAlgorithm string, digest []byte) ([]byte, error) {
	if keyID == "" || signingAlgorithm == "" || len(digest) == 0 {
		return nil, errors.New("kms: Sign needs a key, a signing algorithm and a digest")
	}
	endpoint, err := c.url()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		KeyId            string
		Message          []byte // base64 in JSON, as KMS wants the blob
		MessageType      string
		SigningAlgorithm string
	}{keyID, digest, "DIGEST", signingAlgorithm})
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, time.Duration(25<<attempt)*time.Millisecond); err != nil {
				return nil, fmt.Errorf("%w (after %v)", err, last)
			}
		}
		sig, retry, err := c.once(ctx, endpoint, body)
		if err == nil {
			return sig, nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (c *Client) once(ctx context.Context, endpoint string, body []byte) (sig []byte, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("kms: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.Sign")
	if c.cfg.Credentials == nil {
		return nil, false, errors.New("kms: no credentials configured")
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("kms: retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", c.cfg.Region, time.Now()); err != nil {
		return nil, false, fmt.Errorf("kms: sign request: %w", err)
	}
	var client aws.HTTPClient = http.DefaultClient
	if c.cfg.HTTPClient != nil {
		client = c.cfg.HTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("kms: Sign: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, true, fmt.Errorf("kms: read answer: %w", err)
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
		return nil, retry, &Error{Status: resp.StatusCode, Code: code, Message: msg}
	}
	var out struct {
		Signature []byte
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, false, fmt.Errorf("kms: malformed answer: %w", err)
	}
	if len(out.Signature) == 0 {
		return nil, false, errors.New("kms: answer has no signature")
	}
	return out.Signature, false, nil
}
