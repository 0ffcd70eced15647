package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

type fixture struct {
	h      *keyops.RotationHandler
	b      *keyops.AWS
	secret string
	now    time.Time
}

// setup initialises a key group and secret on the extended moto server and
// builds the handler the way main does, from the environment.
func setup(t *testing.T) *fixture {
	t.Helper()
	s := cfmoto.Shared(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := s.Config(t)
	fx := &fixture{secret: motoserver.Unique(t, "cfgate-key"), now: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)}
	fx.b = keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{SecretID: fx.secret, GroupName: motoserver.Unique(t, "cfgate")})
	ops := &keyops.Ops{B: fx.b, Algorithm: cfsign.ECDSASHA256, Grace: 30 * time.Minute}
	r, err := ops.Init(context.Background(), nil)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	env := map[string]string{"KEY_GROUP_ID": r.KeyGroupID, "KEY_ALGORITHM": "ECDSA-SHA256", "GRACE_PERIOD": "30m"}
	h, err := newHandler(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	h.Now = func() time.Time { return fx.now }
	fx.h = h
	return fx
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// invoke runs a step through the Lambda runtime's JSON path.
func (fx *fixture) invoke(t *testing.T, step, tok string) error {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"SecretId": fx.secret, "ClientRequestToken": tok, "Step": step})
	_, err := lambda.NewHandler(fx.h.Handle).Invoke(context.Background(), payload)
	return err
}

func (fx *fixture) keys(t *testing.T) []string {
	t.Helper()
	k, err := fx.b.GroupKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(k)
	return k
}

func (fx *fixture) stage(t *testing.T, s keyops.Stage) *keyops.Version {
	t.Helper()
	v, err := fx.b.Secret(context.Background(), s)
	if err != nil {
		return nil
	}
	return v
}

var steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

func TestRotationSteps(t *testing.T) {
	fx := setup(t)
	first := fx.stage(t, keyops.Current).Secret.KeyPairID
	tok := token()
	for _, step := range steps {
		// Secrets Manager retries steps: each must be idempotent.
		for attempt := 1; attempt <= 2; attempt++ {
			if err := fx.invoke(t, step, tok); err != nil {
				t.Fatalf("%s attempt %d: %v", step, attempt, err)
			}
		}
		cur, pending := fx.stage(t, keyops.Current), fx.stage(t, keyops.Pending)
		switch step {
		case "createSecret":
			if pending == nil || pending.ID != tok || pending.Secret.Algorithm != cfsign.ECDSASHA256 {
				t.Fatalf("after createSecret: pending = %+v, want version %s", pending, tok)
			}
			if slices.Contains(fx.keys(t), pending.Secret.KeyPairID) {
				t.Errorf("createSecret already added the key to the group")
			}
		case "setSecret":
			if !slices.Contains(fx.keys(t), pending.Secret.KeyPairID) {
				t.Errorf("after setSecret the pending key is not in the group %v", fx.keys(t))
			}
			if cur.Secret.KeyPairID != first {
				t.Errorf("setSecret changed the signing key")
			}
		case "finishSecret":
			if cur.ID != tok {
				t.Errorf("after finishSecret current version = %s, want %s", cur.ID, tok)
			}
			st, _ := fx.b.State(context.Background())
			if st.RetiringKeyID != first || !st.PromotedAt.Equal(fx.now) {
				t.Errorf("rotation state = %+v", st)
			}
		}
	}
	second := fx.stage(t, keyops.Current).Secret.KeyPairID
	if got := fx.keys(t); len(got) != 2 || !slices.Contains(got, first) || !slices.Contains(got, second) {
		t.Errorf("group after rotation = %v, want the old and the new key", got)
	}

	// Too soon for another rotation: the old key is within its grace period.
	fx.now = fx.now.Add(10 * time.Minute)
	if err := fx.invoke(t, "createSecret", token()); err == nil || !strings.Contains(err.Error(), "grace period") {
		t.Errorf("createSecret within the grace: err = %v", err)
	}

	// The next scheduled rotation first finishes this one.
	fx.now = fx.now.Add(time.Hour)
	tok2 := token()
	for _, step := range steps {
		if err := fx.invoke(t, step, tok2); err != nil {
			t.Fatalf("second rotation %s: %v", step, err)
		}
	}
	third := fx.stage(t, keyops.Current).Secret.KeyPairID
	if got, want := fx.keys(t), sortedOf(second, third); !slices.Equal(got, want) {
		t.Errorf("group after the second rotation = %v, want %v (first key %s removed)", got, want, first)
	}
	// Repeating any step of a completed rotation is a no-op.
	if err := fx.invoke(t, "createSecret", tok2); err != nil {
		t.Errorf("createSecret for the current version: %v", err)
	}
}

func sortedOf(ids ...string) []string { slices.Sort(ids); return ids }

func TestStepErrors(t *testing.T) {
	fx := setup(t)
	tok := token()
	if err := fx.invoke(t, "setSecret", tok); err == nil || !strings.Contains(err.Error(), "not AWSPENDING") {
		t.Errorf("setSecret before createSecret: %v", err)
	}
	if err := fx.invoke(t, "createSecret", tok); err != nil {
		t.Fatal(err)
	}
	if err := fx.invoke(t, "testSecret", tok); err == nil || !strings.Contains(err.Error(), "not in the key group") {
		t.Errorf("testSecret before setSecret: %v", err)
	}
	if err := fx.invoke(t, "finishSecret", tok); err == nil || !strings.Contains(err.Error(), "not in the key group") {
		t.Errorf("finishSecret before setSecret: %v", err)
	}
	if err := fx.invoke(t, "frobSecret", tok); err == nil || !strings.Contains(err.Error(), "unknown rotation step") {
		t.Errorf("unknown step: %v", err)
	}
	fx.secret = motoserver.Unique(t, "no-such-secret")
	if err := fx.invoke(t, "createSecret", tok); err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("missing secret: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    keyops.RotationConfig
		wantErr string
	}{
		{"defaults", nil, keyops.RotationConfig{Algorithm: cfsign.RSASHA1, Grace: 30 * time.Minute}, ""},
		{"set", map[string]string{"KEY_GROUP_ID": "KG1", "KEY_ALGORITHM": "ecdsa-sha256", "GRACE_PERIOD": "45m"},
			keyops.RotationConfig{KeyGroupID: "KG1", Algorithm: cfsign.ECDSASHA256, Grace: 45 * time.Minute}, ""},
		{"bad algorithm", map[string]string{"KEY_ALGORITHM": "DSA"}, keyops.RotationConfig{}, "KEY_ALGORITHM"},
		{"bad grace", map[string]string{"GRACE_PERIOD": "soon"}, keyops.RotationConfig{}, "GRACE_PERIOD"},
		{"negative grace", map[string]string{"GRACE_PERIOD": "-5m"}, keyops.RotationConfig{}, "GRACE_PERIOD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keyops.RotationConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
