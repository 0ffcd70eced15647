package keyops_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

var errCrash = errors.New("simulated interruption")

// crashing wraps a Backend and interrupts the process right after its n-th
// state-changing call has taken effect (the call succeeds on the server but
// its caller sees an error, as when the CLI is killed or the network drops).
type crashing struct {
	keyops.Backend
	n, calls int
	crashed  bool
}

func (c *crashing) hit(err error) error {
	if err != nil {
		return err
	}
	c.calls++
	if c.calls == c.n {
		c.crashed = true
		return errCrash
	}
	return nil
}

func (c *crashing) EnsureGroup(ctx context.Context, id string) (string, error) {
	g, err := c.Backend.EnsureGroup(ctx, id)
	return g, c.hit(err)
}
func (c *crashing) AddKey(ctx context.Context, id string) error {
	return c.hit(c.Backend.AddKey(ctx, id))
}
func (c *crashing) RemoveKey(ctx context.Context, id string) error {
	return c.hit(c.Backend.RemoveKey(ctx, id))
}
func (c *crashing) CreatePublicKey(ctx context.Context, ref, name string, pem []byte) (string, error) {
	id, err := c.Backend.CreatePublicKey(ctx, ref, name, pem)
	return id, c.hit(err)
}
func (c *crashing) DeletePublicKey(ctx context.Context, id string) error {
	return c.hit(c.Backend.DeletePublicKey(ctx, id))
}
func (c *crashing) CreateSecret(ctx context.Context, token string, s cfsign.Secret) error {
	return c.hit(c.Backend.CreateSecret(ctx, token, s))
}
func (c *crashing) PutPending(ctx context.Context, token string, s cfsign.Secret) error {
	return c.hit(c.Backend.PutPending(ctx, token, s))
}
func (c *crashing) MakeCurrent(ctx context.Context, v string) error {
	return c.hit(c.Backend.MakeCurrent(ctx, v))
}
func (c *crashing) Unstage(ctx context.Context, s keyops.Stage, v string) error {
	return c.hit(c.Backend.Unstage(ctx, s, v))
}
func (c *crashing) SetState(ctx context.Context, st keyops.State) error {
	return c.hit(c.Backend.SetState(ctx, st))
}

// TestInterruptedRotationResumes interrupts a sequence of init, start,
// promote, finish, start, promote, rollback, finish, start, abort after each
// of its state-changing calls in turn, reruns the interrupted command (as an
// operator would), and checks that the sequence completes with the expected
// keys and that the signing key was in the key group at every moment.
func TestInterruptedRotationResumes(t *testing.T) {
	for _, be := range backendKinds {
		t.Run(be.name, func(t *testing.T) {
			for n := 1; ; n++ {
				var done, skipped bool
				t.Run(fmt.Sprintf("after-call-%d", n), func(t *testing.T) {
					defer func() { skipped = t.Skipped() }()
					done = runInterrupted(t, be.new(t), n)
				})
				if done || skipped || t.Failed() {
					break
				}
			}
		})
	}
}

// runInterrupted runs the whole lifecycle with one interruption after the
// n-th state-changing call; it reports false when no interruption happened
// (n is past the last call).
func runInterrupted(t *testing.T, b keyops.Backend, n int) (noCrash bool) {
	ctx := context.Background()
	c := &crashing{Backend: b, n: n}
	clk := fakeclock.New(time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
	ops := &keyops.Ops{B: c, Grace: grace, Propagation: propagation, Now: clk.Now, Name: "cfgate-test", Algorithm: cfsign.ECDSASHA256}
	plain := &keyops.Ops{B: b, Grace: grace, Now: clk.Now}
	invariant := func(when string) {
		t.Helper()
		cur, err := b.Secret(ctx, keyops.Current)
		if errors.Is(err, keyops.ErrNotFound) {
			return // before init created the secret
		}
		if err != nil {
			t.Fatalf("%s: current: %v", when, err)
		}
		keys, err := b.GroupKeys(ctx)
		if errors.Is(err, keyops.ErrNotFound) && strings.HasPrefix(when, "after init") {
			return // init stopped between creating the secret and the group: nothing is deployed yet
		}
		if err != nil {
			t.Fatalf("%s: key group: %v", when, err)
		}
		if !slices.Contains(keys, cur.Secret.KeyPairID) {
			t.Fatalf("%s: signing key %s is not in the key group %v: viewers would get 403", when, cur.Secret.KeyPairID, keys)
		}
	}
	var ids []string // signing key after init, pending keys after each start
	steps := []struct {
		name string
		run  func() (keyops.Result, error)
	}{
		{"init", func() (keyops.Result, error) { return ops.Init(ctx, nil) }},
		{"start", func() (keyops.Result, error) { return ops.Start(ctx) }},
		{"promote", func() (keyops.Result, error) { clk.Add(propagation); return ops.Promote(ctx, false) }},
		{"finish", func() (keyops.Result, error) { clk.Add(grace); return ops.Finish(ctx, false) }},
		{"start", func() (keyops.Result, error) { return ops.Start(ctx) }},
		{"promote", func() (keyops.Result, error) { clk.Add(propagation); return ops.Promote(ctx, false) }},
		{"rollback", func() (keyops.Result, error) { return ops.Rollback(ctx) }},
		{"finish", func() (keyops.Result, error) { clk.Add(grace); return ops.Finish(ctx, false) }},
		{"start", func() (keyops.Result, error) { return ops.Start(ctx) }},
		{"abort", func() (keyops.Result, error) { return ops.Abort(ctx) }},
	}
	for i, s := range steps {
		for attempt := 1; ; attempt++ {
			r, err := s.run()
			invariant(fmt.Sprintf("after %s (step %d) attempt %d", s.name, i+1, attempt))
			if errors.Is(err, errCrash) && attempt == 1 {
				continue // resume: run the same command again
			}
			if err != nil {
				t.Fatalf("%s (step %d) attempt %d: %v", s.name, i+1, attempt, err)
			}
			switch s.name {
			case "init":
				ids = append(ids, r.SigningKeyID)
			case "start":
				ids = append(ids, r.PendingKeyID)
			}
			break
		}
	}
	if len(ids) != 4 || ids[1] == ids[0] || ids[2] == ids[1] || ids[3] == ids[2] {
		t.Fatalf("keys: %v", ids)
	}
	second := ids[1]
	if got := current(t, b).KeyPairID; got != second {
		t.Errorf("signing key = %s, want %s", got, second)
	}
	if got := groupKeys(t, b); !slices.Equal(got, []string{second}) {
		t.Errorf("key group = %v, want [%s]", got, second)
	}
	if st := must[keyops.Status](t, "status")(plain.Status(ctx)); !strings.Contains(st.Next, "nothing in progress") || st.PendingKeyID != "" {
		t.Errorf("status after the resumed rotation = %+v", st)
	}
	return !c.crashed
}

// racingCF lets a rival client update the key group just before each of our
// UpdateKeyGroup calls (up to rivals times), so our IfMatch ETag is stale.
type racingCF struct {
	keyops.CloudFrontAPI
	rival   *cloudfront.Client
	rivals  int32
	updates atomic.Int32
	t       *testing.T
}

func (r *racingCF) UpdateKeyGroup(ctx context.Context, in *cloudfront.UpdateKeyGroupInput, opts ...func(*cloudfront.Options)) (*cloudfront.UpdateKeyGroupOutput, error) {
	if r.updates.Add(1) <= r.rivals {
		g, err := r.rival.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: in.Id})
		if err != nil {
			r.t.Errorf("rival get: %v", err)
		} else {
			cfg := g.KeyGroup.KeyGroupConfig
			_, err = r.rival.UpdateKeyGroup(ctx, &cloudfront.UpdateKeyGroupInput{Id: in.Id, IfMatch: g.ETag, KeyGroupConfig: &cftypes.KeyGroupConfig{
				Name: cfg.Name, Items: cfg.Items, Comment: aws.String(fmt.Sprintf("edited by a rival at %d", r.updates.Load())),
			}})
			if err != nil {
				r.t.Errorf("rival update: %v", err)
			}
		}
	}
	return r.CloudFrontAPI.UpdateKeyGroup(ctx, in, opts...)
}

func TestConcurrentKeyGroupModification(t *testing.T) {
	cfg := cfmoto.Shared(t).Config(t)
	rival := cloudfront.NewFromConfig(cfg)
	for _, tc := range []struct {
		name    string
		rivals  int32
		wantErr bool
	}{
		{"one conflict then retry succeeds", 1, false},
		{"three conflicts then retry succeeds", 3, false},
		{"conflicts on every attempt", 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			racer := &racingCF{CloudFrontAPI: cloudfront.NewFromConfig(cfg), rival: rival, t: t}
			b := keyops.NewAWS(racer, secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{
				SecretID: motoserver.Unique(t, "cfgate-key"), GroupName: motoserver.Unique(t, "cfgate-group"), Attempts: 4,
			})
			ops := &keyops.Ops{B: b, Grace: grace}
			old := must[keyops.Result](t, "init")(ops.Init(ctx, nil)).SigningKeyID
			racer.rivals = tc.rivals
			r, err := ops.Start(ctx)
			if tc.wantErr {
				if !errors.Is(err, keyops.ErrConflict) || !strings.Contains(err.Error(), "modified concurrently") || !strings.Contains(err.Error(), "run the command again") {
					t.Fatalf("start under constant conflict: err = %v, want ErrConflict with advice", err)
				}
				if got := racer.updates.Load(); got != 4 {
					t.Errorf("UpdateKeyGroup calls = %d, want 4 attempts", got)
				}
				// The operator reruns the command once the rival stops: it resumes.
				racer.rivals = 0
				r, err = ops.Start(ctx)
			}
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			if got, want := groupKeys(t, b), sorted(old, r.PendingKeyID); !slices.Equal(got, want) {
				t.Errorf("group = %v, want %v (the rival's edits must not lose our key)", got, want)
			}
			if !tc.wantErr {
				if got, want := racer.updates.Load(), tc.rivals+1; got != want {
					t.Errorf("UpdateKeyGroup calls = %d, want %d", got, want)
				}
			}
		})
	}
}
