package cfsign

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// reservedParams are the query parameters CloudFront reads from a signed URL.
var reservedParams = []string{"Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"}

// validateObjectURL checks an absolute URL naming one object. With allowQuery
// a query is allowed, except CloudFront's own parameters.
func validateObjectURL(raw string, allowQuery bool) error {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return errors.New("cfsign: URL must be printable ASCII without spaces (escape the rest)")
		}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return errors.New("cfsign: URL must start with https:// or http://")
	}
	host, pathQuery, ok := strings.Cut(rest, "/")
	if !ok {
		return errors.New("cfsign: URL has no path")
	}
	if err := ValidateDomain(host); err != nil {
		return err
	}
	if strings.ContainsAny(pathQuery, "*#") {
		return errors.New("cfsign: URL must not contain '*' or a fragment")
	}
	// Characters that are never valid unescaped in a URL, and that JSON would
	// escape in a policy (so the canned policy could not be rebuilt byte for byte).
	if strings.ContainsAny(pathQuery, "\"\\<>{}|^`") {
		return errors.New("cfsign: URL contains characters that must be percent-encoded")
	}
	path, query, hasQuery := strings.Cut(pathQuery, "?")
	if _, err := url.PathUnescape(path); err != nil {
		return errors.New("cfsign: URL path has a malformed escape")
	}
	if hasQuery {
		if !allowQuery {
			return errors.New("cfsign: policy resource must not contain '?' or a query")
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return errors.New("cfsign: URL query is malformed")
		}
		for _, p := range reservedParams {
			if q.Has(p) {
				return fmt.Errorf("cfsign: URL already has a %s parameter", p)
			}
		}
	}
	return nil
}

// SignURL returns rawURL signed with a canned policy valid until expires
// (whole seconds): rawURL plus Expires, Signature and Key-Pair-Id, and
// Hash-Algorithm=SHA256 for the SHA-256 algorithms. rawURL is an absolute
// http(s) URL of one object; it may carry a query, but not CloudFront's own
// parameters, a fragment or a '*'.
func SignURL(key *Key, rawURL string, expires time.Time) (string, error) {
	if err := key.usable(); err != nil {
		return "", err
	}
	if err := validateObjectURL(rawURL, true); err != nil {
		return "", err
	}
	if err := checkExpires(expires); err != nil {
		return "", err
	}
	p := sign.NewCannedPolicy(rawURL, expires)
	_, sig, err := key.signSDKPolicy(p)
	if err != nil {
		return "", err
	}
	return appendParams(rawURL, "Expires="+strconv.FormatInt(expires.Unix(), 10), sig, key), nil
}

// SignURLWithPolicy returns rawURL signed with a custom policy (as made by
// URLPolicy): rawURL plus Policy, Signature and Key-Pair-Id, and
// Hash-Algorithm=SHA256 for the SHA-256 algorithms. The policy bytes are signed
// as given; they must be a JSON policy with exactly one statement, a Resource
// and a DateLessThan.
func SignURLWithPolicy(key *Key, rawURL string, policy []byte) (string, error) {
	if err := key.usable(); err != nil {
		return "", err
	}
	if err := validateObjectURL(rawURL, true); err != nil {
		return "", err
	}
	if err := checkPolicyShape(policy); err != nil {
		return "", err
	}
	sig, err := key.SignPolicy(policy)
	if err != nil {
		return "", err
	}
	return appendParams(rawURL, "Policy="+Encode(policy), Encode(sig), key), nil
}

// checkPolicyShape rejects bytes that CloudFront would refuse as a policy.
func checkPolicyShape(policy []byte) error {
	var p struct {
		Statement []struct {
			Resource  *string
			Condition struct {
				DateLessThan *struct {
					EpochTime *int64 `json:"AWS:EpochTime"`
				}
			}
		}
	}
	if err := json.Unmarshal(policy, &p); err != nil {
		return errors.New("cfsign: policy is not a JSON policy document")
	}
	if len(p.Statement) != 1 {
		return errors.New("cfsign: policy must have exactly one statement")
	}
	s := p.Statement[0]
	if s.Resource == nil || *s.Resource == "" {
		return errors.New("cfsign: policy statement has no Resource")
	}
	if s.Condition.DateLessThan == nil || s.Condition.DateLessThan.EpochTime == nil {
		return errors.New("cfsign: policy statement has no DateLessThan")
	}
	return nil
}

func appendParams(rawURL, first, sig string, key *Key) string {
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	var b strings.Builder
	b.Grow(len(rawURL) + len(first) + len(sig) + len(key.id) + 64)
	b.WriteString(rawURL)
	b.WriteString(sep)
	b.WriteString(first)
	b.WriteString("&Signature=")
	b.WriteString(sig)
	b.WriteString("&Key-Pair-Id=")
	b.WriteString(key.id)
	if key.alg.HashName() == "SHA256" {
		b.WriteString("&Hash-Algorithm=SHA256")
	}
	return b.String()
}

// usable reports whether k was made by NewKey and not modified since.
func (k *Key) usable() error {
	if k == nil || k.signer == nil {
		return errors.New("cfsign: key not made by NewKey")
	}
	if k.ID != k.id || k.Algorithm != k.alg {
		return errors.New("cfsign: key fields were modified after NewKey")
	}
	return nil
}

// signSDKPolicy signs p and returns the CloudFront-encoded policy and
// signature. RSA-SHA1 goes through feature/cloudfront/sign's Policy.Sign; the
// SHA-256 algorithms encode p the same way and sign those bytes here.
func (k *Key) signSDKPolicy(p *sign.Policy) (b64Policy, b64Sig string, err error) {
	if k.alg == RSASHA1 {
		sig, pol, err := p.Sign(k.signer)
		if err != nil {
			return "", "", fmt.Errorf("cfsign: sign policy with key %s: %w", k.id, err)
		}
		return string(pol), string(sig), nil
	}
	js, err := encodePolicy(p)
	if err != nil {
		return "", "", err
	}
	sig, err := k.SignPolicy(js)
	if err != nil {
		return "", "", err
	}
	return Encode(js), Encode(sig), nil
}
