package keygroup_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/keygroup"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// TestPublicKeysAgainstMoto: the group's public keys are read on first
// use, served from memory after, read again for an unknown key id at most
// every 30 s (a rotation's new key then works), and a key already read is
// not fetched again; an unreadable group fails closed.
func TestPublicKeysAgainstMoto(t *testing.T) {
	needs.Tool(t, "moto_server")
	ctx := context.Background()
	awsCfg := cfmoto.Shared(t).Config(t)
	client := cloudfront.NewFromConfig(awsCfg)
	reader := keygroup.NewClient(awsCfg, "")
	first, second := newPublicKey(t, client), newPublicKey(t, client)
	name := motoserver.Unique(t, "group")
	g, err := client.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: []string{first}}})
	if err != nil {
		t.Fatal(err)
	}
	groupID := aws.ToString(g.KeyGroup.Id)
	clock := fakeclock.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	pk := keygroup.NewPublicKeys(reader, groupID, nil, clock.Now)

	keys, err := pk.Trusted(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := keys.Lookup(first)
	want, err := client.GetPublicKey(ctx, &cloudfront.GetPublicKeyInput{Id: aws.String(first)})
	if err != nil {
		t.Fatal(err)
	}
	wantKey, err := verifier.ParsePublicKeyPEM([]byte(aws.ToString(want.PublicKey.PublicKeyConfig.EncodedKey)))
	if err != nil {
		t.Fatal(err)
	}
	if !ok || !got.(*ecdsa.PublicKey).Equal(wantKey) {
		t.Fatalf("Lookup(%s) = %v, %v; want the key CloudFront holds", first, got, ok)
	}
	if n := pk.Calls(); n != 2 {
		t.Errorf("first use: %d CloudFront calls, want 2 (GetKeyGroup, GetPublicKey)", n)
	}
	for range 5 {
		if _, err := pk.Trusted(ctx, first); err != nil {
			t.Fatal(err)
		}
	}
	// An unknown id right after the first read: nothing read within 30 s.
	if _, err := pk.Trusted(ctx, second); err != nil || pk.Calls() != 2 {
		t.Fatalf("unknown id within 30 s of the read: %v, %d calls", err, pk.Calls())
	}
	// Later: one re-read of the group (the known key is kept), then none for 30 s.
	clock.Add(30 * time.Second)
	for range 3 {
		keys, err := pk.Trusted(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keys.Lookup(second); ok {
			t.Fatal("a key outside the group is trusted")
		}
	}
	if n := pk.Calls(); n != 3 {
		t.Errorf("after an unknown id: %d calls, want 3", n)
	}
	// The rotation adds the second key; 30 s later it is trusted.
	cur, err := client.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: aws.String(groupID)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{Id: aws.String(groupID), IfMatch: cur.ETag,
		KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: []string{first, second}}}); err != nil {
		t.Fatal(err)
	}
	clock.Add(30 * time.Second)
	keys, err = pk.Trusted(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := keys.Lookup(second); !ok {
		t.Fatal("the rotation's new key is not trusted after 30 s")
	}
	if _, ok := keys.Lookup(first); !ok {
		t.Fatal("the old key was dropped while still in the group")
	}
	if n := pk.Calls(); n != 5 {
		t.Errorf("after the rotation: %d calls, want 5 (GetKeyGroup, GetPublicKey of the new key only)", n)
	}
	// Keys PublicKeysMaxAge old are read again (group only) on the next request.
	clock.Add(keygroup.PublicKeysMaxAge)
	if _, err := pk.Trusted(ctx, first); err != nil || pk.Calls() != 6 {
		t.Errorf("after PublicKeysMaxAge: %v, %d calls, want 6", err, pk.Calls())
	}

	// A group that cannot be read: fail closed, and no second read within 30 s.
	bad := keygroup.NewPublicKeys(reader, "no-such-group", nil, clock.Now)
	for range 2 {
		var cfErr *keygroup.Error
		if _, err := bad.Trusted(ctx, first); err == nil || (bad.Calls() == 1 && !errors.As(err, &cfErr) && err.Error() == "") {
			t.Fatalf("unreadable group: %v", err)
		}
	}
	if n := bad.Calls(); n != 1 {
		t.Errorf("unreadable group: %d reads, want 1 within 30 s", n)
	}
}
