package cfsign

import (
	"encoding/base64"
	"errors"
)

// Encode returns b in CloudFront's URL-safe base64: standard base64 with '+'
// replaced by '-', '=' by '_' and '/' by '~'.
func Encode(b []byte) string {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	for i, c := range out {
		switch c {
		case '+':
			out[i] = '-'
		case '=':
			out[i] = '_'
		case '/':
			out[i] = '~'
		}
	}
	return string(out)
}

// ErrEncoding reports a string that is not canonical CloudFront base64.
var ErrEncoding = errors.New("cfsign: not CloudFront base64")

// Decode reverses Encode. It is strict: it accepts only the CloudFront
// alphabet (A-Z a-z 0-9 - _ ~), correct padding and zero trailing bits, so
// Encode(Decode(s)) == s whenever Decode succeeds. Standard base64 ('+', '/',
// '='), whitespace and line breaks are rejected.
func Decode(s string) ([]byte, error) {
	if len(s)%4 != 0 {
		return nil, ErrEncoding
	}
	buf := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			buf[i] = c
		case c == '-':
			buf[i] = '+'
		case c == '_':
			buf[i] = '='
		case c == '~':
			buf[i] = '/'
		default:
			return nil, ErrEncoding
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(buf)))
	n, err := base64.StdEncoding.Strict().Decode(out, buf)
	if err != nil {
		return nil, ErrEncoding
	}
	return out[:n], nil
}
