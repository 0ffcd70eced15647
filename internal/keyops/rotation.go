package keyops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
// KEY_ALGORITHM, GRACE_PERIOD, PROPAGATION_WAIT).
type RotationConfig struct {
	KeyGroupID string
	Algorithm  cfsign.Algorithm
	Grace      time.Duration
	// Propagation is how long testSecret waits after setSecret put the new
	// key into the key group, so that finishSecret promotes only a key that
	// CloudFront's edges know.
	Propagation time.Duration
}

// RotationConfigFromEnv reads the rotation function's configuration once,
// failing loudly on a bad value. KEY_GROUP_ID is optional (the secret's
// cfgate:key-group-id tag is used when it is empty). KEY_ALGORITHM empty (the
// default) keeps the current key's algorithm, the one chosen at `keys init`.
// GRACE_PERIOD defaults to DefaultGrace().Total() (4h25m) and is raised to
// the grace that the login function's settings imply when any of them is
// set: COOKIE_TTL, COOKIE_BUCKET, KEY_CACHE_TTL, PLAYBACK_TTL and
// DOWNLOAD_LINK_TTL, read as the login function reads them
// (internal/loginconfig; the template passes the login function's values).
// PROPAGATION_WAIT defaults to DefaultPropagation (10m). Promote records the
// grace on the secret, and finish waits for it.
func RotationConfigFromEnv(getenv func(string) string) (RotationConfig, error) {
	c := RotationConfig{KeyGroupID: getenv("KEY_GROUP_ID"), Grace: DefaultGrace().Total(), Propagation: DefaultPropagation}
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
			return c, fmt.Errorf("GRACE_PERIOD %q: want a positive Go duration such as 4h25m", v)
		}
		c.Grace = d
	}
	// The login function's settings, which the template passes too: the
	// grace must cover what it signs, whatever GRACE_PERIOD says.
	g, fromStack, err := StackGrace(getenv)
	if err != nil {
		return c, err
	}
	if fromStack {
		c.Grace = max(c.Grace, g.Total())
	}
	if v := getenv("PROPAGATION_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("PROPAGATION_WAIT %q: want a positive Go duration such as 10m", v)
		}
		c.Propagation = d
	}
	return c, nil
}

// StackGrace is DefaultGrace with the login function's settings that getenv
// gives (COOKIE_TTL, COOKIE_BUCKET, KEY_CACHE_TTL, PLAYBACK_TTL,
// DOWNLOAD_LINK_TTL), parsed and checked as internal/loginconfig does: a
// positive Go duration (surrounding spaces ignored); COOKIE_BUCKET and
// DOWNLOAD_LINK_TTL whole seconds; PLAYBACK_TTL at least 1m. set reports
// whether any of them was given.
func StackGrace(getenv func(string) string) (g Grace, set bool, err error) {
	g = DefaultGrace()
	for _, v := range []struct {
		name  string
		dst   *time.Duration
		check func(time.Duration) string
	}{
		{"COOKIE_TTL", &g.CookieLifetime, nil},
		{"COOKIE_BUCKET", &g.CookieBucket, wholeSeconds},
		{"KEY_CACHE_TTL", &g.KeyCacheTTL, nil},
		{"PLAYBACK_TTL", &g.PlaybackTTL, func(d time.Duration) string {
			if d < time.Minute {
				return "must be at least 1m"
			}
			return ""
		}},
		{"DOWNLOAD_LINK_TTL", &g.DownloadLinkTTL, wholeSeconds},
	} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		d, perr := time.ParseDuration(s)
		if perr != nil || d <= 0 {
			return g, set, fmt.Errorf("%s %q: want a positive Go duration", v.name, s)
		}
		if v.check != nil {
			if msg := v.check(d); msg != "" {
				return g, set, fmt.Errorf("%s %q: %s", v.name, s, msg)
			}
		}
		*v.dst, set = d, true
	}
	return g, set, nil
}

func wholeSeconds(d time.Duration) string {
	if d%time.Second != 0 {
		return "must be a whole number of seconds"
	}
	return ""
}

// RotationHandler is the Secrets Manager rotation function: the four steps
// map onto the same orchestration as the keys CLI.
//
//	createSecret: finish a previous rotation whose grace has passed; then a new
//	              key pair, its public key uploaded, the secret version stored
//	              under the request token as AWSPENDING (rotate start, part 1)
//	setSecret:    the pending public key joins the key group and the time is
//	              recorded (rotate start, part 2)
//	testSecret:   the pending key is in the group and its public key verifies
//	              a signature of its private key; then it waits until
//	              Config.Propagation has passed since setSecret (rotate wait),
//	              or fails at once when the invocation's deadline comes first
//	finishSecret: the pending version becomes AWSCURRENT, the time is recorded
//	              (rotate promote, which also refuses before the propagation wait)
//
// Every step is idempotent: Secrets Manager retries failed steps. The old
// key stays in the key group after finishSecret: the next rotation's
// createSecret removes it, or `keys rotate finish` after the grace period.
type RotationHandler struct {
	CF CloudFrontAPI
	SM SecretsManagerAPI
	// KMS is needed once the secret names a KMS key: createSecret then
	// makes the new key in KMS, and testSecret signs through it.
	KMS    KMSAPI
	Config RotationConfig
	Now    func() time.Time
	// Sleep waits d or until ctx ends (a real timer when nil).
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// rotationDeadlineMargin is the time testSecret keeps for itself after its
// wait, before the invocation's deadline.
const rotationDeadlineMargin = 30 * time.Second

func (h *RotationHandler) ops(secretID string) (*Ops, *AWS) {
	b := NewAWS(h.CF, h.SM, AWSOptions{SecretID: secretID, KeyGroupID: h.Config.KeyGroupID})
	return &Ops{B: b, KMS: h.KMS, Algorithm: h.Config.Algorithm, Grace: h.Config.Grace, Propagation: h.Config.Propagation, Sleep: h.Sleep, Now: h.Now, Name: "cfgate-rotation"}, b
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
	pending, pendingErr := o.optional(ctx, Pending)
	if ev.Step == "testSecret" {
		if test, err := isConfigurationTest(ctx, b, ev.ClientRequestToken, cur, pending, pendingErr); err != nil {
			return fmt.Errorf("testSecret: %w", err)
		} else if test {
			// RotateImmediatelyOnUpdate false: Secrets Manager checks a new
			// rotation configuration by calling only testSecret, on a
			// pending version it made itself (no value, or a copy of the
			// current one). Nothing of ours to test: no tags, no wait.
			log.Info("rotation configuration test: the function is reachable and configured; no key to test")
			return nil
		}
	}
	if pendingErr != nil {
		return fmt.Errorf("read pending version: %w", pendingErr)
	}
	isOurs := pending != nil && pending.ID == ev.ClientRequestToken
	switch ev.Step {
	case "createSecret":
		if isOurs {
			log.Info("pending version exists", "keyPairId", pending.Secret.KeyPairID)
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
			return fmt.Errorf("the previous rotation's key %s is still within its grace period of %s (until %s), which covers the cookies, playback URLs and download links signed with it: schedule rotations further apart than the grace",
				st.RetiringKeyID, st.GraceInForce(o.Grace), st.PromotedAt.Add(st.GraceInForce(o.Grace)).UTC().Format(time.RFC3339))
		}
		if len(keys) >= MaxKeysPerGroup {
			return fmt.Errorf("key group has %d keys %v: %w", len(keys), keys, ErrGroupFull)
		}
		if cur.Secret.IsKMS() && o.Algorithm == cfsign.RSASHA1 {
			// KMS cannot sign RSA-SHA1 (the template's default
			// KEY_ALGORITHM): a KMS key is replaced by one of its own kind.
			o.Algorithm = ""
		}
		// Never a downgrade: an empty or weaker configured algorithm
		// keeps the current key's.
		o.Algorithm = rotationAlgorithm(o.Algorithm, cur.Secret.Algorithm, log)
		useKMS, alg := o.newKeyKind(cur.Secret)
		s, err := o.newKey(ctx, alg, ev.ClientRequestToken, useKMS)
		if err != nil {
			return err
		}
		if err := b.PutPending(ctx, ev.ClientRequestToken, s); err != nil {
			return err
		}
		log.Info("created pending key", "keyPairId", s.KeyPairID, "algorithm", alg)
		return nil
	case "setSecret":
		if !isOurs {
			return fmt.Errorf("setSecret: version %s is not AWSPENDING (run createSecret first)", ev.ClientRequestToken)
		}
		keys, err := b.GroupKeys(ctx)
		if err != nil {
			return fmt.Errorf("setSecret: read key group: %w", err)
		}
		inGroup := slices.Contains(keys, pending.Secret.KeyPairID)
		if !inGroup {
			if err := b.AddKey(ctx, pending.Secret.KeyPairID); err != nil {
				return fmt.Errorf("setSecret: add %s to the key group: %w", pending.Secret.KeyPairID, err)
			}
		}
		st, err := b.State(ctx)
		if err != nil {
			return fmt.Errorf("setSecret: read rotation state: %w", err)
		}
		if st, err = o.recordAdded(ctx, st, pending.Secret.KeyPairID, !inGroup); err != nil {
			return fmt.Errorf("setSecret: %w", err)
		}
		at, _ := o.PromoteAt(st, pending.Secret.KeyPairID)
		log.Info("pending key is in the key group", "keyPairId", pending.Secret.KeyPairID, "addedAt", st.AddedAt, "promoteAllowedAt", at)
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
		log.Info("pending key verified", "keyPairId", pending.Secret.KeyPairID)
		if err := h.awaitPropagation(ctx, o, b, pending.Secret.KeyPairID, log); err != nil {
			return fmt.Errorf("testSecret: %w", err)
		}
		return nil
	case "finishSecret":
		if !isOurs {
			return fmt.Errorf("finishSecret: version %s is not AWSPENDING", ev.ClientRequestToken)
		}
		r, err := o.Promote(ctx, false)
		if err != nil {
			return fmt.Errorf("finishSecret: %w", err)
		}
		log.Info("promoted; the old key stays in the key group until the next rotation's createSecret or `keys rotate finish`",
			"keyPairId", r.SigningKeyID, "retiringKeyPairId", r.RetiringKeyID, "finishAllowedAt", o.now().UTC().Add(o.Grace))
		return nil
	}
	return fmt.Errorf("unknown rotation step %q", ev.Step)
}

// awaitPropagation waits until the propagation wait since keyID joined the
// key group has passed. When the invocation's deadline would come first it
// fails at once, so that the step fails (and Secrets Manager retries the
// rotation) rather than finishSecret promoting a key the edges may not know.
func (h *RotationHandler) awaitPropagation(ctx context.Context, o *Ops, b *AWS, keyID string, log *slog.Logger) error {
	st, err := b.State(ctx)
	if err != nil {
		return fmt.Errorf("read rotation state: %w", err)
	}
	if _, ok := st.Added(keyID); !ok {
		// setSecret ran without recording (an older version): start the wait now.
		if st, err = o.recordAdded(ctx, st, keyID, false); err != nil {
			return err
		}
	}
	target, _ := o.PromoteAt(st, keyID)
	left := target.Sub(o.now())
	if left <= 0 {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok {
		if remaining := time.Until(deadline) - rotationDeadlineMargin; remaining < left {
			return fmt.Errorf("%w: key %s joined the key group at %s and the propagation wait (PROPAGATION_WAIT %s) ends at %s, %s from now, but this invocation has only %s left: failing so that Secrets Manager retries the rotation (give the function a Timeout of at least PROPAGATION_WAIT + 2m, max 900s)",
				ErrPropagating, keyID, st.AddedAt.UTC().Format(time.RFC3339), o.propagation(), target.UTC().Format(time.RFC3339), left.Round(time.Second), max(remaining, 0).Round(time.Second))
		}
	}
	_, err = o.Wait(ctx, 0, func(line string) { log.Info(line, "keyPairId", keyID) })
	if err != nil {
		return err
	}
	return o.checkPropagated(st, keyID)
}

// isConfigurationTest reports whether a testSecret call is Secrets Manager's
// test of a rotation configuration rather than a step of a rotation of ours:
// the token's version is AWSPENDING but holds no value this function put
// there (none, not a signing-key secret, or the current key's copy; our
// createSecret always stores a new key pair).
func isConfigurationTest(ctx context.Context, b *AWS, token string, cur, pending *Version, pendingErr error) (bool, error) {
	stages, err := b.stages(ctx)
	if err != nil {
		return false, fmt.Errorf("read version stages: %w", err)
	}
	if !slices.Contains(stages[token], string(Pending)) {
		return false, nil
	}
	switch {
	case pendingErr != nil, pending == nil, pending.ID != token:
		return true, nil
	case pending.Secret.KeyPairID == cur.Secret.KeyPairID:
		return true, nil
	}
	return false, nil
}

// algorithmRank orders algorithms by strength: SHA-1 signatures are the weak ones.
func algorithmRank(a cfsign.Algorithm) int {
	if a == cfsign.RSASHA1 {
		return 0
	}
	return 1
}

// rotationAlgorithm is the algorithm of a rotation's new key: the configured
// one, or the current key's when none is configured (KEY_ALGORITHM empty) or
// when the configured one would be a downgrade from it (logged), so that
// scheduled rotation never weakens a key chosen at `keys init`.
func rotationAlgorithm(configured, current cfsign.Algorithm, log *slog.Logger) cfsign.Algorithm {
	switch {
	case configured == "":
		return current
	case current != "" && algorithmRank(configured) < algorithmRank(current):
		log.Warn("KEY_ALGORITHM would downgrade the signing key: keeping the current key's algorithm", "configured", string(configured), "current", string(current))
		return current
	}
	return configured
}
