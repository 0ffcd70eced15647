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
// All three fields are required. Unknown fields are ignored, so that tools
// may add metadata (a creation date, say) without breaking older signers.
type Secret struct {
	KeyPairID  string    `json:"keyPairId"`
	PrivateKey string    `json:"privateKey"`
	Algorithm  Algorithm `json:"algorithm"`
}

// maxSecretBytes bounds the secret document; a 4096-bit PEM key is ~3.3 KB.
const maxSecretBytes = 64 << 10

// ParseSecret parses a Secret document and returns its Key. Errors name the
// offending field but never contain the private key or any part of it.
func ParseSecret(secretJSON []byte) (*Key, error) {
	if len(secretJSON) > maxSecretBytes {
		return nil, fmt.Errorf("cfsign: secret is larger than %d bytes", maxSecretBytes)
	}
	var s Secret
	if err := json.Unmarshal(secretJSON, &s); err != nil {
		// encoding/json errors can quote input; report only their shape.
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("cfsign: secret is not valid JSON (at byte %d)", syn.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return nil, fmt.Errorf("cfsign: secret field %q has the wrong JSON type (want a string)", truncate(typ.Field, 32))
		default:
			return nil, errors.New("cfsign: secret is not a JSON object with keyPairId, privateKey and algorithm")
		}
	}
	return s.Key()
}

// Key checks the secret and returns its Key. The algorithm name is matched
// case-insensitively and must fit the private key's type.
func (s Secret) Key() (*Key, error) {
	if s.KeyPairID == "" {
		return nil, errors.New("cfsign: secret: keyPairId is missing")
	}
	if err := validateKeyID(s.KeyPairID); err != nil {
		return nil, fmt.Errorf("%w (secret field keyPairId)", err)
	}
	if s.PrivateKey == "" {
		return nil, fmt.Errorf("cfsign: secret for key %s: privateKey is missing", s.KeyPairID)
	}
	if s.Algorithm == "" {
		return nil, fmt.Errorf("cfsign: secret for key %s: algorithm is missing (want %s, %s or %s)", s.KeyPairID, RSASHA1, RSASHA256, ECDSASHA256)
	}
	alg, err := ParseAlgorithm(string(s.Algorithm))
	if err != nil {
		// Not echoed: a misplaced key would show up here.
		return nil, fmt.Errorf("cfsign: secret for key %s: unknown algorithm (want %s, %s or %s)", s.KeyPairID, RSASHA1, RSASHA256, ECDSASHA256)
	}
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
