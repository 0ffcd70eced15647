package keygroup

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

// Client reads one CloudFront key group with the SDK's configuration,
// credentials and SigV4 signer but without the generated CloudFront client,
// which would add about 200 KB to the login function's bootstrap for this
// one call (the same trade as internal/ssmparam). The wire format is
// CloudFront's REST-XML API: GET /2020-05-31/key-group/{Id}.
type Client struct {
	cfg      aws.Config
	endpoint string
	signer   *v4.Signer
}

// NewClient returns a client with cfg's credentials. endpoint overrides the
// service endpoint (AWS_ENDPOINT_URL_CLOUDFRONT, read by the caller); empty
// means cfg.BaseEndpoint (AWS_ENDPOINT_URL) if set, else CloudFront's global
// endpoint, https://cloudfront.amazonaws.com, signed for us-east-1.
func NewClient(cfg aws.Config, endpoint string) *Client {
	return &Client{cfg: cfg, endpoint: endpoint, signer: v4.NewSigner()}
}

// Error is an error answer from CloudFront, e.g. Code "NoSuchResource".
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("cloudfront: %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

func (c *Client) url(path string) string {
	base := "https://cloudfront.amazonaws.com"
	switch {
	case c.endpoint != "":
		base = c.endpoint
	case c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "":
		base = *c.cfg.BaseEndpoint
	}
	return strings.TrimRight(base, "/") + "/2020-05-31/" + path
}

// KeyGroupKeys returns the ids of the public keys in the key group id.
func (c *Client) KeyGroupKeys(ctx context.Context, id string) ([]string, error) {
	if id == "" {
		return nil, errors.New("cloudfront: empty key group id")
	}
	raw, err := c.get(ctx, "key-group/"+url.PathEscape(id), "GetKeyGroup")
	if err != nil {
		return nil, err
	}
	var out struct {
		XMLName xml.Name `xml:"KeyGroup"`
		ID      string   `xml:"Id"`
		Items   []string `xml:"KeyGroupConfig>Items>PublicKey"`
	}
	if err := xml.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("cloudfront: malformed GetKeyGroup answer: %w", err)
	}
	return out.Items, nil
}

// PublicKey returns the PEM of the CloudFront public key id (GetPublicKey).
func (c *Client) PublicKey(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", errors.New("cloudfront: empty public key id")
	}
	raw, err := c.get(ctx, "public-key/"+url.PathEscape(id), "GetPublicKey")
	if err != nil {
		return "", err
	}
	var out struct {
		XMLName    xml.Name `xml:"PublicKey"`
		EncodedKey string   `xml:"PublicKeyConfig>EncodedKey"`
	}
	if err := xml.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("cloudfront: malformed GetPublicKey answer: %w", err)
	}
	if out.EncodedKey == "" {
		return "", errors.New("cloudfront: GetPublicKey answer has no EncodedKey")
	}
	return out.EncodedKey, nil
}

// get makes one signed GET of CloudFront's REST API and returns the body of
// a 200 answer, or an *Error.
func (c *Client) get(ctx context.Context, path, op string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return nil, fmt.Errorf("cloudfront: %w", err)
	}
	// CloudFront is a global service whose requests are signed for us-east-1.
	resp, sent, err := awsjson.Send(ctx, c.cfg, c.signer, req, awsjson.EmptyPayloadHash, "cloudfront", "us-east-1")
	if !sent {
		return nil, fmt.Errorf("cloudfront: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("cloudfront: %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("cloudfront: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    string `xml:"Error>Code"`
			Message string `xml:"Error>Message"`
		}
		_ = xml.Unmarshal(raw, &e)
		if e.Code == "" {
			e.Code = http.StatusText(resp.StatusCode)
		}
		return nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	return raw, nil
}
