package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

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
	// slept is the total the handler's Sleep moved now by.
	slept time.Duration
	// timeout is the invocation's remaining time (the function's Timeout).
	timeout time.Duration
}

// setup initialises a key group and secret on the extended moto server and
// builds the handler the way main does, from the environment.
func setup(t *testing.T) *fixture {
	t.Helper()
	return setupWith(t, false, "ECDSA-SHA256", nil)
}

// setupEnv is setup with environment overrides ("" unsets a variable).
func setupEnv(t *testing.T, override map[string]string) *fixture {
	return setupWith(t, false, "ECDSA-SHA256", override)
}

// setupWith is setup with the first key made in KMS (useKMS), the
// function's KEY_ALGORITHM and environment overrides.
func setupWith(t *testing.T, useKMS bool, keyAlgorithm string, override map[string]string) *fixture {
	t.Helper()
	s := cfmoto.Shared(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg := s.Config(t)
	fx := &fixture{secret: motoserver.Unique(t, "cfgate-key"), now: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), timeout: 900 * time.Second}
	fx.b = keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{SecretID: fx.secret, GroupName: motoserver.Unique(t, "cfgate")})
	ops := &keyops.Ops{B: fx.b, Algorithm: cfsign.ECDSASHA256, Grace: 30 * time.Minute, KMS: kms.NewFromConfig(cfg), UseKMS: useKMS}
	r, err := ops.Init(context.Background(), nil)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	env := map[string]string{"KEY_GROUP_ID": r.KeyGroupID, "KEY_ALGORITHM": keyAlgorithm, "GRACE_PERIOD": "35m", "PROPAGATION_WAIT": "10m"}
	for k, v := range override {
		env[k] = v
	}
	h, err := newHandler(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	h.Now = func() time.Time { return fx.now }
	// The test clock stands in for the timer: sleeping moves it at once.
	h.Sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fx.now, fx.slept = fx.now.Add(d), fx.slept+d
		return nil
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), fx.timeout)
	defer cancel()
	_, err := lambda.NewHandler(fx.h.Handle).Invoke(ctx, payload)
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
			fx.slept = 0
			if err := fx.invoke(t, step, tok); err != nil {
				t.Fatalf("%s attempt %d: %v", step, attempt, err)
			}
			// Only testSecret waits, and only the first time: for the
			// propagation wait since setSecret.
			want := time.Duration(0)
			if step == "testSecret" && attempt == 1 {
				want = 10 * time.Minute
			}
			if fx.slept != want {
				t.Errorf("%s attempt %d slept %s, want %s", step, attempt, fx.slept, want)
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
			st, _ := fx.b.State(context.Background())
			if st.AddedKeyID != pending.Secret.KeyPairID || !st.AddedAt.Equal(fx.now) {
				t.Errorf("after setSecret the state = %+v, want %s added at %s", st, pending.Secret.KeyPairID, fx.now)
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
	fx.now = fx.now.Add(30 * time.Minute)
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

// TestPlaybackTTLLengthensGrace: with the login function's PLAYBACK_TTL in
// its environment (as the template passes it), the rotation function
// records a grace that covers the playback URLs signed with the old key:
// the next rotation refuses to start, and so keeps the old key in the group,
// until PLAYBACK_TTL and the rest of the grace have passed since promote,
// although GRACE_PERIOD says 35m.
func TestPlaybackTTLLengthensGrace(t *testing.T) {
	fx := setupEnv(t, map[string]string{"PLAYBACK_TTL": "4h", "COOKIE_TTL": "10m", "COOKIE_BUCKET": "5m", "KEY_CACHE_TTL": "5m", "DOWNLOAD_LINK_TTL": "5m"})
	if want := 4*time.Hour + 25*time.Minute; fx.h.Config.Grace != want {
		t.Fatalf("grace from the environment = %s, want %s", fx.h.Config.Grace, want)
	}
	first := fx.stage(t, keyops.Current).Secret.KeyPairID
	tok := token()
	for _, step := range steps {
		if err := fx.invoke(t, step, tok); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	st, err := fx.b.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := 4*time.Hour + 25*time.Minute; st.Grace != want || st.RetiringKeyID != first {
		t.Fatalf("recorded rotation = %+v, want %s retiring with a grace of %s", st, first, want)
	}
	promoted := st.PromotedAt
	// Past the cookies' 35m, within the playback URLs' grace: refused.
	for _, after := range []time.Duration{35 * time.Minute, 4 * time.Hour, 4*time.Hour + 25*time.Minute - time.Second} {
		fx.now = promoted.Add(after)
		if err := fx.invoke(t, "createSecret", token()); err == nil || !strings.Contains(err.Error(), "grace period of 4h25m0s") {
			t.Errorf("createSecret %s after promote: err = %v, want a refusal naming the 4h25m grace", after, err)
		}
		if !slices.Contains(fx.keys(t), first) {
			t.Fatalf("%s after promote the old key left the group", after)
		}
	}
	// At the end of the grace the next rotation finishes this one first.
	fx.now = promoted.Add(4*time.Hour + 25*time.Minute)
	if err := fx.invoke(t, "createSecret", token()); err != nil {
		t.Fatalf("createSecret at the end of the grace: %v", err)
	}
	if slices.Contains(fx.keys(t), first) {
		t.Errorf("the old key %s is still in the group %v after the grace", first, fx.keys(t))
	}
}

// TestRotationStepsKMS: with a KMS signing key the rotation function makes
// the new key in KMS (of the current key's kind, although KEY_ALGORITHM is
// the template's default RSA-SHA1, which KMS cannot sign), every step is
// idempotent, and the next rotation's finish schedules the old KMS key's
// deletion once its public key left the group.
func TestRotationStepsKMS(t *testing.T) {
	fx := setupWith(t, true, "RSA-SHA1", nil)
	kc := kms.NewFromConfig(cfmoto.Shared(t).Config(t))
	state := func(keyID string) kmstypes.KeyState {
		t.Helper()
		d, err := kc.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &keyID})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata.KeyState
	}
	first := fx.stage(t, keyops.Current).Secret
	if !first.IsKMS() {
		t.Fatalf("init --kms made %+v", first.KeyPairID)
	}
	tok := token()
	for _, step := range steps {
		for attempt := 1; attempt <= 2; attempt++ {
			if err := fx.invoke(t, step, tok); err != nil {
				t.Fatalf("%s attempt %d: %v", step, attempt, err)
			}
		}
		if step == "createSecret" {
			p := fx.stage(t, keyops.Pending).Secret
			if !p.IsKMS() || p.KMSKeyID == first.KMSKeyID || p.Algorithm != cfsign.ECDSASHA256 || p.PrivateKey != "" {
				t.Fatalf("pending after createSecret = %s %s %s, want a new ECDSA KMS key", p.KeyPairID, p.KMSKeyID, p.Algorithm)
			}
		}
	}
	second := fx.stage(t, keyops.Current).Secret
	if !second.IsKMS() || second.KMSKeyID == first.KMSKeyID {
		t.Fatalf("after finishSecret the signing key is %s (%s)", second.KeyPairID, second.KMSKeyID)
	}
	if got := state(first.KMSKeyID); got != kmstypes.KeyStateEnabled {
		t.Errorf("the old KMS key is %s within the grace, want Enabled", got)
	}
	fx.now = fx.now.Add(2 * time.Hour)
	tok2 := token()
	if err := fx.invoke(t, "createSecret", tok2); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(fx.keys(t), first.KeyPairID) {
		t.Error("the next createSecret left the old key in the group")
	}
	if got := state(first.KMSKeyID); got != kmstypes.KeyStatePendingDeletion {
		t.Errorf("the old KMS key is %s after finish, want PendingDeletion", got)
	}
	if got := state(second.KMSKeyID); got != kmstypes.KeyStateEnabled {
		t.Errorf("the signing KMS key is %s", got)
	}
}

func sortedOf(ids ...string) []string { slices.Sort(ids); return ids }

// TestNoEarlyPromote: when the invocation cannot outlast the propagation
// wait, testSecret fails at once (Secrets Manager retries the rotation), and
// finishSecret refuses to promote a key the edges may not know yet.
func TestNoEarlyPromote(t *testing.T) {
	fx := setup(t)
	first := fx.stage(t, keyops.Current).Secret.KeyPairID
	tok := token()
	for _, step := range []string{"createSecret", "setSecret"} {
		if err := fx.invoke(t, step, tok); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	fx.timeout = 60 * time.Second // the template's old Timeout
	err := fx.invoke(t, "testSecret", tok)
	if err == nil || !strings.Contains(err.Error(), "propagation wait") || !strings.Contains(err.Error(), "retries") {
		t.Fatalf("testSecret with 60s left of a 10m wait: err = %v, want a failure naming the propagation wait", err)
	}
	if fx.slept != 0 {
		t.Errorf("testSecret slept %s before failing, want 0 (fail at once)", fx.slept)
	}
	fx.now = fx.now.Add(9 * time.Minute)
	if err := fx.invoke(t, "finishSecret", tok); err == nil || !strings.Contains(err.Error(), "edges") {
		t.Fatalf("finishSecret 9 minutes after setSecret: err = %v, want a refusal", err)
	}
	if got := fx.stage(t, keyops.Current).Secret.KeyPairID; got != first {
		t.Fatalf("a refused finishSecret changed the signing key to %s", got)
	}
	// Secrets Manager's retry, a minute later, goes through.
	fx.now = fx.now.Add(time.Minute)
	for _, step := range steps {
		if err := fx.invoke(t, step, tok); err != nil {
			t.Fatalf("retry %s: %v", step, err)
		}
	}
	if fx.slept != 0 {
		t.Errorf("the retry slept %s, want 0 (the wait had passed)", fx.slept)
	}
	if cur := fx.stage(t, keyops.Current); cur.ID != tok {
		t.Errorf("after the retry current version = %s, want %s", cur.ID, tok)
	}
}

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
		// No KEY_ALGORITHM: the current key's algorithm (see TestAlgorithmNeverDowngrades).
		// 3 × 5m key cache + 4h playback URL + 5m bucket + 5m margin.
		{"defaults", nil, keyops.RotationConfig{Grace: 4*time.Hour + 25*time.Minute, Propagation: 10 * time.Minute}, ""},
		{"the login function's PLAYBACK_TTL", map[string]string{"GRACE_PERIOD": "35m", "PLAYBACK_TTL": "6h"},
			keyops.RotationConfig{Grace: 6*time.Hour + 25*time.Minute, Propagation: 10 * time.Minute}, ""},
		{"bad playback TTL", map[string]string{"PLAYBACK_TTL": "30s"}, keyops.RotationConfig{}, "PLAYBACK_TTL"},
		{"bad download link TTL", map[string]string{"DOWNLOAD_LINK_TTL": "1.5s"}, keyops.RotationConfig{}, "DOWNLOAD_LINK_TTL"},
		{"set", map[string]string{"KEY_GROUP_ID": "KG1", "KEY_ALGORITHM": "ecdsa-sha256", "GRACE_PERIOD": "45m", "PROPAGATION_WAIT": "12m"},
			keyops.RotationConfig{KeyGroupID: "KG1", Algorithm: cfsign.ECDSASHA256, Grace: 45 * time.Minute, Propagation: 12 * time.Minute}, ""},
		{"bad propagation", map[string]string{"PROPAGATION_WAIT": "0s"}, keyops.RotationConfig{}, "PROPAGATION_WAIT"},
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

// TestConfigurationTest: with RotateImmediatelyOnUpdate false, Secrets
// Manager tests a new rotation configuration by invoking only testSecret, on
// an AWSPENDING version it made itself. moto's RotateSecret with
// RotateImmediately=false makes that version as Secrets Manager does (a copy
// of the current value; with RotateImmediately=true, a version without a
// value) and then fails to invoke our function, which moto does not run; the
// test then invokes testSecret as Secrets Manager would. It must succeed at
// once: no wait, no tag, no change to the secret or the key group.
func TestConfigurationTest(t *testing.T) {
	for _, immediately := range []bool{false, true} {
		t.Run(fmt.Sprintf("RotateImmediately=%v", immediately), func(t *testing.T) {
			fx := setup(t)
			ctx := context.Background()
			sm := secretsmanager.NewFromConfig(cfmoto.Shared(t).Config(t))
			before, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(fx.secret)})
			if err != nil {
				t.Fatal(err)
			}
			keysBefore, cur := fx.keys(t), fx.stage(t, keyops.Current)
			tok := token()
			_, err = sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
				SecretId: aws.String(fx.secret), ClientRequestToken: aws.String(tok), RotateImmediately: aws.Bool(immediately),
				RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + motoserver.Unique(t, "rotate")),
			})
			if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
				t.Fatalf("RotateSecret: %v, want moto's ResourceNotFound for the function it cannot run", err)
			}
			desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(fx.secret)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(desc.VersionIdsToStages[tok], "AWSPENDING") {
				t.Fatalf("no AWSPENDING version %s after RotateSecret: %v", tok, desc.VersionIdsToStages)
			}

			if err := fx.invoke(t, "testSecret", tok); err != nil {
				t.Fatalf("testSecret of the configuration test: %v", err)
			}
			if fx.slept != 0 {
				t.Errorf("the configuration test waited %s", fx.slept)
			}
			after, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(fx.secret)})
			if err != nil {
				t.Fatal(err)
			}
			if !tagsEqual(before.Tags, after.Tags) {
				t.Errorf("the configuration test changed the tags: %v → %v", before.Tags, after.Tags)
			}
			if got := fx.stage(t, keyops.Current); got.ID != cur.ID {
				t.Errorf("current version changed to %s", got.ID)
			}
			if got := fx.keys(t); !slices.Equal(got, keysBefore) {
				t.Errorf("key group changed: %v → %v", keysBefore, got)
			}
		})
	}
}

func tagsEqual(a, b []smtypes.Tag) bool {
	m := func(tags []smtypes.Tag) map[string]string {
		out := map[string]string{}
		for _, t := range tags {
			out[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		return out
	}
	return maps.Equal(m(a), m(b))
}

// TestAlgorithmNeverDowngrades: with KEY_ALGORITHM empty (the template's
// default) a rotation keeps the current key's algorithm; a configured
// algorithm weaker than the current key's is not used either.
func TestAlgorithmNeverDowngrades(t *testing.T) {
	for _, configured := range []string{"", "RSA-SHA1"} {
		t.Run("KEY_ALGORITHM="+configured, func(t *testing.T) {
			fx := setupEnv(t, map[string]string{"KEY_ALGORITHM": configured}) // keys init chose ECDSA-SHA256
			tok := token()
			if err := fx.invoke(t, "createSecret", tok); err != nil {
				t.Fatal(err)
			}
			if p := fx.stage(t, keyops.Pending); p == nil || p.Secret.Algorithm != cfsign.ECDSASHA256 {
				t.Fatalf("pending key algorithm %s, want ECDSA-SHA256 (the current key's)", algOf(p))
			}
		})
	}
	t.Run("upgrade honoured", func(t *testing.T) {
		fx := setupEnv(t, map[string]string{"KEY_ALGORITHM": "RSA-SHA256"})
		if err := fx.invoke(t, "createSecret", token()); err != nil {
			t.Fatal(err)
		}
		if p := fx.stage(t, keyops.Pending); p == nil || p.Secret.Algorithm != cfsign.RSASHA256 {
			t.Fatalf("pending key algorithm %s, want RSA-SHA256", algOf(p))
		}
	})
}

// algOf names a version's algorithm (never print a Version: it holds a private key).
func algOf(v *keyops.Version) string {
	if v == nil {
		return "<no pending version>"
	}
	return string(v.Secret.Algorithm)
}
