package keyops_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// clock is the shared settable test clock.
type clock = fakeclock.Clock

const (
	grace       = 35 * time.Minute
	propagation = 10 * time.Minute
)

type fixture struct {
	b     keyops.Backend
	ops   *keyops.Ops
	clock *clock
}

func awsBackend(t *testing.T) *keyops.AWS {
	t.Helper()
	cfg := cfmoto.Shared(t).Config(t)
	return keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{
		SecretID: motoserver.Unique(t, "cfgate-key"), GroupName: motoserver.Unique(t, "cfgate-group"),
	})
}

// backendKinds makes each backend on fresh state: the AWS one against
// moto_server (with the cfmoto extension), the local one in a temporary folder.
var backendKinds = []struct {
	name string
	new  func(t *testing.T) keyops.Backend
}{
	{"aws", func(t *testing.T) keyops.Backend { return awsBackend(t) }},
	{"local", func(t *testing.T) keyops.Backend { return keyops.NewLocal(t.TempDir()) }},
}

// backends runs f against both backends on fresh state.
func backends(t *testing.T, f func(t *testing.T, fx fixture)) {
	t.Helper()
	for _, tc := range backendKinds {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.new(t)
			c := fakeclock.New(time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
			// ECDSA keys are generated in microseconds; the lifecycle test checks the RSA default.
			ops := &keyops.Ops{B: b, Grace: grace, Propagation: propagation, Now: c.Now, Sleep: c.Sleep, Name: "cfgate-test", Algorithm: cfsign.ECDSASHA256}
			f(t, fixture{b: b, ops: ops, clock: c})
		})
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func groupKeys(t *testing.T, b keyops.Backend) []string {
	t.Helper()
	keys, err := b.GroupKeys(context.Background())
	if err != nil {
		t.Fatalf("GroupKeys: %v", err)
	}
	slices.Sort(keys)
	return keys
}

func current(t *testing.T, b keyops.Backend) cfsign.Secret {
	t.Helper()
	v, err := b.Secret(context.Background(), keyops.Current)
	if err != nil {
		t.Fatalf("current secret: %v", err)
	}
	if _, err := v.Secret.Key(); err != nil {
		t.Fatalf("current secret does not parse: %v", err)
	}
	return v.Secret
}

func sorted(ids ...string) []string { s := slices.Clone(ids); slices.Sort(s); return s }

func TestRotationLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		fx.ops.Algorithm = "" // the default: RSA-2048, RSA-SHA1
		r := must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil))
		if !r.Changed || r.KeyGroupID == "" || r.SecretID == "" || r.SigningKeyID == "" {
			t.Fatalf("init result = %+v", r)
		}
		old := r.SigningKeyID
		r2 := must[keyops.Result](t, "init again")(fx.ops.Init(ctx, nil))
		if r2.Changed || r2.KeyGroupID != r.KeyGroupID || r2.SigningKeyID != old || r2.SecretID != r.SecretID {
			t.Errorf("second init = %+v, want unchanged %+v", r2, r)
		}
		if got, want := groupKeys(t, fx.b), []string{old}; !slices.Equal(got, want) {
			t.Errorf("group after init = %v, want %v", got, want)
		}
		if got := current(t, fx.b).Algorithm; got != cfsign.RSASHA1 {
			t.Errorf("default algorithm = %s", got)
		}
		st := must[keyops.Status](t, "status")(fx.ops.Status(ctx))
		if st.SigningKeyID != old || len(st.Keys) != 1 || st.Keys[0].Role != "signing" || !strings.Contains(st.Next, "rotate start") {
			t.Errorf("status after init = %+v", st)
		}

		fx.clock.Add(time.Hour)
		r = must[keyops.Result](t, "start")(fx.ops.Start(ctx))
		newID := r.PendingKeyID
		if !r.Changed || newID == "" || newID == old {
			t.Fatalf("start = %+v", r)
		}
		if got := current(t, fx.b).KeyPairID; got != old {
			t.Errorf("after start the signing key = %s, want still %s", got, old)
		}
		if got, want := groupKeys(t, fx.b), sorted(old, newID); !slices.Equal(got, want) {
			t.Errorf("group after start = %v, want %v", got, want)
		}
		r = must[keyops.Result](t, "start again")(fx.ops.Start(ctx))
		if r.Changed || r.PendingKeyID != newID {
			t.Errorf("second start = %+v, want unchanged with pending %s", r, newID)
		}
		st = must[keyops.Status](t, "status")(fx.ops.Status(ctx))
		if st.PendingKeyID != newID || !strings.Contains(st.Next, "rotate promote") || !strings.Contains(st.Next, "wait until") {
			t.Errorf("status after start = %+v", st)
		}
		added := st.Rotation.AddedAt
		if st.Rotation.AddedKeyID != newID || added.Before(fx.clock.Now()) || added.After(fx.clock.Now().Add(time.Second)) {
			t.Errorf("after start the state records %s added at %s; want %s at the start time %s (rounded up)", st.Rotation.AddedKeyID, added, newID, fx.clock.Now())
		}
		if got, want := st.PromoteAllowedAt, added.Add(propagation); !got.Equal(want) {
			t.Errorf("status promoteAllowedAt = %s, want %s", got, want)
		}

		// Promote refuses until CloudFront has had the propagation wait.
		fx.clock.Add(added.Add(propagation - 2*time.Second).Sub(fx.clock.Now()))
		_, err := fx.ops.Promote(ctx, false)
		if !errors.Is(err, keyops.ErrPropagating) || !strings.Contains(err.Error(), "wait 2s more") || !strings.Contains(err.Error(), "keys rotate wait") {
			t.Fatalf("promote before the propagation wait: err = %v, want ErrPropagating saying to wait 2s more", err)
		}
		if got := current(t, fx.b).KeyPairID; got != old {
			t.Fatalf("a refused promote changed the signing key to %s", got)
		}
		w := must[keyops.Result](t, "wait")(fx.ops.Wait(ctx, 0, nil))
		if got := fx.clock.Slept(); got != 2*time.Second {
			t.Errorf("wait slept %s, want the 2s left of the propagation wait", got)
		}
		if !strings.Contains(w.Next, "rotate promote") {
			t.Errorf("wait before promote = %+v", w)
		}

		r = must[keyops.Result](t, "promote")(fx.ops.Promote(ctx, false))
		if !r.Changed || r.SigningKeyID != newID || r.RetiringKeyID != old {
			t.Fatalf("promote = %+v", r)
		}
		if got := current(t, fx.b).KeyPairID; got != newID {
			t.Errorf("after promote the signing key = %s, want %s", got, newID)
		}
		if _, err := fx.b.Secret(ctx, keyops.Pending); !errors.Is(err, keyops.ErrNotFound) {
			t.Errorf("pending after promote: err = %v, want ErrNotFound", err)
		}
		if prev, err := fx.b.Secret(ctx, keyops.Previous); err != nil || prev.Secret.KeyPairID != old {
			t.Errorf("previous after promote = %+v, %v; want key %s", prev, err, old)
		}
		r = must[keyops.Result](t, "promote again")(fx.ops.Promote(ctx, false))
		if r.Changed || r.SigningKeyID != newID {
			t.Errorf("second promote = %+v", r)
		}

		fx.clock.Add(grace - time.Second)
		if _, err := fx.ops.Finish(ctx, false); !errors.Is(err, keyops.ErrTooEarly) {
			t.Fatalf("finish before grace: err = %v, want ErrTooEarly", err)
		}
		if got, want := groupKeys(t, fx.b), sorted(old, newID); !slices.Equal(got, want) {
			t.Errorf("group after refused finish = %v, want %v", got, want)
		}
		st = must[keyops.Status](t, "status")(fx.ops.Status(ctx))
		if !strings.Contains(st.Next, "wait until") || st.Rotation.RetiringKeyID != old {
			t.Errorf("status during grace = %+v", st)
		}
		fx.clock.Add(time.Second)
		r = must[keyops.Result](t, "finish")(fx.ops.Finish(ctx, false))
		if !r.Changed || !slices.Equal(r.RemovedKeyIDs, []string{old}) {
			t.Errorf("finish = %+v", r)
		}
		if got, want := groupKeys(t, fx.b), []string{newID}; !slices.Equal(got, want) {
			t.Errorf("group after finish = %v, want %v", got, want)
		}
		if _, err := fx.b.PublicKey(ctx, old); !errors.Is(err, keyops.ErrNotFound) {
			t.Errorf("old public key after finish: err = %v, want ErrNotFound", err)
		}
		if _, err := fx.b.Secret(ctx, keyops.Previous); !errors.Is(err, keyops.ErrNotFound) {
			t.Errorf("previous version after finish: err = %v, want ErrNotFound (retired private key unstaged)", err)
		}
		r = must[keyops.Result](t, "finish again")(fx.ops.Finish(ctx, false))
		if r.Changed {
			t.Errorf("second finish = %+v, want unchanged", r)
		}
		if st := must[keyops.State](t, "state")(fx.b.State(ctx)); !st.IsZero() {
			t.Errorf("state after finish = %+v, want zero", st)
		}
	})
}

func TestAbortAndRollback(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		old := must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil)).SigningKeyID
		if _, err := fx.ops.Rollback(ctx); err == nil {
			t.Error("rollback with nothing promoted succeeded")
		}
		p := must[keyops.Result](t, "start")(fx.ops.Start(ctx)).PendingKeyID
		r := must[keyops.Result](t, "abort")(fx.ops.Abort(ctx))
		if !r.Changed || !slices.Equal(r.RemovedKeyIDs, []string{p}) {
			t.Errorf("abort = %+v", r)
		}
		if got, want := groupKeys(t, fx.b), []string{old}; !slices.Equal(got, want) {
			t.Errorf("group after abort = %v, want %v", got, want)
		}
		if r := must[keyops.Result](t, "abort again")(fx.ops.Abort(ctx)); r.Changed {
			t.Errorf("second abort = %+v", r)
		}
		if _, err := fx.ops.Promote(ctx, true); err == nil || !strings.Contains(err.Error(), "nothing to promote") {
			t.Errorf("promote after abort: err = %v", err)
		}

		if st := must[keyops.State](t, "state")(fx.b.State(ctx)); !st.Empty() {
			t.Errorf("state after abort = %+v, want nothing recorded (the aborted key's arrival included)", st)
		}
		newID := must[keyops.Result](t, "start")(fx.ops.Start(ctx)).PendingKeyID
		fx.clock.Add(propagation)
		must[keyops.Result](t, "promote")(fx.ops.Promote(ctx, false))
		if _, err := fx.ops.Abort(ctx); err == nil || !strings.Contains(err.Error(), "rollback") {
			t.Errorf("abort after promote: err = %v, want a pointer to rollback", err)
		}
		fx.clock.Add(time.Minute)
		r = must[keyops.Result](t, "rollback")(fx.ops.Rollback(ctx))
		if !r.Changed || r.SigningKeyID != old || r.RetiringKeyID != newID {
			t.Errorf("rollback = %+v", r)
		}
		if got := current(t, fx.b).KeyPairID; got != old {
			t.Errorf("signing after rollback = %s, want %s", got, old)
		}
		if r := must[keyops.Result](t, "rollback again")(fx.ops.Rollback(ctx)); r.Changed || r.SigningKeyID != old {
			t.Errorf("second rollback = %+v", r)
		}
		// Cookies signed with the rolled-back key stay valid for the grace period.
		if _, err := fx.ops.Finish(ctx, false); !errors.Is(err, keyops.ErrTooEarly) {
			t.Errorf("finish right after rollback: err = %v, want ErrTooEarly", err)
		}
		fx.clock.Add(grace)
		must[keyops.Result](t, "finish")(fx.ops.Finish(ctx, false))
		if got, want := groupKeys(t, fx.b), []string{old}; !slices.Equal(got, want) {
			t.Errorf("group after rollback+finish = %v, want %v", got, want)
		}
	})
}

// TestEmergencyRevocation follows the runbook's emergency order: start, wait
// for propagation, promote, wait for the signers' key cache, finish --force.
func TestEmergencyRevocation(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		old := must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil)).SigningKeyID
		newID := must[keyops.Result](t, "start")(fx.ops.Start(ctx)).PendingKeyID
		fx.clock.Slept()
		var lines []string
		must[keyops.Result](t, "wait")(fx.ops.Wait(ctx, 0, func(l string) { lines = append(lines, l) }))
		if got := fx.clock.Slept(); got != propagation {
			t.Errorf("wait before promote slept %s, want the propagation wait %s", got, propagation)
		}
		if len(lines) != int(propagation/(30*time.Second)) || !strings.Contains(lines[0], "10m0s left") {
			t.Errorf("wait progress = %d lines %q, want one every 30s", len(lines), lines)
		}
		must[keyops.Result](t, "promote")(fx.ops.Promote(ctx, false))
		const keyCacheTTL = 5 * time.Minute
		must[keyops.Result](t, "wait --key-cache")(fx.ops.Wait(ctx, keyCacheTTL, nil))
		if got := fx.clock.Slept(); got != keyCacheTTL {
			t.Errorf("wait --key-cache slept %s, want %s", got, keyCacheTTL)
		}
		r := must[keyops.Result](t, "finish --force")(fx.ops.Finish(ctx, true))
		if !slices.Equal(r.RemovedKeyIDs, []string{old}) {
			t.Errorf("forced finish removed %v, want [%s]", r.RemovedKeyIDs, old)
		}
		if got, want := groupKeys(t, fx.b), []string{newID}; !slices.Equal(got, want) {
			t.Errorf("group = %v, want %v", got, want)
		}
	})
}

func TestMissingSecret(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		for name, step := range map[string]func() (keyops.Result, error){
			"start":    func() (keyops.Result, error) { return fx.ops.Start(ctx) },
			"promote":  func() (keyops.Result, error) { return fx.ops.Promote(ctx, true) },
			"wait":     func() (keyops.Result, error) { return fx.ops.Wait(ctx, 0, nil) },
			"finish":   func() (keyops.Result, error) { return fx.ops.Finish(ctx, true) },
			"abort":    func() (keyops.Result, error) { return fx.ops.Abort(ctx) },
			"rollback": func() (keyops.Result, error) { return fx.ops.Rollback(ctx) },
		} {
			_, err := step()
			if !errors.Is(err, keyops.ErrNoSigningKey) || !strings.Contains(err.Error(), "keys init") {
				t.Errorf("%s without a secret: err = %v, want ErrNoSigningKey and a pointer to `keys init`", name, err)
			}
		}
		st, err := fx.ops.Status(ctx)
		if err != nil || !strings.Contains(st.Next, "keys init") {
			t.Errorf("status without a secret = %+v, %v", st, err)
		}
	})
}

func TestGroupFull(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		signing := must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil)).SigningKeyID
		var extra []string
		for range keyops.MaxKeysPerGroup - 1 {
			signer, err := cfsign.GenerateKey(cfsign.ECDSASHA256)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := cfsign.MarshalPublicKeyPEM(signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			id := must[string](t, "create public key")(fx.b.CreatePublicKey(ctx, motoserver.Unique(t, "ref"), motoserver.Unique(t, "extra"), pub))
			if err := fx.b.AddKey(ctx, id); err != nil {
				t.Fatalf("add key %d: %v", len(extra), err)
			}
			extra = append(extra, id)
		}
		_, err := fx.ops.Start(ctx)
		if !errors.Is(err, keyops.ErrGroupFull) || !strings.Contains(err.Error(), "5 public keys") {
			t.Fatalf("start with a full group: err = %v, want ErrGroupFull naming the 5 keys", err)
		}
		if _, err := fx.b.Secret(ctx, keyops.Pending); !errors.Is(err, keyops.ErrNotFound) {
			t.Errorf("a refused start left a pending version: %v", err)
		}
		r := must[keyops.Result](t, "finish")(fx.ops.Finish(ctx, false))
		if len(r.RemovedKeyIDs) != 0 || len(r.Notes) == 0 || !strings.Contains(strings.Join(r.Notes, " "), "--force") {
			t.Errorf("finish without --force on unknown keys = %+v; want nothing removed and a note", r)
		}
		r = must[keyops.Result](t, "finish --force")(fx.ops.Finish(ctx, true))
		if got, want := sorted(r.RemovedKeyIDs...), sorted(extra...); !slices.Equal(got, want) {
			t.Errorf("finish --force removed %v, want %v", got, want)
		}
		if got := groupKeys(t, fx.b); !slices.Equal(got, []string{signing}) {
			t.Errorf("group = %v, want [%s]", got, signing)
		}
		must[keyops.Result](t, "start after cleanup")(fx.ops.Start(ctx))
	})
}

func TestECDSAInit(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		fx.ops.Algorithm = cfsign.ECDSASHA256
		var exported []byte
		must[keyops.Result](t, "init")(fx.ops.Init(context.Background(), func(b []byte) error { exported = b; return nil }))
		s := current(t, fx.b)
		if s.Algorithm != cfsign.ECDSASHA256 {
			t.Errorf("algorithm = %s", s.Algorithm)
		}
		if string(exported) != s.PrivateKey {
			t.Error("export did not receive the signing key's private PEM")
		}
		// start keeps the current algorithm unless told otherwise
		fx.ops.Algorithm = ""
		must[keyops.Result](t, "start")(fx.ops.Start(context.Background()))
		p, err := fx.b.Secret(context.Background(), keyops.Pending)
		if err != nil || p.Secret.Algorithm != cfsign.ECDSASHA256 {
			t.Errorf("pending = %+v, %v", p, err)
		}
	})
}

// TestInitRepairsDeletedKeyGroup: the key group recorded on the secret was
// deleted (by hand, or by a stack teardown); init makes a new one holding the
// signing key.
func TestInitRepairsDeletedKeyGroup(t *testing.T) {
	ctx := context.Background()
	cfg := cfmoto.Shared(t).Config(t)
	cf := cloudfront.NewFromConfig(cfg)
	secret, group := motoserver.Unique(t, "cfgate-key"), motoserver.Unique(t, "cfgate-group")
	newB := func() *keyops.AWS {
		return keyops.NewAWS(cf, secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{SecretID: secret, GroupName: group})
	}
	ops := &keyops.Ops{B: newB(), Algorithm: cfsign.ECDSASHA256, Grace: grace}
	r := must[keyops.Result](t, "init")(ops.Init(ctx, nil))
	g, err := cf.GetKeyGroup(ctx, &cloudfront.GetKeyGroupInput{Id: &r.KeyGroupID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cf.DeleteKeyGroup(ctx, &cloudfront.DeleteKeyGroupInput{Id: &r.KeyGroupID, IfMatch: g.ETag}); err != nil {
		t.Fatal(err)
	}
	b := newB()
	ops = &keyops.Ops{B: b, Grace: grace}
	r2 := must[keyops.Result](t, "init after the group was deleted")(ops.Init(ctx, nil))
	if r2.KeyGroupID == r.KeyGroupID || r2.SigningKeyID != r.SigningKeyID || !r2.Changed {
		t.Errorf("repair init = %+v (first %+v)", r2, r)
	}
	if got := groupKeys(t, newB()); !slices.Equal(got, []string{r.SigningKeyID}) {
		t.Errorf("new group (found via the secret's tag) = %v, want [%s]", got, r.SigningKeyID)
	}
}
