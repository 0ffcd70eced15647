package keygroup_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keygroup"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// countingCF counts the key-group reads of keygroup.Client, which talks to
// moto over HTTP.
type countingCF struct {
	*keygroup.Client
	n int
}

func (c *countingCF) KeyGroupKeys(ctx context.Context, id string) ([]string, error) {
	c.n++
	return c.Client.KeyGroupKeys(ctx, id)
}

// gatedCF holds its first read until released, announcing it on entered.
type gatedCF struct {
	countingCF
	entered, release chan struct{}
}

func (g *gatedCF) KeyGroupKeys(ctx context.Context, id string) ([]string, error) {
	if g.n == 0 {
		close(g.entered)
		<-g.release
	}
	return g.countingCF.KeyGroupKeys(ctx, id)
}

func newPublicKey(t *testing.T, cf *cloudfront.Client) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cf.CreatePublicKey(t.Context(), &cloudfront.CreatePublicKeyInput{PublicKeyConfig: &cftypes.PublicKeyConfig{
		CallerReference: aws.String(motoserver.Unique(t, "ref")), Name: aws.String(motoserver.Unique(t, "k")),
		EncodedKey: aws.String(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))),
	}})
	if err != nil {
		t.Fatalf("CreatePublicKey: %v", err)
	}
	return aws.ToString(out.PublicKey.Id)
}

func signingKey(t *testing.T, id string) keysource.Static {
	t.Helper()
	signer, err := cfsign.GenerateKey(cfsign.ECDSASHA256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cfsign.NewKey(id, cfsign.ECDSASHA256, signer)
	if err != nil {
		t.Fatal(err)
	}
	return keysource.Static{K: k}
}

// TestSelfCheckAgainstMoto: a key in the group passes with one CloudFront
// read however often it is asked for; a key outside it fails closed
// (ErrNotInGroup, wrapped as keysource.ErrUnavailable) with one log line,
// re-reads the group at most every 30 s, and recovers once an operator adds
// it.
func TestSelfCheckAgainstMoto(t *testing.T) {
	ctx := context.Background()
	awsCfg := cfmoto.Shared(t).Config(t)
	client := cloudfront.NewFromConfig(awsCfg)
	reader := keygroup.NewClient(awsCfg, "")
	inGroup, outside := newPublicKey(t, client), newPublicKey(t, client)
	name := motoserver.Unique(t, "group")
	g, err := client.CreateKeyGroup(ctx, &cloudfront.CreateKeyGroupInput{KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: []string{inGroup}}})
	if err != nil {
		t.Fatal(err)
	}
	groupID := aws.ToString(g.KeyGroup.Id)

	t.Run("in the group", func(t *testing.T) {
		cf := &countingCF{Client: reader}
		c := keygroup.New(signingKey(t, inGroup), cf, groupID, nil, nil)
		for range 5 {
			if k, err := c.Key(ctx); err != nil || k.ID != inGroup {
				t.Fatalf("Key = %v, %v", k, err)
			}
		}
		if cf.n != 1 {
			t.Errorf("GetKeyGroup calls = %d, want 1 (cached)", cf.n)
		}
	})

	t.Run("warmed alongside the key", func(t *testing.T) {
		// Init calls Warm and Key at once; Key must wait for Warm's read
		// instead of making a second one.
		gate := &gatedCF{countingCF: countingCF{Client: reader}, entered: make(chan struct{}), release: make(chan struct{})}
		c := keygroup.New(signingKey(t, inGroup), gate, groupID, nil, nil)
		warmed := make(chan error, 1)
		go func() { warmed <- c.Warm(ctx) }()
		<-gate.entered // Warm holds the read
		got := make(chan error, 1)
		go func() { _, err := c.Key(ctx); got <- err }()
		close(gate.release)
		if err := <-warmed; err != nil {
			t.Fatalf("Warm: %v", err)
		}
		if err := <-got; err != nil {
			t.Fatalf("Key: %v", err)
		}
		if err := c.Warm(ctx); err != nil {
			t.Fatalf("second Warm: %v", err)
		}
		if gate.n != 1 || c.Reads() != 1 {
			t.Errorf("GetKeyGroup calls = %d (Reads %d), want 1", gate.n, c.Reads())
		}
	})

	t.Run("outside the group", func(t *testing.T) {
		cf := &countingCF{Client: reader}
		logs := &syncbuf.Buffer{}
		clock := fakeclock.New(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
		c := keygroup.New(signingKey(t, outside), cf, groupID, slog.New(slog.NewJSONHandler(logs, nil)), clock.Now)
		for range 3 {
			_, err := c.Key(ctx)
			if !errors.Is(err, keygroup.ErrNotInGroup) || !errors.Is(err, keysource.ErrUnavailable) {
				t.Fatalf("Key error = %v, want ErrNotInGroup and ErrUnavailable", err)
			}
		}
		if cf.n != 1 {
			t.Errorf("GetKeyGroup calls = %d, want 1 within 30 s", cf.n)
		}
		if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), outside) || !strings.Contains(logs.String(), groupID) {
			t.Errorf("log = %q: want one line naming the key pair and the group", logs.String())
		}
		// The operator adds the key to the group.
		cur, err := client.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: aws.String(groupID)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{Id: aws.String(groupID), IfMatch: cur.ETag,
			KeyGroupConfig: &cftypes.KeyGroupConfig{Name: aws.String(name), Items: []string{inGroup, outside}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Key(ctx); !errors.Is(err, keygroup.ErrNotInGroup) {
			t.Fatalf("before 30 s: %v, want still ErrNotInGroup (no re-read yet)", err)
		}
		clock.Add(30 * time.Second)
		if k, err := c.Key(ctx); err != nil || k.ID != outside {
			t.Fatalf("after the fix and 30 s: %v, %v", k, err)
		}
		if cf.n != 2 {
			t.Errorf("GetKeyGroup calls = %d, want 2", cf.n)
		}
	})

	t.Run("no such group", func(t *testing.T) {
		cf := &countingCF{Client: reader}
		c := keygroup.New(signingKey(t, inGroup), cf, "no-such-group-"+fmt.Sprint(time.Now().UnixNano()), nil, nil)
		_, err := c.Key(ctx)
		var cfErr *keygroup.Error
		if !errors.Is(err, keysource.ErrUnavailable) || !errors.As(err, &cfErr) || cfErr.Code != "NoSuchResource" {
			t.Fatalf("Key with an unknown group: %v, want ErrUnavailable from CloudFront's NoSuchResource", err)
		}
	})

	t.Run("client reads what the SDK reads", func(t *testing.T) {
		got, err := reader.KeyGroupKeys(ctx, groupID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := client.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: aws.String(groupID)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want.KeyGroup.KeyGroupConfig.Items) {
			t.Errorf("KeyGroupKeys = %v, SDK GetKeyGroup items = %v", got, want.KeyGroup.KeyGroupConfig.Items)
		}
	})
}
