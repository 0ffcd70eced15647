package cfsign_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// The examples use the committed test-only keys and a fixed clock.
var exampleNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func exampleKey(file, id string, alg cfsign.Algorithm) *cfsign.Key {
	pemBytes, err := os.ReadFile("testdata/" + file)
	if err != nil {
		panic(err)
	}
	signer, err := cfsign.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		panic(err)
	}
	k, err := cfsign.NewKey(id, alg, signer)
	if err != nil {
		panic(err)
	}
	return k
}

func ExampleCoursePolicy() {
	policy, err := cfsign.CoursePolicy("d111111abcdef8.cloudfront.net", "intro-to-hls",
		exampleNow.Add(10*time.Minute), cfsign.Conditions{SourceIP: netip.MustParsePrefix("192.0.2.0/24")})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(policy))
	_, err = cfsign.CoursePolicy("d111111abcdef8.cloudfront.net", "intro*", exampleNow, cfsign.Conditions{})
	fmt.Println(err)
	// Output:
	// {"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},"DateLessThan":{"AWS:EpochTime":1767323645}}}]}
	// cfsign: course id must match ^[a-z0-9][a-z0-9-]{0,62}$
}

// RSA-SHA1 signatures (PKCS#1 v1.5) are deterministic, so the whole cookie
// set is fixed for a fixed key, course and clock.
func ExampleIssuer_Issue() {
	key := exampleKey("test-only-rsa2048.pkcs1.pem", "K2JCJMDEHXQW5F", cfsign.RSASHA1)
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{
		Domain: "d111111abcdef8.cloudfront.net",
		Now:    func() time.Time { return exampleNow },
	})
	if err != nil {
		panic(err)
	}
	cc, err := issuer.Issue(key, "intro-to-hls", cfsign.Conditions{})
	if err != nil {
		panic(err)
	}
	fmt.Println("expires", cc.Expires)
	for _, h := range cc.SetCookies() {
		fmt.Println(h)
	}
	// Output:
	// expires 2026-01-02 03:15:00 +0000 UTC
	// CloudFront-Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC9jb3Vyc2VzL2ludHJvLXRvLWhscy8qIiwiQ29uZGl0aW9uIjp7IkRhdGVMZXNzVGhhbiI6eyJBV1M6RXBvY2hUaW1lIjoxNzY3MzIzNzAwfX19XX0_; Path=/courses/intro-to-hls/; HttpOnly; Secure; SameSite=Lax
	// CloudFront-Signature=aCJ0dKnoW-WQVLTtUaWDfM5DcJ~tmDJkiE23KQeo11BjS-qAeicGQ-QvUPMbDtO2tJu9MPTR7Cw1NGllHvLNoGKNMw-D0tRjifbUANfxUD~YzixWqrfQm9V9geEBHsJTBcLfYUp82uMJ6xMKTbORFwysjKMyGJ4QP8en8ioOsHLsmFAxzOBwjj00LhTyfQzS9DuPmm4S7~AieH2Ah0VdrkTCeG8g1UKGDuSaA2b1gqm64I3YnqHtBHE3WugSiXE-mQRMqW-pBmXHatSgN0KLNhFTP7nrLhLcK9FQjQ2Ex76lS5LMhHsy0TXH0XxdyCjzDc0IBmeYME-hWPJmfr~XuQ__; Path=/courses/intro-to-hls/; HttpOnly; Secure; SameSite=Lax
	// CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F; Path=/courses/intro-to-hls/; HttpOnly; Secure; SameSite=Lax
	// CloudFront-Hash-Algorithm=; Path=/courses/intro-to-hls/; Max-Age=0; HttpOnly; Secure; SameSite=Lax
}

// ECDSA signatures are randomised, so this example checks the signature with
// crypto/ecdsa instead of printing it.
func ExampleIssuer_Issue_ecdsa() {
	key := exampleKey("test-only-ecdsa-p256.sec1.pem", "K2JCJMDEHXQW5F", cfsign.ECDSASHA256)
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{
		Domain: "video.example.com",
		Now:    func() time.Time { return exampleNow },
		Cookie: cfsign.CookieOptions{Domain: "example.com"},
	})
	if err != nil {
		panic(err)
	}
	cc, err := issuer.Issue(key, "advanced-streaming", cfsign.Conditions{})
	if err != nil {
		panic(err)
	}
	var policy, sig []byte
	for _, c := range cc.Cookies {
		switch c.Name {
		case cfsign.CookiePolicy:
			policy, _ = cfsign.Decode(c.Value)
		case cfsign.CookieSignature:
			sig, _ = cfsign.Decode(c.Value)
		default:
			fmt.Println(c.String())
		}
	}
	fmt.Println(string(policy))
	digest := sha256.Sum256(policy)
	fmt.Println("verifies:", ecdsa.VerifyASN1(key.Signer.Public().(*ecdsa.PublicKey), digest[:], sig))
	// Output:
	// CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F; Path=/courses/advanced-streaming/; Domain=example.com; HttpOnly; Secure; SameSite=Lax
	// CloudFront-Hash-Algorithm=SHA256; Path=/courses/advanced-streaming/; Domain=example.com; HttpOnly; Secure; SameSite=Lax
	// {"Statement":[{"Resource":"https://video.example.com/courses/advanced-streaming/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767323700}}}]}
	// verifies: true
}

// A signed URL for one object, for example an ebook download.
func ExampleSignURL() {
	key := exampleKey("test-only-rsa2048.pkcs1.pem", "K2JCJMDEHXQW5F", cfsign.RSASHA1)
	u, err := cfsign.SignURL(key, "https://d111111abcdef8.cloudfront.net/ebooks/hls-guide.pdf", exampleNow.Add(time.Hour))
	if err != nil {
		panic(err)
	}
	fmt.Println(u)
	// Output:
	// https://d111111abcdef8.cloudfront.net/ebooks/hls-guide.pdf?Expires=1767326645&Signature=hPHe6DQPmWF4gXnBU8h14t~eBubsi~YvryUV8KSJWoaMw1hObyyFRdof-2jorSKZHt-uj2kQMkzbYfQJpida-fvNEj0xBb4IgCfZ-bwJIc90DKp6wj2RgMNXJdKTdJu33vKSMjxBzVh5GKnNcn4P7aLDk2gwNPsmqzPQPjonu1NJV4XcI1h-eBiITGgz7TUCzXLx5GwI0CRRZfg9maPIyf4~XQGPG6X~eqe-meUaiPUi~IOY2viibhv9gEDUR-EX-B1Ew~eBme6JGmMU0v7JJnZOwbrDHWKzvmMsox4IhpqmoPC47H8AFfuuNXd97LJ96HMFVvw4wU-s-T-35RdOSA__&Key-Pair-Id=K2JCJMDEHXQW5F
}

func ExampleParseSecret() {
	pemBytes, err := os.ReadFile("testdata/test-only-ecdsa-p256.pkcs8.pem")
	if err != nil {
		panic(err)
	}
	doc, _ := json.Marshal(map[string]string{"keyPairId": "K2JCJMDEHXQW5F", "privateKey": string(pemBytes), "algorithm": "ECDSA-SHA256"})
	key, err := cfsign.ParseSecret(doc)
	if err != nil {
		panic(err)
	}
	fmt.Println(key.ID, key.Algorithm, key.Algorithm.HashName())

	doc, _ = json.Marshal(map[string]string{"keyPairId": "K2JCJMDEHXQW5F", "privateKey": string(pemBytes), "algorithm": "RSA-SHA1"})
	_, err = cfsign.ParseSecret(doc)
	fmt.Println(err)
	fmt.Println("error mentions key material:", strings.Contains(err.Error(), string(pemBytes[30:60])))
	// Output:
	// K2JCJMDEHXQW5F ECDSA-SHA256 SHA256
	// cfsign: key K2JCJMDEHXQW5F: algorithm RSA-SHA1 needs an RSA key, got an ECDSA key (from secret)
	// error mentions key material: false
}

func ExampleEncode() {
	b, _ := cfsign.Decode(cfsign.Encode([]byte{0xfb, 0xff, 0xfe}))
	fmt.Println(cfsign.Encode([]byte{0xfb, 0xff, 0xfe}), b)
	_, err := cfsign.Decode("+/8=")
	fmt.Println(err)
	// Output:
	// -~~- [251 255 254]
	// cfsign: not CloudFront base64
}
