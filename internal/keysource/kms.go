package keysource

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// KMSSignAPI is the one KMS call the login function makes: kms:Sign of a
// digest (MessageType DIGEST) with a signing algorithm such as
// ECDSA_SHA_256. internal/kmssign implements it without the generated SDK
// client (the login function's size); keyops adapts *kms.Client to it. See
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html.
type KMSSignAPI interface {
	SignDigest(ctx context.Context, keyID, signingAlgorithm string, digest []byte) ([]byte, error)
}

// DefaultKMSSignTimeout bounds one Sign call including its retries:
// a viewer's /access waits at most this long for a signature before it gets
// 503 with Retry-After.
const DefaultKMSSignTimeout = 2 * time.Second

// KMSSigner is a crypto.Signer whose private key never leaves AWS KMS: Sign
// sends the SHA-256 digest (MessageType DIGEST) to kms:Sign with
// ECDSA_SHA_256 or RSASSA_PKCS1_V1_5_SHA_256. Errors wrap ErrUnavailable (the
// handler answers 503 with Retry-After). Public returns the public key given
// to NewKMSSigner, which is nil in the login function: it may not call
// kms:GetPublicKey, and needs no public key to sign.
type KMSSigner struct {
	client  KMSSignAPI
	keyID   string
	alg     string
	pub     crypto.PublicKey
	timeout time.Duration
	calls   atomic.Uint64
}

// NewKMSSigner returns a signer for the KMS key keyID (id, ARN or alias)
// with alg (RSA-SHA256 or ECDSA-SHA256). pub may be nil; timeout ≤ 0 means
// DefaultKMSSignTimeout.
func NewKMSSigner(client KMSSignAPI, keyID string, alg cfsign.Algorithm, pub crypto.PublicKey, timeout time.Duration) (*KMSSigner, error) {
	spec := cfsign.KMSSigningAlgorithm(alg)
	if spec == "" {
		return nil, fmt.Errorf("KMS key %s: KMS signs %s or %s, not %s", keyID, cfsign.RSASHA256, cfsign.ECDSASHA256, alg)
	}
	if client == nil {
		return nil, fmt.Errorf("KMS key %s: no KMS client", keyID)
	}
	if keyID == "" {
		return nil, errors.New("empty KMS key id")
	}
	if timeout <= 0 {
		timeout = DefaultKMSSignTimeout
	}
	return &KMSSigner{client: client, keyID: keyID, alg: spec, pub: pub, timeout: timeout}, nil
}

// Public returns the public key given to NewKMSSigner (possibly nil).
func (s *KMSSigner) Public() crypto.PublicKey { return s.pub }

// KeyID returns the KMS key this signer uses.
func (s *KMSSigner) KeyID() string { return s.keyID }

// Calls returns how many kms:Sign calls this signer has made.
func (s *KMSSigner) Calls() uint64 { return s.calls.Load() }

// Sign implements crypto.Signer: digest must be a SHA-256 digest and opts
// crypto.SHA256. rand is unused (KMS makes the randomness).
func (s *KMSSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("KMS key %s signs SHA-256 digests only", s.keyID)
	}
	if len(digest) != crypto.SHA256.Size() {
		return nil, fmt.Errorf("KMS key %s: digest has %d bytes, want %d", s.keyID, len(digest), crypto.SHA256.Size())
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.calls.Add(1)
	sig, err := s.client.SignDigest(ctx, s.keyID, s.alg, digest)
	if err != nil {
		return nil, fmt.Errorf("kms:Sign with %s: %w: %w", s.keyID, ErrUnavailable, err)
	}
	if len(sig) == 0 {
		return nil, fmt.Errorf("kms:Sign with %s: %w: empty signature", s.keyID, ErrUnavailable)
	}
	return sig, nil
}

// KMSKey returns the cfsign.Key of a secret that names a KMS key: no KMS
// call is made until the first signature is needed.
func KMSKey(client KMSSignAPI, s cfsign.Secret, timeout time.Duration) (*cfsign.Key, error) {
	alg, err := cfsign.ParseAlgorithm(string(s.Algorithm))
	if err != nil {
		return nil, err
	}
	signer, err := NewKMSSigner(client, s.KMSKeyID, alg, nil, timeout)
	if err != nil {
		return nil, err
	}
	return cfsign.NewExternalKey(s.KeyPairID, alg, signer, s.KMSKeyID)
}
