package cfsign

import (
	"errors"
	"strings"
	"time"
)

// IssueFor is Issue with its own lifetime instead of the issuer's (for
// example the playback URL's PLAYBACK_TTL): the same course policy
// (Resource https://<domain>/courses/<id>/*), expiry bucketing, NotAfter
// cap and signature cache, so every playback start of a course within one
// bucket shares one signature.
func (i *Issuer) IssueFor(key *Key, courseID string, lifetime time.Duration, c Conditions) (CourseCookies, error) {
	if lifetime <= 0 {
		return CourseCookies{}, errors.New("cfsign: issuer: lifetime must be positive")
	}
	return i.issue(key, courseID, lifetime, c)
}

// URLParams returns the cookie set's signature as signed URL parameters:
// "Policy=…&Signature=…&Key-Pair-Id=…", plus "&Hash-Algorithm=SHA256" for
// the SHA-256 algorithms. CloudFront accepts the same custom policy and
// signature in a URL as in cookies; the values are CloudFront base64 and a
// key pair id, which need no escaping in a query.
func (c CourseCookies) URLParams() string {
	var b strings.Builder
	for _, ck := range c.proto {
		var name string
		switch ck.Name {
		case CookiePolicy:
			name = "Policy"
		case CookieSignature:
			name = "Signature"
		case CookieKeyPairID:
			name = "Key-Pair-Id"
		case CookieHashAlgorithm:
			name = "Hash-Algorithm"
		default:
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(ck.Value)
	}
	return b.String()
}
