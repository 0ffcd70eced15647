package kmssign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/kmssign"
	"github.com/cfgate/cfgate/internal/testutil/kmsproxy"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// setup makes an ECDSA P-256 signing key in the extended moto server's KMS
// (the launcher's Sign-DIGEST patch) and returns its ARN and public key.
func setup(t *testing.T) (*motoserver.Server, string, *ecdsa.PublicKey) {
	t.Helper()
	needs.Tool(t, "moto_server")
	srv := cfmoto.Shared(t)
	c := kms.NewFromConfig(srv.Config(t))
	out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := c.GetPublicKey(context.Background(), &kms.GetPublicKeyInput{KeyId: out.KeyMetadata.Arn})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return srv, aws.ToString(out.KeyMetadata.Arn), pub.(*ecdsa.PublicKey)
}

func TestSignDigest(t *testing.T) {
	srv, arn, pub := setup(t)
	c := kmssign.New(srv.Config(t), "")
	d := sha256.Sum256([]byte("policy"))
	sig, err := c.SignDigest(context.Background(), arn, "ECDSA_SHA_256", d[:])
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub, d[:], sig) {
		t.Error("the signature does not verify with the key's public key")
	}
	// The endpoint argument wins over the configuration's.
	c = kmssign.New((&motoserver.Server{Endpoint: "http://127.0.0.1:1"}).Config(t), srv.Endpoint)
	if _, err := c.SignDigest(context.Background(), arn, "ECDSA_SHA_256", d[:]); err != nil {
		t.Errorf("with AWS_ENDPOINT_URL_KMS's endpoint: %v", err)
	}
}

func TestSignDigestErrors(t *testing.T) {
	srv, arn, _ := setup(t)
	c := kmssign.New(srv.Config(t), "")
	d := sha256.Sum256([]byte("policy"))
	var kerr *kmssign.Error

	_, err := c.SignDigest(context.Background(), arn, "ECDSA_SHA_256", d[:20])
	if !errors.As(err, &kerr) || kerr.Code != "ValidationException" {
		t.Errorf("short digest: %v, want ValidationException", err)
	}
	_, err = c.SignDigest(context.Background(), "alias/cfgate-no-such-key", "ECDSA_SHA_256", d[:])
	if !errors.As(err, &kerr) || kerr.Code != "NotFoundException" {
		t.Errorf("unknown key: %v, want NotFoundException", err)
	}
	if _, err := kms.NewFromConfig(srv.Config(t)).ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.SignDigest(context.Background(), arn, "ECDSA_SHA_256", d[:])
	if !errors.As(err, &kerr) || kerr.Code != "KMSInvalidStateException" {
		t.Errorf("key pending deletion: %v, want KMSInvalidStateException", err)
	}
	if _, err := c.SignDigest(context.Background(), "", "ECDSA_SHA_256", d[:]); err == nil {
		t.Error("an empty key id was sent")
	}
}

// TestSignDigestRetriesThrottling: a throttled Sign is tried three times in
// all, then fails with KMS's code; a cancelled context stops the retries.
func TestSignDigestRetriesThrottling(t *testing.T) {
	srv, arn, _ := setup(t)
	proxy, err := kmsproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetThrottle(true)
	c := kmssign.New(srv.Config(t), proxy.URL)
	d := sha256.Sum256([]byte("policy"))
	_, err = c.SignDigest(context.Background(), arn, "ECDSA_SHA_256", d[:])
	var kerr *kmssign.Error
	if !errors.As(err, &kerr) || kerr.Code != "ThrottlingException" {
		t.Fatalf("throttled: %v, want ThrottlingException", err)
	}
	if n := proxy.Signs(); n != 3 {
		t.Errorf("throttled Sign tried %d times, want 3", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SignDigest(ctx, arn, "ECDSA_SHA_256", d[:]); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	proxy.SetThrottle(false)
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := c.SignDigest(ctx, arn, "ECDSA_SHA_256", d[:]); err != nil {
		t.Errorf("after the throttling: %v", err)
	}
}
