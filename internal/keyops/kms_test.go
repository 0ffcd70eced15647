package keyops_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// kmsFixture is the AWS backend on the extended moto server with its KMS
// (moto's KMS plus the launcher's Sign-DIGEST patch).
type kmsFixture struct {
	fixture
	kms *kms.Client
	sm  *secretsmanager.Client
	id  string // secret name
}

func newKMSFixture(t *testing.T, alg cfsign.Algorithm) kmsFixture {
	t.Helper()
	needs.Tool(t, "moto_server")
	cfg := cfmoto.Shared(t).Config(t)
	name := motoserver.Unique(t, "cfgate-key")
	b := keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{
		SecretID: name, GroupName: motoserver.Unique(t, "cfgate-group"),
	})
	c := fakeclock.New(time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
	kc := kms.NewFromConfig(cfg)
	ops := &keyops.Ops{B: b, KMS: kc, UseKMS: true, Algorithm: alg, Grace: grace, Propagation: propagation, Now: c.Now, Sleep: c.Sleep, Name: "cfgate-test"}
	return kmsFixture{fixture: fixture{b: b, ops: ops, clock: c}, kms: kc, sm: secretsmanager.NewFromConfig(cfg), id: name}
}

func (f kmsFixture) secret(t *testing.T, stage keyops.Stage) cfsign.Secret {
	t.Helper()
	v, err := f.b.Secret(context.Background(), stage)
	if err != nil {
		t.Fatalf("secret %s: %v", stage, err)
	}
	return v.Secret
}

func (f kmsFixture) keyState(t *testing.T, keyID string) kmstypes.KeyState {
	t.Helper()
	d, err := f.kms.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", keyID, err)
	}
	return d.KeyMetadata.KeyState
}

// noPrivateKey checks every secret version's raw value.
func (f kmsFixture) noPrivateKey(t *testing.T) {
	t.Helper()
	for _, stage := range []keyops.Stage{keyops.Current, keyops.Pending, keyops.Previous} {
		out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(f.id), VersionStage: aws.String(string(stage))})
		if err != nil {
			continue
		}
		v := aws.ToString(out.SecretString)
		if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "privateKey") || !strings.Contains(v, `"kmsKeyId"`) {
			t.Errorf("secret %s is not the KMS form without a private key: %s", stage, v)
		}
	}
}

func TestInitKMS(t *testing.T) {
	for _, tt := range []struct {
		name string
		alg  cfsign.Algorithm
		want cfsign.Algorithm
		spec kmstypes.KeySpec
	}{
		{"default ecdsa-p256", "", cfsign.ECDSASHA256, kmstypes.KeySpecEccNistP256},
		{"rsa-2048", cfsign.RSASHA1, cfsign.RSASHA256, kmstypes.KeySpecRsa2048},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newKMSFixture(t, tt.alg)
			ctx := context.Background()
			r := must[keyops.Result](t, "init --kms")(f.ops.Init(ctx, nil))
			if !r.Changed || r.KeyGroupID == "" || r.SigningKeyID == "" {
				t.Fatalf("init = %+v", r)
			}
			s := f.secret(t, keyops.Current)
			if !s.IsKMS() || s.PrivateKey != "" || s.Algorithm != tt.want || s.KeyPairID != r.SigningKeyID {
				t.Fatalf("secret = %+v, want a KMS %s key named %s", s, tt.want, r.SigningKeyID)
			}
			f.noPrivateKey(t)
			for _, n := range r.Notes {
				if strings.Contains(n, "PRIVATE KEY") {
					t.Errorf("note leaks a key: %s", n)
				}
			}

			// CloudFront's public key is KMS's public key.
			pk := must[*keyops.PublicKey](t, "CloudFront public key")(f.b.PublicKey(ctx, s.KeyPairID))
			block, _ := pem.Decode(pk.PEM)
			if block == nil {
				t.Fatal("CloudFront's public key is not PEM")
			}
			kp, err := f.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.KMSKeyID)})
			if err != nil {
				t.Fatal(err)
			}
			if string(block.Bytes) != string(kp.PublicKey) {
				t.Error("the public key registered with CloudFront differs from KMS's public key")
			}
			if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				t.Error(err)
			}
			d, err := f.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(s.KMSKeyID)})
			if err != nil {
				t.Fatal(err)
			}
			if d.KeyMetadata.KeySpec != tt.spec || d.KeyMetadata.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
				t.Errorf("KMS key %s %s, want %s SIGN_VERIFY", d.KeyMetadata.KeySpec, d.KeyMetadata.KeyUsage, tt.spec)
			}

			// Alias and tags: the login function's kms:Sign is scoped by the key group tag.
			tags, err := f.kms.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(s.KMSKeyID)})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, tg := range tags.Tags {
				got[aws.ToString(tg.TagKey)] = aws.ToString(tg.TagValue)
			}
			if got[keyops.TagKMSKeyGroup] != r.KeyGroupID || got[keyops.TagKMSSigningKey] != "cfgate-test" {
				t.Errorf("KMS key tags %v, want %s=%s and %s=cfgate-test", got, keyops.TagKMSKeyGroup, r.KeyGroupID, keyops.TagKMSSigningKey)
			}
			aliases, err := f.kms.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(s.KMSKeyID)})
			if err != nil {
				t.Fatal(err)
			}
			if len(aliases.Aliases) != 1 || !strings.HasPrefix(aws.ToString(aliases.Aliases[0].AliasName), "alias/cfgate-test/") {
				t.Errorf("aliases %+v, want one under alias/cfgate-test/", aliases.Aliases)
			}

			// Idempotent.
			r2 := must[keyops.Result](t, "init --kms again")(f.ops.Init(ctx, nil))
			if r2.Changed || r2.SigningKeyID != r.SigningKeyID || f.secret(t, keyops.Current).KMSKeyID != s.KMSKeyID {
				t.Errorf("second init = %+v, want unchanged", r2)
			}
			if _, err := f.ops.Init(ctx, func([]byte) error { return nil }); err == nil {
				t.Error("init --out of a KMS key succeeded")
			}

			st := must[keyops.Status](t, "status")(f.ops.Status(ctx))
			if len(st.Keys) != 1 || st.Keys[0].KMSKeyID != s.KMSKeyID || st.Keys[0].KMSKeyState != "Enabled" {
				t.Errorf("status keys = %+v, want the KMS key, Enabled", st.Keys)
			}
		})
	}
}

func TestRotationKMS(t *testing.T) {
	f := newKMSFixture(t, "")
	ctx := context.Background()
	r := must[keyops.Result](t, "init")(f.ops.Init(ctx, nil))
	old := f.secret(t, keyops.Current)
	f.ops.UseKMS = false // a KMS key is replaced by a KMS key without asking

	f.clock.Add(time.Hour)
	r = must[keyops.Result](t, "start")(f.ops.Start(ctx))
	pending := f.secret(t, keyops.Pending)
	if !pending.IsKMS() || pending.KMSKeyID == old.KMSKeyID || pending.Algorithm != cfsign.ECDSASHA256 || pending.KeyPairID != r.PendingKeyID {
		t.Fatalf("pending = %+v, want a new KMS ECDSA key", pending)
	}
	f.clock.Add(propagation)
	must[keyops.Result](t, "promote")(f.ops.Promote(ctx, false)) // checkPair signs through KMS
	if got := f.secret(t, keyops.Current).KMSKeyID; got != pending.KMSKeyID {
		t.Fatalf("current after promote = %s", got)
	}
	if _, err := f.ops.Finish(ctx, false); !errors.Is(err, keyops.ErrTooEarly) {
		t.Fatalf("finish before grace: %v", err)
	}
	if s := f.keyState(t, old.KMSKeyID); s != kmstypes.KeyStateEnabled {
		t.Errorf("old KMS key is %s before finish, want Enabled", s)
	}
	f.clock.Add(grace)
	r = must[keyops.Result](t, "finish")(f.ops.Finish(ctx, false))
	if !slices.Equal(r.RemovedKeyIDs, []string{old.KeyPairID}) {
		t.Errorf("finish removed %v, want %s", r.RemovedKeyIDs, old.KeyPairID)
	}
	if got := groupKeys(t, f.b); !slices.Equal(got, []string{pending.KeyPairID}) {
		t.Errorf("group after finish = %v", got)
	}
	d, err := f.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(old.KMSKeyID)})
	if err != nil {
		t.Fatal(err)
	}
	if d.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion || d.KeyMetadata.DeletionDate == nil ||
		d.KeyMetadata.DeletionDate.Before(time.Now().Add(29*24*time.Hour)) {
		t.Errorf("old KMS key %s deletion %v, want pending deletion in 30 days", d.KeyMetadata.KeyState, d.KeyMetadata.DeletionDate)
	}
	if s := f.keyState(t, pending.KMSKeyID); s != kmstypes.KeyStateEnabled {
		t.Errorf("new KMS key is %s", s)
	}
	// Finish again is a no-op and does not fail on the key already pending deletion.
	must[keyops.Result](t, "finish again")(f.ops.Finish(ctx, false))
	f.noPrivateKey(t)
}

func TestAbortKMSSchedulesDeletion(t *testing.T) {
	f := newKMSFixture(t, "")
	ctx := context.Background()
	must[keyops.Result](t, "init")(f.ops.Init(ctx, nil))
	cur := f.secret(t, keyops.Current)
	must[keyops.Result](t, "start")(f.ops.Start(ctx))
	pending := f.secret(t, keyops.Pending)
	must[keyops.Result](t, "abort")(f.ops.Abort(ctx))
	if s := f.keyState(t, pending.KMSKeyID); s != kmstypes.KeyStatePendingDeletion {
		t.Errorf("aborted KMS key is %s, want PendingDeletion", s)
	}
	if s := f.keyState(t, cur.KMSKeyID); s != kmstypes.KeyStateEnabled {
		t.Errorf("signing KMS key is %s, want Enabled", s)
	}
	if got := groupKeys(t, f.b); !slices.Equal(got, []string{cur.KeyPairID}) {
		t.Errorf("group after abort = %v", got)
	}
}

func TestRollbackKMS(t *testing.T) {
	f := newKMSFixture(t, cfsign.RSASHA256)
	ctx := context.Background()
	must[keyops.Result](t, "init")(f.ops.Init(ctx, nil))
	old := f.secret(t, keyops.Current)
	must[keyops.Result](t, "start")(f.ops.Start(ctx))
	newKey := f.secret(t, keyops.Pending)
	f.clock.Add(propagation)
	must[keyops.Result](t, "promote")(f.ops.Promote(ctx, false))
	must[keyops.Result](t, "rollback")(f.ops.Rollback(ctx))
	if got := f.secret(t, keyops.Current).KMSKeyID; got != old.KMSKeyID {
		t.Fatalf("after rollback %s signs, want %s", got, old.KMSKeyID)
	}
	f.clock.Add(grace)
	must[keyops.Result](t, "finish")(f.ops.Finish(ctx, false))
	if s := f.keyState(t, newKey.KMSKeyID); s != kmstypes.KeyStatePendingDeletion {
		t.Errorf("rolled-back KMS key is %s, want PendingDeletion", s)
	}
	if s := f.keyState(t, old.KMSKeyID); s != kmstypes.KeyStateEnabled {
		t.Errorf("signing KMS key is %s, want Enabled", s)
	}
}

// TestMigrateToKMS moves a deployment from a key held in the secret to a
// KMS key with an ordinary rotation (start --kms, promote, finish).
func TestMigrateToKMS(t *testing.T) {
	f := newKMSFixture(t, "")
	ctx := context.Background()
	f.ops.UseKMS = false
	f.ops.Algorithm = cfsign.RSASHA1
	must[keyops.Result](t, "init")(f.ops.Init(ctx, nil))
	old := f.secret(t, keyops.Current)
	if old.IsKMS() || old.PrivateKey == "" {
		t.Fatalf("init without --kms: %+v", old.KeyPairID)
	}
	f.ops.UseKMS, f.ops.Algorithm = true, ""
	must[keyops.Result](t, "start --kms")(f.ops.Start(ctx))
	pending := f.secret(t, keyops.Pending)
	if !pending.IsKMS() || pending.Algorithm != cfsign.ECDSASHA256 {
		t.Fatalf("pending after start --kms = %+v", pending)
	}
	f.clock.Add(propagation)
	must[keyops.Result](t, "promote")(f.ops.Promote(ctx, false))
	f.clock.Add(grace)
	r := must[keyops.Result](t, "finish")(f.ops.Finish(ctx, false))
	if !slices.Equal(r.RemovedKeyIDs, []string{old.KeyPairID}) {
		t.Errorf("finish removed %v", r.RemovedKeyIDs)
	}
	cur := f.secret(t, keyops.Current)
	if cur.KMSKeyID != pending.KMSKeyID || cur.PrivateKey != "" {
		t.Errorf("after the migration the secret is %+v", cur.KeyPairID)
	}
	// The next rotation stays in KMS without --kms.
	f.ops.UseKMS = false
	must[keyops.Result](t, "start")(f.ops.Start(ctx))
	if !f.secret(t, keyops.Pending).IsKMS() {
		t.Error("a rotation of a KMS key made a key held in the secret")
	}
}
