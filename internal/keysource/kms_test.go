package keysource

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/kmssign"
	"github.com/cfgate/cfgate/internal/smsecret"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// countingKMS wraps the login function's KMS client (internal/kmssign)
// pointed at the extended moto server and counts Sign calls (a wrapper, not
// a fake: every call reaches the server). Client is the SDK's client, for
// setting keys up.
type countingKMS struct {
	*kms.Client
	signer *kmssign.Client
	signs  atomic.Int64
}

func (c *countingKMS) SignDigest(ctx context.Context, keyID, alg string, digest []byte) ([]byte, error) {
	c.signs.Add(1)
	return c.signer.SignDigest(ctx, keyID, alg, digest)
}

// kmsEnv is env on the extended moto server (moto's KMS signs DIGEST
// messages there; see internal/keyops/cfmoto).
func kmsEnv(t *testing.T) (*env, *countingKMS) {
	t.Helper()
	needs.Tool(t, "moto_server")
	cfg := cfmoto.Shared(t).Config(t)
	var buf bytes.Buffer
	e := &env{sm: secretsmanager.NewFromConfig(cfg), client: &counting{GetSecretValueAPI: smsecret.New(cfg, "")}, clock: newClock(), logs: &buf,
		logger: slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, nil))}
	return e, &countingKMS{Client: kms.NewFromConfig(cfg), signer: kmssign.New(cfg, "")}
}

func createKMSKey(t *testing.T, c *kms.Client, spec kmstypes.KeySpec) (arn string, pub crypto.PublicKey) {
	t.Helper()
	return createKMSKeyTB(t, c, spec)
}

func createKMSKeyTB(t testing.TB, c *kms.Client, spec kmstypes.KeySpec) (arn string, pub crypto.PublicKey) {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	arn = aws.ToString(out.KeyMetadata.Arn)
	pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetPublicKey: %v", err)
	}
	if pub, err = x509.ParsePKIXPublicKey(pk.PublicKey); err != nil {
		t.Fatal(err)
	}
	return arn, pub
}

func kmsSecretJSON(t *testing.T, id, arn string, alg cfsign.Algorithm) string {
	t.Helper()
	b, err := json.Marshal(cfsign.Secret{KeyPairID: id, KMSKeyID: arn, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecretsManagerKMSKey(t *testing.T) {
	for _, tt := range []struct {
		spec kmstypes.KeySpec
		alg  cfsign.Algorithm
	}{
		{kmstypes.KeySpecEccNistP256, cfsign.ECDSASHA256},
		{kmstypes.KeySpecRsa2048, cfsign.RSASHA256},
	} {
		t.Run(string(tt.spec), func(t *testing.T) {
			e, kc := kmsEnv(t)
			arn, pub := createKMSKey(t, kc.Client, tt.spec)
			name := e.createSecret(t, kmsSecretJSON(t, "K2JCJMDEHXQW5F", arn, tt.alg))
			p := e.provider(name, 0).WithKMS(kc, 0)

			k := mustKey(t, p, "K2JCJMDEHXQW5F")
			if n := kc.signs.Load(); n != 0 {
				t.Fatalf("loading the key made %d kms:Sign calls; want none until a signature is needed", n)
			}
			if k.Algorithm != tt.alg {
				t.Errorf("algorithm %s, want %s", k.Algorithm, tt.alg)
			}
			ks, ok := k.Signer.(*KMSSigner)
			if !ok || ks.KeyID() != arn || ks.Public() != nil {
				t.Fatalf("signer %T, want a *KMSSigner for %s without a public key", k.Signer, arn)
			}
			policy := []byte(`{"Statement":[]}`)
			sig, err := k.SignPolicy(policy)
			if err != nil {
				t.Fatal(err)
			}
			d := sha256.Sum256(policy)
			switch p := pub.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(p, d[:], sig) {
					t.Error("KMS ECDSA signature does not verify with KMS's public key")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, d[:], sig); err != nil {
					t.Errorf("KMS RSA signature does not verify with KMS's public key: %v", err)
				}
			}
			if n := kc.signs.Load(); n != 1 || ks.Calls() != 1 {
				t.Errorf("kms:Sign calls = %d (signer counted %d), want 1", n, ks.Calls())
			}
			if strings.Contains(e.logs.String(), "PRIVATE KEY") || !strings.Contains(e.logs.String(), arn) {
				t.Errorf("log should name the KMS key and hold no key material: %s", e.logs.String())
			}
		})
	}
}

func TestSecretsManagerKMSSignFailsClosed(t *testing.T) {
	e, kc := kmsEnv(t)
	arn, _ := createKMSKey(t, kc.Client, kmstypes.KeySpecEccNistP256)
	name := e.createSecret(t, kmsSecretJSON(t, "K1", arn, cfsign.ECDSASHA256))
	k := mustKey(t, e.provider(name, 0).WithKMS(kc, 0), "K1")
	if _, err := kc.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	_, err := k.SignPolicy([]byte("policy"))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "KMSInvalidStateException") {
		t.Fatalf("signing with a key pending deletion: %v, want ErrUnavailable with KMS's reason", err)
	}
}

func TestSecretsManagerKMSWithoutClient(t *testing.T) {
	e, kc := kmsEnv(t)
	arn, _ := createKMSKey(t, kc.Client, kmstypes.KeySpecEccNistP256)
	name := e.createSecret(t, kmsSecretJSON(t, "K1", arn, cfsign.ECDSASHA256))
	_, err := e.provider(name, 0).Key(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no KMS client") {
		t.Fatalf("KMS secret without a KMS client: %v", err)
	}
}

func TestKMSSignerRejectsWrongInput(t *testing.T) {
	if _, err := NewKMSSigner(&countingKMS{}, "k", cfsign.RSASHA1, nil, 0); err == nil {
		t.Error("RSA-SHA1 accepted for a KMS key")
	}
	s, err := NewKMSSigner(&countingKMS{}, "k", cfsign.ECDSASHA256, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(nil, make([]byte, 20), crypto.SHA1); err == nil {
		t.Error("a SHA-1 digest was accepted")
	}
	if _, err := s.Sign(nil, make([]byte, 31), crypto.SHA256); err == nil {
		t.Error("a short digest was accepted")
	}
	if s.Calls() != 0 {
		t.Error("rejected input reached KMS")
	}
}
