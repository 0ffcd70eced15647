package keyops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// RotationEvent is what Secrets Manager sends a rotation function.
type RotationEvent struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// RotationConfig configures the rotation function (environment KEY_GROUP_ID,
// KEY_ALGORITHM, GRACE_PERIOD).
type RotationConfig struct {
	KeyGroupID string
	Algorithm  cfsign.Algorithm
	Grace      time.Duration
}

// RotationConfigFromEnv reads the rotation function's configuration once,
// failing loudly on a bad value. KEY_GROUP_ID is optional (the secret's
// cfgate:key-group-id tag is used when it is empty).
func RotationConfigFromEnv(getenv func(string) string) (RotationConfig, error) {
	c := RotationConfig{KeyGroupID: getenv("KEY_GROUP_ID"), Algorithm: cfsign.RSASHA1, Grace: 30 * time.Minute}
	if v := getenv("KEY_ALGORITHM"); v != "" {
		alg, err := cfsign.ParseAlgorithm(v)
		if err != nil {
			return c, fmt.Errorf("KEY_ALGORITHM: %w", err)
		}
		c.Algorithm = alg
	}
	if v := getenv("GRACE_PERIOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("GRACE_PERIOD %q: want a positive Go duration such as 30m", v)
		}
		c.Grace = d
	}
	return c, nil
}

// RotationHandler is the Secrets Manager rotation function: the four steps
// map onto the same orchestration as the keys CLI.
//
//	createSecret: finish a previous rotation whose grace has passed; then a new
//	              key pair, its public key uploaded, the secret version stored
//	              under the request token as AWSPENDING (rotate start, part 1)
//	setSecret:    the pending public key joins the key group (rotate start, part 2)
//	testSecret:   the pending key is in the group and its public key verifies
//	              a signature of its private key
//	finishSecret: the pending version becomes AWSCURRENT, the time is recorded (rotate promote)
//
// Every step is idempotent: Secrets Manager retries failed steps.
type RotationHandler struct {
	CF     CloudFrontAPI
	SM     SecretsManagerAPI
	Config RotationConfig
	Now    func() time.Time
	Logger *slog.Logger
}

func (h *RotationHandler) ops(secretID string) (*Ops, *AWS) {
	b := NewAWS(h.CF, h.SM, AWSOptions{SecretID: secretID, KeyGroupID: h.Config.KeyGroupID})
	return &Ops{B: b, Algorithm: h.Config.Algorithm, Grace: h.Config.Grace, Now: h.Now, Name: "cfgate-rotation"}, b
}

func (h *RotationHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// Handle runs one rotation step.
func (h *RotationHandler) Handle(ctx context.Context, ev RotationEvent) error {
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return errors.New("rotation event needs SecretId and ClientRequestToken")
	}
	o, b := h.ops(ev.SecretID)
	log := h.logger().With("step", ev.Step, "version", ev.ClientRequestToken)
	cur, err := o.current(ctx)
	if err != nil {
		return err
	}
	if cur.ID == ev.ClientRequestToken {
		log.Info("version is already current: nothing to do")
		return nil
	}
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return fmt.Errorf("read pending version: %w", err)
	}
	isOurs := pending != nil && pending.ID == ev.ClientRequestToken
	switch ev.Step {
	case "createSecret":
		if isOurs {
			log.Info("pending version exists", "key_pair_id", pending.Secret.KeyPairID)
			return nil
		}
		if r, err := o.Finish(ctx, false); err == nil && len(r.RemovedKeyIDs) > 0 {
			log.Info("finished the previous rotation", "removed", r.RemovedKeyIDs)
		} else if err != nil && !errors.Is(err, ErrTooEarly) {
			return fmt.Errorf("finish the previous rotation: %w", err)
		}
		keys, err := b.GroupKeys(ctx)
		if err != nil {
			return fmt.Errorf("read key group: %w", err)
		}
		st, err := b.State(ctx)
		if err != nil {
			return fmt.Errorf("read rotation state: %w", err)
		}
		if st.RetiringKeyID != "" && slices.Contains(keys, st.RetiringKeyID) && st.RetiringKeyID != cur.Secret.KeyPairID {
			return fmt.Errorf("the previous rotation's key %s is still within its grace period (until %s): rotate less often than GRACE_PERIOD",
				st.RetiringKeyID, st.PromotedAt.Add(o.Grace).UTC().Format(time.RFC3339))
		}
		if len(keys) >= MaxKeysPerGroup {
			return fmt.Errorf("key group has %d keys %v: %w", len(keys), keys, ErrGroupFull)
		}
		alg := o.Algorithm
		if alg == "" {
			alg = cur.Secret.Algorithm
		}
		s, err := o.newKey(ctx, alg, ev.ClientRequestToken)
		if err != nil {
			return err
		}
		if err := b.PutPending(ctx, ev.ClientRequestToken, s); err != nil {
			return err
		}
		log.Info("created pending key", "key_pair_id", s.KeyPairID, "algorithm", alg)
		return nil
	case "setSecret":
		if !isOurs {
			return fmt.Errorf("setSecret: version %s is not AWSPENDING (run createSecret first)", ev.ClientRequestToken)
		}
		if err := b.AddKey(ctx, pending.Secret.KeyPairID); err != nil {
			return fmt.Errorf("setSecret: add %s to the key group: %w", pending.Secret.KeyPairID, err)
		}
		log.Info("pending key is in the key group", "key_pair_id", pending.Secret.KeyPairID)
		return nil
	case "testSecret":
		if !isOurs {
			return fmt.Errorf("testSecret: version %s is not AWSPENDING", ev.ClientRequestToken)
		}
		keys, err := b.GroupKeys(ctx)
		if err != nil {
			return fmt.Errorf("testSecret: read key group: %w", err)
		}
		if !slices.Contains(keys, pending.Secret.KeyPairID) {
			return fmt.Errorf("testSecret: pending key %s is not in the key group", pending.Secret.KeyPairID)
		}
		if err := o.checkPair(ctx, pending.Secret); err != nil {
			return fmt.Errorf("testSecret: %w", err)
		}
		log.Info("pending key verified", "key_pair_id", pending.Secret.KeyPairID)
		return nil
	case "finishSecret":
		if !isOurs {
			return fmt.Errorf("finishSecret: version %s is not AWSPENDING", ev.ClientRequestToken)
		}
		r, err := o.Promote(ctx)
		if err != nil {
			return fmt.Errorf("finishSecret: %w", err)
		}
		log.Info("promoted", "key_pair_id", r.SigningKeyID, "retiring_key_pair_id", r.RetiringKeyID)
		return nil
	}
	return fmt.Errorf("unknown rotation step %q", ev.Step)
}
