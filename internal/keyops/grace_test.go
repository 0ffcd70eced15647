package keyops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/keyops"
)

// TestFinishUsesRecordedGrace: promote records the grace in force (here
// that of a stack whose cookies live 2 h); a finish run later with the
// fixture's grace (35m) still refuses until the recorded grace has passed.
func TestFinishUsesRecordedGrace(t *testing.T) {
	backends(t, func(t *testing.T, fx fixture) {
		ctx := context.Background()
		must[keyops.Result](t, "init")(fx.ops.Init(ctx, nil))
		long := 2 * time.Hour
		promoter := *fx.ops
		promoter.Grace = long
		must[keyops.Result](t, "start")(promoter.Start(ctx))
		fx.clock.Add(propagation)
		r := must[keyops.Result](t, "promote")(promoter.Promote(ctx, false))
		st, err := fx.b.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Grace != long {
			t.Fatalf("recorded grace = %s, want %s", st.Grace, long)
		}

		// fx.ops has the fixture's grace (35m).
		fx.clock.Add(grace + time.Minute)
		_, err = fx.ops.Finish(ctx, false)
		if !errors.Is(err, keyops.ErrTooEarly) {
			t.Fatalf("finish %s after promote with a recorded grace of %s: %v, want ErrTooEarly", grace+time.Minute, long, err)
		}
		if s := must[keyops.Status](t, "status")(fx.ops.Status(ctx)); !s.GraceEndsAt.Equal(st.PromotedAt.Add(long)) {
			t.Errorf("status grace ends %s, want %s", s.GraceEndsAt, st.PromotedAt.Add(long))
		}
		fx.clock.Add(st.PromotedAt.Add(long).Sub(fx.clock.Now()))
		fr := must[keyops.Result](t, "finish")(fx.ops.Finish(ctx, false))
		if len(fr.RemovedKeyIDs) != 1 || fr.RemovedKeyIDs[0] != r.RetiringKeyID {
			t.Errorf("finish removed %v, want [%s]", fr.RemovedKeyIDs, r.RetiringKeyID)
		}
	})
}

func TestGraceInForce(t *testing.T) {
	for _, tc := range []struct{ recorded, own, want time.Duration }{
		{0, 35 * time.Minute, 35 * time.Minute},
		{2 * time.Hour, 35 * time.Minute, 2 * time.Hour},
		{20 * time.Minute, 35 * time.Minute, 20 * time.Minute},
	} {
		if got := (keyops.State{Grace: tc.recorded}).GraceInForce(tc.own); got != tc.want {
			t.Errorf("GraceInForce(recorded %s, own %s) = %s, want %s", tc.recorded, tc.own, got, tc.want)
		}
	}
}

// TestRotationGraceFromStackSettings: the rotation function gets the login
// function's COOKIE_TTL, COOKIE_BUCKET and KEY_CACHE_TTL from the template;
// its grace is at least the one they imply, whatever GRACE_PERIOD says.
func TestRotationGraceFromStackSettings(t *testing.T) {
	env := map[string]string{"GRACE_PERIOD": "35m", "COOKIE_TTL": "60m", "COOKIE_BUCKET": "5m", "KEY_CACHE_TTL": "5m", "PLAYBACK_TTL": "30m", "DOWNLOAD_LINK_TTL": "5m"}
	c, err := keyops.RotationConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// 3 × 5m key cache + 60m cookies (longer than the 30m playback URLs and
	// 5m links) + 5m bucket + 5m margin.
	if want := 85 * time.Minute; c.Grace != want {
		t.Errorf("grace = %s, want %s", c.Grace, want)
	}
	env["GRACE_PERIOD"] = "2h"
	if c, _ := keyops.RotationConfigFromEnv(func(k string) string { return env[k] }); c.Grace != 2*time.Hour {
		t.Errorf("a longer GRACE_PERIOD: grace = %s, want 2h", c.Grace)
	}
	env["COOKIE_TTL"] = "0m"
	if _, err := keyops.RotationConfigFromEnv(func(k string) string { return env[k] }); err == nil {
		t.Error("COOKIE_TTL=0m accepted")
	}
}
