package cfsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key is a CloudFront signing key: the key pair id of the public key in the
// distribution's key group, the algorithm, and the private half as a
// crypto.Signer (an in-memory *rsa.PrivateKey or *ecdsa.PrivateKey, or a signer
// whose key never leaves a KMS).
//
// Make a Key with NewKey and treat its fields as read-only: signing uses the
// values checked by NewKey, and the signature cache is keyed by a fingerprint
// of the public key computed there, so a rotated key that reuses an id never
// gets a stale signature.
type Key struct {
	ID        string
	Algorithm Algorithm
	Signer    crypto.Signer

	id     string
	alg    Algorithm
	signer crypto.Signer
	fp     [sha256.Size]byte // SHA-256 of the PKIX public key
}

// Limits on RSA key sizes. CloudFront itself takes RSA-2048 keys; larger ones
// are accepted here because a KMS or a verifier may use them.
const (
	minRSABits = 2048
	maxRSABits = 4096
	maxKeyID   = 128
	maxKeyDER  = 4096
)

// NewKey checks that id looks like a CloudFront key pair id (1 to 128 ASCII
// letters and digits, such as K2JCJMDEHXQW5F), that the signer's public key
// fits alg (RSA of 2048 to 4096 bits for RSA-SHA1 and RSA-SHA256, ECDSA P-256
// for ECDSA-SHA256), and that the signer produces a signature that verifies
// against its public key (one probe signature, which catches a signer set up
// for another signing scheme). The probe is skipped for an in-memory
// *rsa.PrivateKey or *ecdsa.PrivateKey whose private and public halves
// are checked to belong together (rsa.PrivateKey.Validate; the ECDSA public
// point recomputed from the scalar): for those the probe proves nothing more,
// and on a cold start it is a whole RSA signature between the secret's read
// and the first request.
func NewKey(id string, alg Algorithm, signer crypto.Signer) (*Key, error) {
	if err := validateKeyID(id); err != nil {
		return nil, err
	}
	if !alg.valid() {
		return nil, fmt.Errorf("cfsign: key %s: unknown algorithm", id)
	}
	if signer == nil {
		return nil, fmt.Errorf("cfsign: key %s: nil signer", id)
	}
	pub := signer.Public()
	if err := checkPublicKey(alg, pub); err != nil {
		return nil, fmt.Errorf("cfsign: key %s: %w", id, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("cfsign: key %s: marshal public key: %w", id, err)
	}
	k := &Key{ID: id, Algorithm: alg, Signer: signer, id: id, alg: alg, signer: signer, fp: sha256.Sum256(der)}
	if err := consistent(signer); err != nil {
		return nil, fmt.Errorf("cfsign: key %s: %w", id, err)
	} else if knownSoftwareKey(signer) {
		return k, nil
	}
	probe := []byte("cfgate key probe")
	sig, err := k.SignPolicy(probe)
	if err != nil {
		return nil, fmt.Errorf("cfsign: key %s: probe signature: %w", id, err)
	}
	if err := Verify(alg, pub, probe, sig); err != nil {
		return nil, fmt.Errorf("cfsign: key %s: probe signature does not verify with the public key (%s)", id, alg)
	}
	return k, nil
}

// InMemory reports whether the key signs in this process (an *rsa.PrivateKey
// or *ecdsa.PrivateKey), so that a signature costs CPU time and nothing else:
// no call, no charge, no quota, as a KMS signature would.
func (k *Key) InMemory() bool { return k != nil && knownSoftwareKey(k.signer) }

// knownSoftwareKey reports whether signer is an in-memory key of Go's own
// whose halves consistent checks.
func knownSoftwareKey(signer crypto.Signer) bool {
	switch signer.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return true
	}
	return false
}

// consistent checks that an in-memory key's private half belongs to its
// public half; other signers pass (NewKey probes them).
func consistent(signer crypto.Signer) error {
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		if err := k.Validate(); err != nil {
			return fmt.Errorf("RSA private key is inconsistent: %w", err)
		}
	case *ecdsa.PrivateKey:
		// ParseRawPrivateKey recomputes the public point from the scalar.
		raw, err := k.Bytes()
		if err != nil {
			return fmt.Errorf("ECDSA private key: %w", err)
		}
		again, err := ecdsa.ParseRawPrivateKey(k.Curve, raw)
		if err != nil {
			return fmt.Errorf("ECDSA private key: %w", err)
		}
		if !again.PublicKey.Equal(&k.PublicKey) {
			return errors.New("ECDSA public key does not belong to the private scalar")
		}
	}
	return nil
}

// NewExternalKey is NewKey for a signer whose private key lives elsewhere
// and whose public key the caller may not read: a KMS key that the login
// function may only sign with (kms:Sign, never kms:GetPublicKey). ref names
// that key uniquely and for good (the KMS key ARN or id); the signature cache
// is keyed by it instead of by the public key, so a rotated key that reuses
// an id still never gets a stale signature. alg must be a SHA-256 algorithm
// (KMS does not sign SHA-1). Nothing is signed here: the signer is first
// called when a request needs a signature. Whoever creates such a key checks
// that it matches the public key in the key group (keys, the rotation
// function); the signer's Public may return nil.
func NewExternalKey(id string, alg Algorithm, signer crypto.Signer, ref string) (*Key, error) {
	if err := validateKeyID(id); err != nil {
		return nil, err
	}
	if !alg.valid() {
		return nil, fmt.Errorf("cfsign: key %s: unknown algorithm", id)
	}
	if alg.hash() != crypto.SHA256 {
		return nil, fmt.Errorf("cfsign: key %s: an external signer needs a SHA-256 algorithm (%s or %s), not %s", id, RSASHA256, ECDSASHA256, alg)
	}
	if signer == nil {
		return nil, fmt.Errorf("cfsign: key %s: nil signer", id)
	}
	if ref == "" {
		return nil, fmt.Errorf("cfsign: key %s: empty external key reference", id)
	}
	fp := sha256.Sum256([]byte("cfgate external key\x00" + ref))
	return &Key{ID: id, Algorithm: alg, Signer: signer, id: id, alg: alg, signer: signer, fp: fp}, nil
}

func validateKeyID(id string) error {
	if id == "" {
		return errors.New("cfsign: empty key pair id")
	}
	if len(id) > maxKeyID {
		return fmt.Errorf("cfsign: key pair id longer than %d characters", maxKeyID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			// The id is not echoed: a malformed id may be something pasted by mistake.
			return errors.New("cfsign: key pair id must be ASCII letters and digits")
		}
	}
	return nil
}

func checkPublicKey(alg Algorithm, pub crypto.PublicKey) error {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if !alg.isRSA() {
			return fmt.Errorf("algorithm %s needs an ECDSA P-256 key, got an RSA key", alg)
		}
		if n := p.N.BitLen(); n < minRSABits || n > maxRSABits {
			return fmt.Errorf("RSA key has %d bits, want %d to %d", n, minRSABits, maxRSABits)
		}
	case *ecdsa.PublicKey:
		if alg != ECDSASHA256 {
			return fmt.Errorf("algorithm %s needs an RSA key, got an ECDSA key", alg)
		}
		if p.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA key on curve %s, want P-256", p.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", pub)
	}
	return nil
}

// Verify checks a CloudFront signature sig over msg (a policy) made with
// alg: RSA PKCS #1 v1.5 or ECDSA (ASN.1) over the SHA-1 or SHA-256 digest.
// It is the one signature check of cfgate's signing side (NewKey's probe,
// the keys CLI's check of an uploaded public key).
func Verify(alg Algorithm, pub crypto.PublicKey, msg, sig []byte) error {
	d := digest(alg, msg)
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(p, alg.hash(), d, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, d, sig) {
			return errors.New("ecdsa: verification error")
		}
		return nil
	}
	return errors.New("unsupported public key")
}

func digest(alg Algorithm, msg []byte) []byte {
	if alg.hash() == crypto.SHA1 {
		h := sha1.Sum(msg)
		return h[:]
	}
	h := sha256.Sum256(msg)
	return h[:]
}

// SignPolicy returns the raw signature of policy: RSA PKCS#1 v1.5 over SHA-1
// (RSA-SHA1, the same computation feature/cloudfront/sign performs) or SHA-256
// (RSA-SHA256), or an ASN.1 DER ECDSA signature over SHA-256 (ECDSA-SHA256).
// The caller encodes it with Encode.
func (k *Key) SignPolicy(policy []byte) ([]byte, error) {
	if k == nil || k.signer == nil {
		return nil, errors.New("cfsign: key not made by NewKey")
	}
	sig, err := k.signer.Sign(rand.Reader, digest(k.alg, policy), k.alg.hash())
	if err != nil {
		return nil, fmt.Errorf("cfsign: sign with key %s: %w", k.id, err)
	}
	return sig, nil
}

// GenerateKey returns a new private key for alg: RSA-2048 for RSA-SHA1 and
// RSA-SHA256, ECDSA P-256 for ECDSA-SHA256.
func GenerateKey(alg Algorithm) (crypto.Signer, error) {
	switch alg {
	case RSASHA1, RSASHA256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("cfsign: generate RSA key: %w", err)
		}
		return k, nil
	case ECDSASHA256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("cfsign: generate ECDSA key: %w", err)
		}
		return k, nil
	}
	return nil, errors.New("cfsign: GenerateKey: unknown algorithm")
}

// ParsePrivateKeyPEM parses the first private key in pemBytes: PKCS#1
// ("RSA PRIVATE KEY"), PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"; an
// "EC PARAMETERS" block before it, as openssl writes, is skipped). Only RSA and
// ECDSA keys are returned; encrypted PEM is rejected. Errors never contain key
// material.
func ParsePrivateKeyPEM(pemBytes []byte) (crypto.Signer, error) {
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("cfsign: no PEM private key found")
		}
		if block.Type == "EC PARAMETERS" {
			continue
		}
		if _, ok := block.Headers["Proc-Type"]; ok {
			return nil, errors.New("cfsign: encrypted PEM private keys are not supported")
		}
		if len(block.Bytes) > maxKeyDER {
			// Bounds the work: a 4096-bit RSA key is about 2.4 KB of DER.
			return nil, fmt.Errorf("cfsign: PEM block larger than %d bytes", maxKeyDER)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("cfsign: encrypted PEM private keys are not supported")
		default:
			return nil, fmt.Errorf("cfsign: PEM block %q is not a private key (want RSA PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY)", truncate(block.Type, 40))
		}
		if err != nil {
			// The parser's error is dropped on purpose: ASN.1 errors can quote bytes.
			return nil, fmt.Errorf("cfsign: malformed %s PEM block", block.Type)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("cfsign: unsupported private key type %T (want RSA or ECDSA)", key)
	}
}

// MarshalPrivateKeyPEM returns k as a PKCS#8 "PRIVATE KEY" PEM block. k must be
// an in-memory key (*rsa.PrivateKey or *ecdsa.PrivateKey).
func MarshalPrivateKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("cfsign: marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKeyPEM returns pub as a PKIX "PUBLIC KEY" PEM block, the format
// CloudFront's CreatePublicKey takes as EncodedKey.
func MarshalPublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("cfsign: marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
