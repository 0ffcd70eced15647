package keyops_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
)

func TestGraceFormula(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    keyops.Grace
		want time.Duration
	}{
		{"defaults: 3 × 5m + max(max(10m, 4h) + 5m, 5m) + 5m", keyops.DefaultGrace(), 4*time.Hour + 25*time.Minute},
		{"stale factor 1", keyops.Grace{KeyCacheTTL: 5 * time.Minute, StaleFactor: 1, CookieLifetime: 10 * time.Minute, CookieBucket: 5 * time.Minute, Margin: 5 * time.Minute}, 25 * time.Minute},
		{"stale factor 0 counts as 1", keyops.Grace{KeyCacheTTL: time.Minute, CookieLifetime: time.Minute}, 2 * time.Minute},
		{"each input counts", keyops.Grace{KeyCacheTTL: time.Second, StaleFactor: 2, CookieLifetime: 10 * time.Second, CookieBucket: 100 * time.Second, Margin: 1000 * time.Second}, 1112 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.g.Total(); got != tc.want {
				t.Errorf("Total() = %s, want %s", got, tc.want)
			}
		})
	}
	if got, want := keyops.DefaultGrace().KeyCache(), 15*time.Minute; got != want {
		t.Errorf("DefaultGrace().KeyCache() = %s, want %s (keysource serves a cached key up to 3 TTLs)", got, want)
	}
}

// TestAddedRecord: start records when the new key joined the key group,
// where every reader finds it (AWS: secret tags; local: rotation.json), and
// promote depends on it.
func TestAddedRecord(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil))
		fx.clock.Add(1500 * time.Millisecond) // a fraction of a second: recorded rounded up
		newID := must[keyops.Result](t, "start")(fx.ops.Start(ctx)).PendingKeyID
		st := must[keyops.State](t, "state")(fx.b.State(ctx))
		wantAt := time.Date(2026, 11, 27, 4, 0, 2, 0, time.UTC)
		if st.AddedKeyID != newID || !st.AddedAt.Equal(wantAt) || !st.IsZero() {
			t.Fatalf("state after start = %+v, want %s added at %s and no promote", st, newID, wantAt)
		}

		// A finish --force while the key is pending keeps the record.
		must[keyops.Result](t, "finish --force")(fx.ops.Finish(ctx, true))
		if st := must[keyops.State](t, "state")(fx.b.State(ctx)); st.AddedKeyID != newID || !st.AddedAt.Equal(wantAt) {
			t.Errorf("state after finish --force with a pending key = %+v, want the record kept", st)
		}

		// Without the record, promote refuses and start records it anew.
		if err := fx.b.SetState(ctx, keyops.State{}); err != nil {
			t.Fatal(err)
		}
		fx.clock.Add(time.Hour)
		_, err := fx.ops.Promote(ctx, false)
		if !errors.Is(err, keyops.ErrPropagating) || !strings.Contains(err.Error(), "run `keys rotate start` again") {
			t.Fatalf("promote without a record: err = %v, want ErrPropagating pointing to start", err)
		}
		st2 := must[keyops.Status](t, "status")(fx.ops.Status(ctx))
		if !strings.Contains(st2.Next, "nothing records") {
			t.Errorf("status without a record: next = %q", st2.Next)
		}
		r := must[keyops.Result](t, "start again")(fx.ops.Start(ctx))
		if !r.Changed || r.PendingKeyID != newID || !strings.Contains(strings.Join(r.Notes, " "), "starts now") {
			t.Errorf("start without a record = %+v, want it to record the time now", r)
		}
		if _, err := fx.ops.Promote(ctx, false); !errors.Is(err, keyops.ErrPropagating) {
			t.Errorf("promote right after the record: err = %v, want ErrPropagating", err)
		}
		fx.clock.Add(propagation) // 0.5s short: the record was rounded up
		if _, err := fx.ops.Promote(ctx, false); !errors.Is(err, keyops.ErrPropagating) || !strings.Contains(err.Error(), "wait 1s more") {
			t.Errorf("promote half a second early: err = %v, want ErrPropagating", err)
		}
		must[keyops.Result](t, "wait")(fx.ops.Wait(ctx, 0, nil))
		if got := fx.clock.Slept(); got != 500*time.Millisecond {
			t.Errorf("wait slept %s, want 500ms", got)
		}
		must[keyops.Result](t, "promote")(fx.ops.Promote(ctx, false))

		// finish clears everything: nothing is left recorded.
		fx.clock.Add(grace)
		must[keyops.Result](t, "finish")(fx.ops.Finish(ctx, false))
		if st := must[keyops.State](t, "state")(fx.b.State(ctx)); !st.Empty() {
			t.Errorf("state after finish = %+v, want empty", st)
		}
	})
}

// TestAddedTags: on AWS the record is the cfgate:added-key and
// cfgate:added-at tags of the secret, and clearing the state removes every
// cfgate rotation tag (none left with an empty value).
func TestAddedTags(t *testing.T) {
	ctx := context.Background()
	b := awsBackend(t)
	clk := fakeclock.New(time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
	ops := &keyops.Ops{B: b, Grace: grace, Propagation: propagation, Now: clk.Now, Name: "cfgate-test", Algorithm: "ECDSA-SHA256"}
	must[keyops.Result](t, "init")(ops.Init(ctx, nil))
	newID := must[keyops.Result](t, "start")(ops.Start(ctx)).PendingKeyID
	sm := secretsmanager.NewFromConfig(cfmoto.Shared(t).Config(t))
	tags := func() map[string]string {
		t.Helper()
		d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(b.SecretID())})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, tg := range d.Tags {
			if k := aws.ToString(tg.Key); strings.HasPrefix(k, "cfgate:") && k != keyops.TagKeyGroupID {
				m[k] = aws.ToString(tg.Value)
			}
		}
		return m
	}
	if got := tags(); len(got) != 2 || got[keyops.TagAddedKey] != newID || got[keyops.TagAddedAt] != "2026-11-27T04:00:00Z" {
		t.Errorf("tags after start = %v, want only %s=%s and %s=2026-11-27T04:00:00Z", got, keyops.TagAddedKey, newID, keyops.TagAddedAt)
	}
	clk.Add(propagation)
	must[keyops.Result](t, "promote")(ops.Promote(ctx, false))
	if got := tags(); got[keyops.TagStep] != "promote" || got[keyops.TagSigningKey] != newID || got[keyops.TagPromotedAt] != "2026-11-27T04:10:00Z" {
		t.Errorf("tags after promote = %v", got)
	}
	clk.Add(grace)
	must[keyops.Result](t, "finish")(ops.Finish(ctx, false))
	if got := tags(); len(got) != 0 {
		t.Errorf("tags after finish = %v, want none", got)
	}
}
