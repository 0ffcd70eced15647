package verifier

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxEncodedLen bounds a Policy or Signature value; a cookie cannot exceed 4 KiB
// and CloudFront limits URLs to 8 KiB.
const maxEncodedLen = 8192

var cfReplacer = strings.NewReplacer("-", "+", "_", "=", "~", "/")

// Decode decodes CloudFront's base64 (- _ ~ in place of + = /). The standard
// alphabet is accepted too; padding is required and trailing bits must be zero.
func Decode(s string) ([]byte, error) {
	if len(s) > maxEncodedLen {
		return nil, fmt.Errorf("value of %d characters exceeds %d", len(s), maxEncodedLen)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(cfReplacer.Replace(s))
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return b, nil
}

// Policy is a parsed CloudFront policy statement.
type Policy struct {
	// Resource is the URL pattern; HasResource is false when it was omitted.
	Resource    string
	HasResource bool
	// DateLessThan is required (Unix seconds).
	DateLessThan int64
	// DateGreaterThan is optional (HasDateGreaterThan).
	DateGreaterThan    int64
	HasDateGreaterThan bool
	// SourceIP is the optional IPv4 prefix (SourceIP.IsValid()).
	SourceIP netip.Prefix
}

// CannedPolicy returns the canned policy CloudFront rebuilds for a URL and an
// expiry, byte for byte.
func CannedPolicy(resource string, expires int64) string {
	return cannedPolicy(resource, strconv.FormatInt(expires, 10))
}

// cannedPolicy takes Expires as the viewer sent it (decimal digits).
func cannedPolicy(resource, expires string) string {
	return `{"Statement":[{"Resource":"` + resource + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + expires + `}}}]}`
}

// ParsePolicy parses a custom policy strictly (see the package documentation).
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > maxEncodedLen {
		return nil, fmt.Errorf("policy of %d bytes exceeds %d", len(b), maxEncodedLen)
	}
	if !utf8.Valid(b) {
		// encoding/json would turn invalid bytes into U+FFFD; the guide
		// requires UTF-8.
		return nil, errors.New("policy is not UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	p := &Policy{}
	err := object(d, "policy", func(key string) error {
		if key != "Statement" {
			return fmt.Errorf("unknown policy member %q", key)
		}
		return statements(d, p)
	}, []string{"Statement"})
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the policy")
	}
	return p, nil
}

func statements(d *json.Decoder, p *Policy) error {
	if err := delim(d, '[', "Statement"); err != nil {
		return err
	}
	n := 0
	for d.More() {
		n++
		if n > 1 {
			return errors.New("more than one statement")
		}
		err := object(d, "statement", func(key string) error {
			switch key {
			case "Resource":
				s, err := str(d, "Resource")
				if err != nil {
					return err
				}
				if s == "" {
					return errors.New("empty Resource")
				}
				p.Resource, p.HasResource = s, true
				return nil
			case "Condition":
				return condition(d, p)
			default:
				return fmt.Errorf("unknown statement member %q", key)
			}
		}, []string{"Condition"})
		if err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("no statement")
	}
	return delim(d, ']', "Statement")
}

func condition(d *json.Decoder, p *Policy) error {
	return object(d, "Condition", func(key string) error {
		switch key {
		case "DateLessThan":
			return epoch(d, key, &p.DateLessThan)
		case "DateGreaterThan":
			p.HasDateGreaterThan = true
			return epoch(d, key, &p.DateGreaterThan)
		case "IpAddress":
			return object(d, "IpAddress", func(k string) error {
				if k != "AWS:SourceIp" {
					return fmt.Errorf("unknown IpAddress member %q", k)
				}
				s, err := str(d, "AWS:SourceIp")
				if err != nil {
					return err
				}
				pfx, err := parseSourceIP(s)
				if err != nil {
					return err
				}
				p.SourceIP = pfx
				return nil
			}, []string{"AWS:SourceIp"})
		default:
			return fmt.Errorf("unknown condition %q", key)
		}
	}, []string{"DateLessThan"})
}

func parseSourceIP(s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return pfx, fmt.Errorf("AWS:SourceIp %q is not a CIDR", s)
		}
		pfx = p
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return pfx, fmt.Errorf("AWS:SourceIp %q is not an IP address", s)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if !pfx.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("AWS:SourceIp %q is not IPv4 (CloudFront policies take IPv4 only)", s)
	}
	return pfx.Masked(), nil
}

func epoch(d *json.Decoder, name string, dst *int64) error {
	return object(d, name, func(k string) error {
		if k != "AWS:EpochTime" {
			return fmt.Errorf("unknown %s member %q", name, k)
		}
		t, err := d.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		n, ok := t.(json.Number)
		if !ok {
			return fmt.Errorf("%s AWS:EpochTime is not a number", name)
		}
		for _, c := range []byte(n) {
			if c < '0' || c > '9' {
				return fmt.Errorf("%s AWS:EpochTime %s is not a non-negative integer", name, n)
			}
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return fmt.Errorf("%s AWS:EpochTime %s out of range", name, n)
		}
		*dst = v
		return nil
	}, []string{"AWS:EpochTime"})
}

// object reads a JSON object, calling member for each key (with the decoder
// positioned at its value), rejecting duplicated keys and requiring the keys in
// required.
func object(d *json.Decoder, name string, member func(key string) error, required []string) error {
	if err := delim(d, '{', name); err != nil {
		return err
	}
	seen := make(map[string]bool, 4)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("%s: key is not a string", name)
		}
		if seen[key] {
			return fmt.Errorf("%s: duplicated member %q", name, key)
		}
		seen[key] = true
		if err := member(key); err != nil {
			return err
		}
	}
	if err := delim(d, '}', name); err != nil {
		return err
	}
	for _, k := range required {
		if !seen[k] {
			return fmt.Errorf("%s: missing %s", name, k)
		}
	}
	return nil
}

func delim(d *json.Decoder, want json.Delim, name string) error {
	t, err := d.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if got, ok := t.(json.Delim); !ok || got != want {
		return fmt.Errorf("%s: expected %q", name, string(want))
	}
	return nil
}

func str(d *json.Decoder, name string) (string, error) {
	t, err := d.Token()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}
