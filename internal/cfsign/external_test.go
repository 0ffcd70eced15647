package cfsign

import (
	"crypto"
	"crypto/ecdsa"
	"io"
	"strings"
	"testing"
)

func TestParseSecretDocumentKMS(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	s, err := ParseSecretDocument([]byte(`{"keyPairId":"K2JCJMDEHXQW5F","kmsKeyId":"` + arn + `","algorithm":"ecdsa-sha256"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsKMS() || s.KMSKeyID != arn || s.PrivateKey != "" {
		t.Errorf("parsed %+v, want the KMS form", s)
	}
	if KMSSigningAlgorithm(ECDSASHA256) != "ECDSA_SHA_256" || KMSSigningAlgorithm(RSASHA256) != "RSASSA_PKCS1_V1_5_SHA_256" || KMSSigningAlgorithm(RSASHA1) != "" {
		t.Error("KMSSigningAlgorithm maps wrongly")
	}
	// ParseSecret is for private keys only and says where a KMS key goes.
	if _, err := ParseSecret([]byte(`{"keyPairId":"K1","kmsKeyId":"` + arn + `","algorithm":"RSA-SHA256"}`)); err == nil || !strings.Contains(err.Error(), "KMS") {
		t.Errorf("ParseSecret of the KMS form: %v", err)
	}
	ecPEM := string(readTestdata(t, "test-only-ecdsa-p256.sec1.pem"))
	bad := []struct{ name, doc, want string }{
		{"both forms", `{"keyPairId":"K1","kmsKeyId":"` + arn + `","privateKey":` + quote(ecPEM) + `,"algorithm":"ECDSA-SHA256"}`, "both privateKey and kmsKeyId"},
		{"neither", `{"keyPairId":"K1","algorithm":"ECDSA-SHA256"}`, "privateKey is missing"},
		{"kms sha1", `{"keyPairId":"K1","kmsKeyId":"` + arn + `","algorithm":"RSA-SHA1"}`, "not RSA-SHA1"},
		{"kms id with spaces", `{"keyPairId":"K1","kmsKeyId":"alias/x y","algorithm":"ECDSA-SHA256"}`, "not a KMS key id"},
		{"no algorithm", `{"keyPairId":"K1","kmsKeyId":"` + arn + `"}`, "algorithm is missing"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecretDocument([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "MHcCAQEE") {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}

// hiddenPubSigner signs with an in-memory key but hides its public key, as a
// KMS signer in the login function does, and counts the calls.
type hiddenPubSigner struct {
	k     crypto.Signer
	calls int
}

func (c *hiddenPubSigner) Public() crypto.PublicKey { return nil }
func (c *hiddenPubSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.calls++
	return c.k.Sign(r, d, o)
}

func TestNewExternalKey(t *testing.T) {
	priv, err := GenerateKey(ECDSASHA256)
	if err != nil {
		t.Fatal(err)
	}
	cs := &hiddenPubSigner{k: priv}
	k, err := NewExternalKey("K2JCJMDEHXQW5F", ECDSASHA256, cs, "arn:aws:kms:eu-west-1:1:key/a")
	if err != nil {
		t.Fatal(err)
	}
	if cs.calls != 0 {
		t.Errorf("NewExternalKey signed %d times; it must not call the signer", cs.calls)
	}
	sig, err := k.SignPolicy([]byte("policy"))
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(priv.Public().(*ecdsa.PublicKey), digest(ECDSASHA256, []byte("policy")), sig) {
		t.Error("signature does not verify")
	}
	// Two keys with the same id but different KMS keys never share cache entries.
	k2, err := NewExternalKey("K2JCJMDEHXQW5F", ECDSASHA256, cs, "arn:aws:kms:eu-west-1:1:key/b")
	if err != nil {
		t.Fatal(err)
	}
	if k.fp == k2.fp {
		t.Error("different KMS keys have the same fingerprint")
	}
	for _, tt := range []struct {
		alg  Algorithm
		s    crypto.Signer
		ref  string
		want string
	}{
		{RSASHA1, cs, "r", "SHA-256"},
		{ECDSASHA256, nil, "r", "nil signer"},
		{ECDSASHA256, cs, "", "reference"},
	} {
		if _, err := NewExternalKey("K1", tt.alg, tt.s, tt.ref); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewExternalKey(%s, ref %q): %v, want %q", tt.alg, tt.ref, err, tt.want)
		}
	}
}
