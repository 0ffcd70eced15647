package cfmoto_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

func publicPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprint(err)
}

// TestKeyGroupSemantics checks the extension against CloudFront's documented
// behaviour, through the Go SDK the keys CLI uses.
func TestKeyGroupSemantics(t *testing.T) {
	ctx := context.Background()
	cf := cloudfront.NewFromConfig(cfmoto.Shared(t).Config(t))
	var ids []string
	for i := range 6 {
		out, err := cf.CreatePublicKey(ctx, &cloudfront.CreatePublicKeyInput{PublicKeyConfig: &cftypes.PublicKeyConfig{
			CallerReference: aws.String(motoserver.Unique(t, "ref")), Name: aws.String(fmt.Sprintf("%s-%d", motoserver.Unique(t, "k"), i)), EncodedKey: aws.String(publicPEM(t)),
		}})
		if err != nil {
			t.Fatalf("CreatePublicKey: %v", err)
		}
		ids = append(ids, aws.ToString(out.PublicKey.Id))
	}
	name := motoserver.Unique(t, "group")
	created, err := cf.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: ids[:1]}})
	if err != nil {
		t.Fatalf("CreateKeyGroup: %v", err)
	}
	gid, etag0 := created.KeyGroup.Id, aws.ToString(created.ETag)
	update := func(ifMatch *string, items []string) (*cloudfront.UpdateKeyGroupOutput, error) {
		return cf.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{Id: gid, IfMatch: ifMatch, KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: items}})
	}
	up, err := update(aws.String(etag0), ids[:2])
	if err != nil {
		t.Fatalf("UpdateKeyGroup with the current ETag: %v", err)
	}
	etag1 := aws.ToString(up.ETag)
	if etag1 == "" || etag1 == etag0 {
		t.Errorf("ETag after update = %q, want a new one (was %q)", etag1, etag0)
	}
	if got := up.KeyGroup.KeyGroupConfig.Items; len(got) != 2 {
		t.Errorf("items after update = %v", got)
	}

	pk0, err := cf.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String(ids[0])})
	if err != nil {
		t.Fatal(err)
	}
	pk5, err := cf.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String(ids[5])})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"stale If-Match", func() error { _, err := update(aws.String(etag0), ids[:3]); return err }, "PreconditionFailed"},
		{"missing If-Match", func() error { _, err := update(nil, ids[:3]); return err }, "InvalidIfMatchVersion"},
		{"six keys", func() error { _, err := update(aws.String(etag1), ids); return err }, "TooManyPublicKeysInKeyGroup"},
		{"create with six keys", func() error {
			_, err := cf.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name + "-6"), Items: ids}})
			return err
		}, "TooManyPublicKeysInKeyGroup"},
		{"unknown key in items", func() error { _, err := update(aws.String(etag1), []string{"KUNKNOWN0000000"}); return err }, "InvalidArgument"},
		{"delete key in use", func() error {
			_, err := cf.DeletePublicKey(ctx, &cloudfront.DeletePublicKeyInput{Id: aws.String(ids[0]), IfMatch: pk0.ETag})
			return err
		}, "PublicKeyInUse"},
		{"delete key stale If-Match", func() error {
			_, err := cf.DeletePublicKey(ctx, &cloudfront.DeletePublicKeyInput{Id: aws.String(ids[5]), IfMatch: aws.String("E0000")})
			return err
		}, "PreconditionFailed"},
		{"get unknown key", func() error {
			_, err := cf.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String("KUNKNOWN0000000")})
			return err
		}, "NoSuchPublicKey"},
		{"get unknown group", func() error {
			_, err := cf.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: aws.String("UNKNOWN0000000")})
			return err
		}, "NoSuchResource"},
		{"update unknown group", func() error {
			_, err := cf.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{Id: aws.String("UNKNOWN0000000"), IfMatch: aws.String("x"), KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String("x"), Items: ids[:1]}})
			return err
		}, "NoSuchResource"},
		{"duplicate group name", func() error {
			_, err := cf.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: ids[:1]}})
			return err
		}, "KeyGroupAlreadyExists"},
		{"delete unused key", func() error {
			_, err := cf.DeletePublicKey(ctx, &cloudfront.DeletePublicKeyInput{Id: aws.String(ids[5]), IfMatch: pk5.ETag})
			return err
		}, "<nil>"},
		{"delete group stale If-Match", func() error {
			_, err := cf.DeleteKeyGroup(ctx, &cloudfront.DeleteKeyGroupInput{Id: gid, IfMatch: aws.String(etag0)})
			return err
		}, "PreconditionFailed"},
		{"delete group", func() error {
			_, err := cf.DeleteKeyGroup(ctx, &cloudfront.DeleteKeyGroupInput{Id: gid, IfMatch: aws.String(etag1)})
			return err
		}, "<nil>"},
		{"delete key no longer in a group", func() error {
			_, err := cf.DeletePublicKey(ctx, &cloudfront.DeletePublicKeyInput{Id: aws.String(ids[0]), IfMatch: pk0.ETag})
			return err
		}, "<nil>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.call()); got != tc.want {
				t.Errorf("error code = %s, want %s", got, tc.want)
			}
		})
	}
}
