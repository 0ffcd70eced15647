package cfsign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Secret is the JSON document stored in Secrets Manager: the key pair id and
// the private key together, so that both change atomically on rotation.
//
//	{"keyPairId":"K2JCJMDEHXQW5F","privateKey":"-----BEGIN PRIVATE KEY-----\n…","algorithm":"RSA-SHA1"}
//
// or, for a key that never leaves AWS KMS, the key pair id and the KMS key
// that signs (its ARN), with no private key at all:
//
//	{"keyPairId":"K2JCJMDEHXQW5F","kmsKeyId":"arn:aws:kms:…:key/…","algorithm":"ECDSA-SHA256"}
//
// keyPairId, algorithm and exactly one of privateKey and kmsKeyId are
// required. Unknown fields are ignored, so that tools may add metadata (a
// creation date, say) without breaking older signers.
type Secret struct {
	KeyPairID  string    `json:"keyPairId"`
	PrivateKey string    `json:"privateKey,omitempty"`
	KMSKeyID   string    `json:"kmsKeyId,omitempty"`
	Algorithm  Algorithm `json:"algorithm"`
}

// IsKMS reports whether the secret names a KMS key instead of holding one.
func (s Secret) IsKMS() bool { return s.KMSKeyID != "" }

// KMSSigningAlgorithm returns the KMS SigningAlgorithm for a KMS-held key of
// algorithm alg: ECDSA_SHA_256 for ECDSA-SHA256, RSASSA_PKCS1_V1_5_SHA_256
// for RSA-SHA256 (KMS cannot sign RSA-SHA1), or "" for none.
func KMSSigningAlgorithm(alg Algorithm) string {
	switch alg {
	case ECDSASHA256:
		return "ECDSA_SHA_256"
	case RSASHA256:
		return "RSASSA_PKCS1_V1_5_SHA_256"
	}
	return ""
}

// maxSecretBytes bounds the secret document; a 4096-bit PEM key is ~3.3 KB.
const maxSecretBytes = 64 << 10

// ParseSecret parses a Secret document and returns its Key. Errors name the
// offending field but never contain the private key or any part of it.
func ParseSecret(secretJSON []byte) (*Key, error) {
	if len(secretJSON) > maxSecretBytes {
		return nil, fmt.Errorf("cfsign: secret is larger than %d bytes", maxSecretBytes)
	}
	s, err := ParseSecretDocument(secretJSON)
	if err != nil {
		return nil, err
	}
	if s.IsKMS() {
		return nil, fmt.Errorf("cfsign: secret for key %s names KMS key %s: sign through KMS (internal/keysource)", s.KeyPairID, s.KMSKeyID)
	}
	return s.Key()
}

// ParseSecretDocument parses and checks a Secret document of either form
// without using its key: the key pair id's shape, a known algorithm, and
// exactly one of privateKey and kmsKeyId (a KMS key needs RSA-SHA256 or
// ECDSA-SHA256). Errors never contain the private key.
func ParseSecretDocument(secretJSON []byte) (Secret, error) {
	if len(secretJSON) > maxSecretBytes {
		return Secret{}, fmt.Errorf("cfsign: secret is larger than %d bytes", maxSecretBytes)
	}
	var s Secret
	if err := json.Unmarshal(secretJSON, &s); err != nil {
		// encoding/json errors can quote input; report only their shape.
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Secret{}, fmt.Errorf("cfsign: secret is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return Secret{}, fmt.Errorf("cfsign: secret field %q has the wrong JSON type (want a string)", truncate(typ.Field, 32))
		default:
			return Secret{}, errors.New("cfsign: secret is not a JSON object with keyPairId, privateKey (or kmsKeyId) and algorithm")
		}
	}
	if err := s.check(); err != nil {
		return Secret{}, err
	}
	return s, nil
}

// maxKMSKeyID bounds kmsKeyId: a key ARN is about 90 characters.
const maxKMSKeyID = 256

// check validates the fields both forms share and which form this is.
func (s Secret) check() error {
	if s.KeyPairID == "" {
		return errors.New("cfsign: secret: keyPairId is missing")
	}
	if err := validateKeyID(s.KeyPairID); err != nil {
		return fmt.Errorf("%w (secret field keyPairId)", err)
	}
	if s.Algorithm == "" {
		return fmt.Errorf("cfsign: secret for key %s: algorithm is missing (want %s, %s or %s)", s.KeyPairID, RSASHA1, RSASHA256, ECDSASHA256)
	}
	alg, err := ParseAlgorithm(string(s.Algorithm))
	if err != nil {
		// Not echoed: a misplaced key would show up here.
		return fmt.Errorf("cfsign: secret for key %s: unknown algorithm (want %s, %s or %s)", s.KeyPairID, RSASHA1, RSASHA256, ECDSASHA256)
	}
	switch {
	case s.PrivateKey != "" && s.KMSKeyID != "":
		return fmt.Errorf("cfsign: secret for key %s holds both privateKey and kmsKeyId: keep exactly one", s.KeyPairID)
	case s.PrivateKey == "" && s.KMSKeyID == "":
		return fmt.Errorf("cfsign: secret for key %s: privateKey is missing (or name a KMS key with kmsKeyId)", s.KeyPairID)
	case s.KMSKeyID != "":
		if len(s.KMSKeyID) > maxKMSKeyID || strings.ContainsAny(s.KMSKeyID, " \t\r\n\"") {
			return fmt.Errorf("cfsign: secret for key %s: kmsKeyId is not a KMS key id, ARN or alias", s.KeyPairID)
		}
		if KMSSigningAlgorithm(alg) == "" {
			return fmt.Errorf("cfsign: secret for key %s: a KMS key signs %s or %s, not %s", s.KeyPairID, RSASHA256, ECDSASHA256, alg)
		}
	}
	return nil
}

// Key checks the secret and returns its Key. The algorithm name is matched
// case-insensitively and must fit the private key's type.
// A secret naming a KMS key has no private key to parse: see IsKMS.
func (s Secret) Key() (*Key, error) {
	if s.KeyPairID != "" && s.PrivateKey == "" && s.KMSKeyID != "" {
		return nil, fmt.Errorf("cfsign: secret for key %s names a KMS key, not a private key", s.KeyPairID)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	alg, _ := ParseAlgorithm(string(s.Algorithm))
	if strings.Contains(s.PrivateKey, `\n`) && !strings.Contains(s.PrivateKey, "\n") {
		return nil, fmt.Errorf("cfsign: secret for key %s: privateKey holds literal \\n sequences instead of line breaks (JSON-encode the PEM once)", s.KeyPairID)
	}
	signer, err := ParsePrivateKeyPEM([]byte(s.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("%w (secret for key %s, field privateKey)", err, s.KeyPairID)
	}
	k, err := NewKey(s.KeyPairID, alg, signer)
	if err != nil {
		return nil, fmt.Errorf("%w (from secret)", err)
	}
	return k, nil
}
