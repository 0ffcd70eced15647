package cfsign

import (
	"crypto"
	"fmt"
	"strings"
)

// Algorithm names a CloudFront signing algorithm: a key type plus a hash.
type Algorithm string

// The algorithms CloudFront accepts for signed cookies and URLs.
const (
	// RSASHA1 is RSA-2048 PKCS#1 v1.5 over SHA-1, CloudFront's default.
	RSASHA1 Algorithm = "RSA-SHA1"
	// RSASHA256 is RSA PKCS#1 v1.5 over SHA-256 (Hash-Algorithm=SHA256).
	RSASHA256 Algorithm = "RSA-SHA256"
	// ECDSASHA256 is ECDSA P-256 over SHA-256 with an ASN.1 DER signature.
	ECDSASHA256 Algorithm = "ECDSA-SHA256"
)

// ParseAlgorithm returns the Algorithm named by s, case-insensitively.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range []Algorithm{RSASHA1, RSASHA256, ECDSASHA256} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("cfsign: unknown algorithm %q (want %s, %s or %s)", truncate(s, 32), RSASHA1, RSASHA256, ECDSASHA256)
}

// HashName returns the hash as CloudFront names it in the Hash-Algorithm URL
// parameter and the CloudFront-Hash-Algorithm cookie: "SHA1" or "SHA256".
// It returns "" for an unknown algorithm.
func (a Algorithm) HashName() string {
	switch a {
	case RSASHA1:
		return "SHA1"
	case RSASHA256, ECDSASHA256:
		return "SHA256"
	}
	return ""
}

// String returns the algorithm's name.
func (a Algorithm) String() string { return string(a) }

func (a Algorithm) valid() bool {
	return a == RSASHA1 || a == RSASHA256 || a == ECDSASHA256
}

func (a Algorithm) hash() crypto.Hash {
	if a == RSASHA1 {
		return crypto.SHA1
	}
	return crypto.SHA256
}

func (a Algorithm) isRSA() bool { return a == RSASHA1 || a == RSASHA256 }

// truncate shortens s for an error message; only ever used on non-secret input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
