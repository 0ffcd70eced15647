package originverify

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/smsecret"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

func TestStatic(t *testing.T) {
	s := Static{"first-value-0123456789", ""}
	for v, want := range map[string]bool{"first-value-0123456789": true, "": false, "first-value": false, "x": false} {
		if ok, err := s.Verify(t.Context(), v); ok != want || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want %v", v, ok, err, want)
		}
	}
}

// TestRotationAgainstMoto walks the documented rotation on a real Secrets
// Manager API (moto_server): the old value stays accepted throughout, the new
// one from the first refresh after it was put.
func TestRotationAgainstMoto(t *testing.T) {
	srv := motoserver.Shared(t)
	cfg := srv.Config(t)
	sm := secretsmanager.NewFromConfig(cfg) // writes the secret; the verifier reads it as the login function does
	ctx := context.Background()
	name := motoserver.Unique(t, "cfgate-origin")
	const v1, v2, v3 = "origin-value-one-0123456789", "origin-value-two-0123456789", "origin-value-three-012345678"
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(v1)}); err != nil {
		t.Fatal(err)
	}
	clock := fakeclock.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	logs := &syncbuf.Buffer{}
	v := NewSecretsManager(smsecret.New(cfg, ""), name, time.Minute, slogTo(logs), clock.Now)
	check := func(step, value string, want bool) {
		t.Helper()
		ok, err := v.Verify(ctx, value)
		if err != nil || ok != want {
			t.Fatalf("%s: Verify(%.16s…) = %v, %v; want %v", step, value, ok, err, want)
		}
	}
	if err := v.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	check("initial", v1, true)
	check("initial", v2, false)

	// 1. Put the new value: the cache still holds only v1.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	check("before the refresh", v1, true)
	check("before the refresh", v2, false)
	// 2. After the TTL both are accepted (CloudFront may send either while
	// its configuration propagates).
	clock.Add(time.Minute)
	check("after the refresh", v1, true)
	check("after the refresh", v2, true)
	// A further rotation drops the oldest.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(v3)}); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	check("second rotation", v1, false)
	check("second rotation", v2, true)
	check("second rotation", v3, true)
	for _, secret := range []string{v1, v2, v3} {
		if bytesContains(logs.String(), secret) {
			t.Fatal("a secret value was logged")
		}
	}
}

// TestUnavailable: without a readable secret nothing is accepted (fail
// closed with an error); cached values survive a refresh failure for
// StaleFactor TTLs only.
func TestUnavailable(t *testing.T) {
	fake := &flakySM{value: "cached-value-0123456789"}
	clock := fakeclock.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	v := NewSecretsManager(fake, "s", time.Minute, nil, clock.Now)
	if ok, err := v.Verify(t.Context(), "cached-value-0123456789"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	fake.down = true
	clock.Add(time.Minute)
	if ok, err := v.Verify(t.Context(), "cached-value-0123456789"); !ok || err != nil {
		t.Fatalf("stale Verify = %v, %v; want the cached value accepted", ok, err)
	}
	clock.Add(StaleFactor * time.Minute)
	if ok, err := v.Verify(t.Context(), "cached-value-0123456789"); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Verify past the stale bound = %v, %v; want ErrUnavailable", ok, err)
	}
	short := NewSecretsManager(&flakySM{value: "short"}, "s", 0, nil, nil)
	if _, err := short.Verify(t.Context(), "short"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a value under MinValueLen: %v, want ErrUnavailable", err)
	}
}
