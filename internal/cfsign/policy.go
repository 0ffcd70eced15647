package cfsign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// ValidateCourseID checks id against ^[a-z0-9][a-z0-9-]{0,62}$. Only such ids
// may reach a policy's Resource: anything else (a '*', '?', '/', '.', '%',
// upper case, non-ASCII) could widen the grant or name another path.
func ValidateCourseID(id string) error {
	if id == "" {
		return errors.New("cfsign: empty course id")
	}
	if len(id) > 63 {
		return errors.New("cfsign: course id longer than 63 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			// Not echoed: the id comes from a request.
			return errors.New("cfsign: course id must match ^[a-z0-9][a-z0-9-]{0,62}$")
		}
	}
	return nil
}

// ValidateDomain checks that d is a host name with an optional port, as it
// appears in https://<d>/: lower-case DNS labels (letters, digits, inner
// hyphens; an IPv4 address also passes) of at most 63 characters, at most 253
// in all, and a port of 1 to 65535 without leading zeros. A scheme, path,
// query, user info, wildcard, trailing dot, upper case or IPv6 literal is an
// error: IPv6 is rejected deliberately (CloudFront domains are names, and a
// bracketed literal would need its own matching rules).
func ValidateDomain(d string) error {
	host, port, hasPort := strings.Cut(d, ":")
	if hasPort {
		if err := validatePort(port); err != nil {
			return err
		}
	}
	return validateHost(host)
}

func validatePort(p string) error {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return errors.New("cfsign: domain port must be 1 to 65535")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return errors.New("cfsign: domain port must be 1 to 65535")
		}
	}
	if n, err := strconv.Atoi(p); err != nil || n > 65535 {
		return errors.New("cfsign: domain port must be 1 to 65535")
	}
	return nil
}

func validateHost(h string) error {
	const msg = "cfsign: domain must be a lower-case host name with an optional :port (no scheme, path, wildcard or IPv6)"
	if h == "" || len(h) > 253 {
		return errors.New(msg)
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New(msg)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return errors.New(msg)
			}
		}
	}
	return nil
}

// CourseResource returns the Resource of a course policy,
// https://<domain>/courses/<courseID>/*, after validating both parts.
func CourseResource(domain, courseID string) (string, error) {
	if err := ValidateDomain(domain); err != nil {
		return "", err
	}
	if err := ValidateCourseID(courseID); err != nil {
		return "", err
	}
	return courseResource(domain, courseID), nil
}

func courseResource(domain, courseID string) string {
	return "https://" + domain + "/courses/" + courseID + "/*"
}

// coursePath returns the cookie Path of a course, /courses/<courseID>/.
func coursePath(courseID string) string { return "/courses/" + courseID + "/" }

// Conditions are the optional conditions of a custom policy. Zero values mean
// absent.
type Conditions struct {
	// NotBefore becomes DateGreaterThan (whole seconds, rounded down).
	NotBefore time.Time
	// SourceIP becomes IpAddress AWS:SourceIp. IPv4 only; host bits are
	// cleared (192.0.2.7/24 is written 192.0.2.0/24).
	SourceIP netip.Prefix
	// NotAfter caps the expiry (Issuer.Issue only): when set and earlier
	// than the bucketed expiry, DateLessThan is NotAfter rounded down to the
	// second, so cookies never outlive a grant or session that ends sooner.
	// It must then be at least a second in the future.
	NotAfter time.Time
}

// normalize validates c against expires and returns it with SourceIP masked.
func (c Conditions) normalize(expires time.Time) (Conditions, error) {
	if c.SourceIP != (netip.Prefix{}) {
		if !c.SourceIP.IsValid() || !c.SourceIP.Addr().Is4() {
			return c, errors.New("cfsign: source IP condition must be an IPv4 CIDR prefix")
		}
		c.SourceIP = c.SourceIP.Masked()
	}
	if !c.NotBefore.IsZero() {
		if c.NotBefore.Unix() >= expires.Unix() {
			return c, errors.New("cfsign: NotBefore must be before the expiry")
		}
		if c.NotBefore.Unix() < 0 {
			return c, errors.New("cfsign: NotBefore before 1970")
		}
	}
	return c, nil
}

// checkExpires rejects expiry times CloudFront cannot express sensibly.
func checkExpires(expires time.Time) error {
	if expires.Unix() <= 0 {
		return errors.New("cfsign: expiry must be after 1970-01-01")
	}
	return nil
}

// newPolicy builds the SDK policy with one statement; inputs are validated.
func newPolicy(resource string, expires time.Time, c Conditions) *sign.Policy {
	p := sign.NewCannedPolicy(resource, expires.Truncate(time.Second))
	cond := &p.Statements[0].Condition
	if c.SourceIP.IsValid() {
		cond.IPAddress = &sign.IPAddress{SourceIP: c.SourceIP.String()}
	}
	if !c.NotBefore.IsZero() {
		cond.DateGreaterThan = sign.NewAWSEpochTime(c.NotBefore)
	}
	return p
}

// encodePolicy returns the JSON bytes of p exactly as feature/cloudfront/sign's
// Policy.Sign encodes and signs them (json.Encoder without HTML escaping,
// surrounding white space trimmed). A test checks the two stay identical.
func encodePolicy(p *sign.Policy) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("cfsign: encode policy: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// CoursePolicy returns the JSON custom policy granting the course until
// expires (DateLessThan, whole seconds): one statement whose Resource is
// https://<domain>/courses/<courseID>/*, plus the optional conditions. The
// domain and course id are validated first.
func CoursePolicy(domain, courseID string, expires time.Time, c Conditions) ([]byte, error) {
	resource, err := CourseResource(domain, courseID)
	if err != nil {
		return nil, err
	}
	if err := checkExpires(expires); err != nil {
		return nil, err
	}
	c, err = c.normalize(expires)
	if err != nil {
		return nil, err
	}
	return encodePolicy(newPolicy(resource, expires, c))
}

// URLPolicy returns a JSON custom policy for one object, such as an ebook PDF:
// resource must be an absolute http or https URL with a valid domain, no
// query, fragment or user info, and no '*' or '?' (wildcards belong only in
// course policies, which build their Resource themselves).
func URLPolicy(resource string, expires time.Time, c Conditions) ([]byte, error) {
	if err := validateObjectURL(resource, false); err != nil {
		return nil, err
	}
	if err := checkExpires(expires); err != nil {
		return nil, err
	}
	c, err := c.normalize(expires)
	if err != nil {
		return nil, err
	}
	return encodePolicy(newPolicy(resource, expires, c))
}
