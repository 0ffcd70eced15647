package keyops

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// Grace is the wait between promote and finish: a viewer may hold a cookie
// signed with the old key until every signer has let go of the old key and
// the last cookie signed with it has expired, plus Margin for clock skew.
//
// A signer (internal/keysource) re-reads the secret every KeyCacheTTL, but
// while those reads fail it keeps serving its cached key for up to
// StaleFactor × KeyCacheTTL after the last successful read; a cookie it signs
// at the end of that window lives CookieLifetime, rounded up to CookieBucket:
//
//	grace = StaleFactor × KeyCacheTTL + CookieLifetime + CookieBucket + Margin
//	      = 3 × 5m + 10m + 5m + 5m = 35m with the defaults.
type Grace struct {
	KeyCacheTTL    time.Duration
	StaleFactor    int
	CookieLifetime time.Duration
	CookieBucket   time.Duration
	Margin         time.Duration
}

// DefaultGrace matches the login function's defaults (KEY_CACHE_TTL 5m,
// served stale up to keysource.StaleFactor = 3 TTLs, COOKIE_TTL 10m,
// COOKIE_BUCKET 5m) plus a 5m margin: 35 minutes.
func DefaultGrace() Grace {
	return Grace{KeyCacheTTL: keysource.DefaultTTL, StaleFactor: keysource.StaleFactor, CookieLifetime: cfsign.DefaultLifetime, CookieBucket: cfsign.DefaultBucket, Margin: 5 * time.Minute}
}

// KeyCache is how long a signer may keep signing with a key after the secret
// changed: StaleFactor × KeyCacheTTL (a StaleFactor below 1 counts as 1).
func (g Grace) KeyCache() time.Duration {
	return time.Duration(max(g.StaleFactor, 1)) * g.KeyCacheTTL
}

// Total is StaleFactor × KeyCacheTTL + CookieLifetime + CookieBucket + Margin.
func (g Grace) Total() time.Duration {
	return g.KeyCache() + g.CookieLifetime + g.CookieBucket + g.Margin
}

// DefaultPropagation is how long promote waits after the new public key
// joined the key group. Assumption: CloudFront deploys a key-group change to
// its edges as it deploys a distribution change, which typically takes a few
// minutes (a distribution shows InProgress meanwhile); 10 minutes leaves
// room. CloudFront offers no call that says when a key group change reached
// every edge, so this is a wait, not a check.
const DefaultPropagation = 10 * time.Minute

// ErrPropagating is returned by Promote before the propagation wait since
// the pending key joined the key group has passed.
var ErrPropagating = errors.New("the new key may not have reached CloudFront's edges yet")

// ErrTooEarly is returned by Finish before the grace period has passed.
var ErrTooEarly = errors.New("grace period has not passed")

// ErrNoSigningKey is returned when the secret or its current version is missing.
var ErrNoSigningKey = errors.New("no signing key")

// Ops runs the key lifecycle against a Backend.
type Ops struct {
	B Backend
	// Algorithm for new keys; "" means the current key's algorithm (RSA-SHA1
	// for init, ECDSA-SHA256 for a KMS key).
	Algorithm cfsign.Algorithm
	// KMS makes and uses signing keys that never leave KMS; nil when the
	// backend has none (local). Needed whenever a secret names a KMS key.
	KMS KMSAPI
	// UseKMS: init makes a KMS key, and rotate start makes a KMS key even
	// when the current key is held in the secret (the migration). Without
	// it a new key is of the current key's kind.
	UseKMS bool
	// Grace is the wait between promote and finish.
	Grace time.Duration
	// Propagation is the wait between the new key joining the key group
	// (start) and promote (DefaultPropagation when 0).
	Propagation time.Duration
	// Sleep waits d or until ctx ends (a real timer when nil).
	Sleep func(ctx context.Context, d time.Duration) error
	// Name prefixes new public key names and names the key group on AWS.
	Name string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Token returns a fresh idempotency token (random when nil).
	Token func() string
}

// Result reports what a step did, for people and (as JSON) for machines.
type Result struct {
	Step          string   `json:"step"`
	Changed       bool     `json:"changed"`
	KeyGroupID    string   `json:"keyGroupId,omitempty"`
	SecretID      string   `json:"signingKeySecretArn,omitempty"`
	SigningKeyID  string   `json:"signingKeyId,omitempty"`
	PendingKeyID  string   `json:"pendingKeyId,omitempty"`
	RetiringKeyID string   `json:"retiringKeyId,omitempty"`
	RemovedKeyIDs []string `json:"removedKeyIds,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	Next          string   `json:"next,omitempty"`
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (o *Ops) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Ops) propagation() time.Duration {
	if o.Propagation > 0 {
		return o.Propagation
	}
	return DefaultPropagation
}

func (o *Ops) sleep(ctx context.Context, d time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recordAdded records that keyID is in the key group as of now (rounded up
// to the second), unless st already records it and justAdded is false; the
// propagation wait runs from the recorded time.
func (o *Ops) recordAdded(ctx context.Context, st State, keyID string, justAdded bool) (State, error) {
	if _, ok := st.Added(keyID); ok && !justAdded {
		return st, nil
	}
	now := o.now().UTC()
	at := now.Truncate(time.Second)
	if at.Before(now) {
		at = at.Add(time.Second) // tags keep whole seconds: round up, never early
	}
	st = st.withAdded(keyID, at)
	if err := o.B.SetState(ctx, st); err != nil {
		return st, fmt.Errorf("record when key %s joined the key group: %w", keyID, err)
	}
	return st, nil
}

func (o *Ops) token() string {
	if o.Token != nil {
		return o.Token()
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (o *Ops) name() string {
	if o.Name == "" {
		return "cfgate"
	}
	return o.Name
}

// optional returns the version with stage, or nil when it does not exist.
func (o *Ops) optional(ctx context.Context, stage Stage) (*Version, error) {
	v, err := o.B.Secret(ctx, stage)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func (o *Ops) current(ctx context.Context) (*Version, error) {
	v, err := o.B.Secret(ctx, Current)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w in %s (run `keys init` first): %w", ErrNoSigningKey, o.B.SecretID(), err)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// groupKeys returns the key group's ids, or nil when there is no group yet.
func (o *Ops) groupKeys(ctx context.Context) ([]string, error) {
	keys, err := o.B.GroupKeys(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return keys, err
}

// newKey generates a key pair and uploads its public key; the private key
// stays in memory and is returned inside the Secret. With useKMS the key is
// made in KMS instead and the Secret only names it.
func (o *Ops) newKey(ctx context.Context, alg cfsign.Algorithm, token string, useKMS bool) (cfsign.Secret, error) {
	if useKMS {
		return o.newKMSKey(ctx, alg, token)
	}
	signer, err := cfsign.GenerateKey(alg)
	if err != nil {
		return cfsign.Secret{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	privPEM, err := cfsign.MarshalPrivateKeyPEM(signer)
	if err != nil {
		return cfsign.Secret{}, fmt.Errorf("marshal private key: %w", err)
	}
	pubPEM, err := cfsign.MarshalPublicKeyPEM(signer.Public())
	if err != nil {
		return cfsign.Secret{}, fmt.Errorf("marshal public key: %w", err)
	}
	name := fmt.Sprintf("%s-%s", o.name(), o.now().UTC().Format("20060102T150405Z"))
	id, err := o.B.CreatePublicKey(ctx, token, name, pubPEM)
	if err != nil {
		return cfsign.Secret{}, fmt.Errorf("create public key: %w", err)
	}
	return cfsign.Secret{KeyPairID: id, PrivateKey: string(privPEM), Algorithm: alg}, nil
}

// Init makes the first key pair, key group and secret; on a second run it
// only repairs what is missing (the key group, or the signing key's place in
// it). export, when not nil, receives the signing key's private PEM (for --out).
func (o *Ops) Init(ctx context.Context, export func(privatePEM []byte) error) (Result, error) {
	r := Result{Step: "init"}
	cur, err := o.optional(ctx, Current)
	if err != nil {
		return r, fmt.Errorf("read secret: %w", err)
	}
	if cur == nil {
		alg := o.Algorithm
		if o.UseKMS {
			alg = kmsAlgorithm(alg)
		} else if alg == "" {
			alg = cfsign.RSASHA1
		}
		if o.UseKMS && export != nil {
			return r, errors.New("a KMS key has no private key to export (drop --out)")
		}
		token := o.token()
		s, err := o.newKey(ctx, alg, token, o.UseKMS)
		if err != nil {
			return r, err
		}
		// Secret before group: if we stop in between, a rerun finds the key
		// in the secret and only adds it to the group; the other order would
		// leave a key in the group whose private key is lost.
		if err := o.B.CreateSecret(ctx, token, s); err != nil {
			return r, fmt.Errorf("create secret: %w", err)
		}
		gid, err := o.B.EnsureGroup(ctx, s.KeyPairID)
		if err != nil {
			return r, fmt.Errorf("key group: %w", err)
		}
		if err := o.tagKMSKey(ctx, s, gid); err != nil {
			return r, err
		}
		r.Changed = true
		if s.IsKMS() {
			r.note("created KMS key %s (%s; the private key never leaves KMS), registered its public key as %s, added it to the key group and named it in the secret", s.KMSKeyID, alg, s.KeyPairID)
		} else {
			r.note("created %s key %s, added it to the key group and stored it in the secret", alg, s.KeyPairID)
		}
		cur = &Version{ID: token, Secret: s}
	} else {
		keys, err := o.groupKeys(ctx)
		if err != nil {
			return r, fmt.Errorf("read key group: %w", err)
		}
		if !slices.Contains(keys, cur.Secret.KeyPairID) {
			if _, err := o.B.PublicKey(ctx, cur.Secret.KeyPairID); err != nil {
				return r, fmt.Errorf("the secret's key %s: %w", cur.Secret.KeyPairID, err)
			}
			if _, err := o.B.EnsureGroup(ctx, cur.Secret.KeyPairID); err != nil {
				return r, fmt.Errorf("key group: %w", err)
			}
			r.Changed = true
			r.note("added the signing key %s to the key group", cur.Secret.KeyPairID)
		} else {
			r.note("already initialised: signing key %s is in the key group", cur.Secret.KeyPairID)
		}
		if others := without(keys, cur.Secret.KeyPairID); len(others) > 0 {
			r.note("the key group also holds %v", others)
		}
		if cur.Secret.IsKMS() {
			gid, err := o.B.GroupID(ctx)
			if err != nil {
				return r, err
			}
			if err := o.tagKMSKey(ctx, cur.Secret, gid); err != nil {
				return r, err
			}
			r.note("the signing key is KMS key %s", cur.Secret.KMSKeyID)
		} else if o.UseKMS {
			r.note("the secret holds a private key: --kms does not replace it; move to a KMS key with `keys rotate start --kms` (keys/RUNBOOK.md)")
		}
	}
	if export != nil {
		if cur.Secret.IsKMS() {
			return r, errors.New("the signing key lives in KMS: there is no private key to export (drop --out)")
		}
		if err := export([]byte(cur.Secret.PrivateKey)); err != nil {
			return r, fmt.Errorf("export private key: %w", err)
		}
	}
	gid, err := o.B.GroupID(ctx)
	if err != nil {
		return r, err
	}
	r.KeyGroupID, r.SecretID, r.SigningKeyID = gid, o.B.SecretID(), cur.Secret.KeyPairID
	r.Next = "deploy with these parameters; rotate later with `keys rotate start`"
	return r, nil
}

// begin starts a rotation step: the current signing key (which must exist)
// and the recorded rotation state.
func (o *Ops) begin(ctx context.Context, step string) (Result, *Version, State, error) {
	r := Result{Step: step}
	cur, err := o.current(ctx)
	if err != nil {
		return r, nil, State{}, err
	}
	st, err := o.B.State(ctx)
	if err != nil {
		return r, nil, State{}, fmt.Errorf("read rotation state: %w", err)
	}
	return r, cur, st, nil
}

// Start makes a new key pair, uploads its public key, stages the secret
// version as pending and adds the key to the key group. A pending version
// left by an interrupted start is reused.
func (o *Ops) Start(ctx context.Context) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate start")
	if err != nil {
		return r, err
	}
	r.SigningKeyID = cur.Secret.KeyPairID
	keys, err := o.B.GroupKeys(ctx)
	if err != nil {
		return r, fmt.Errorf("read key group: %w", err)
	}
	if st.RetiringKeyID != "" && st.RetiringKeyID != cur.Secret.KeyPairID && slices.Contains(keys, st.RetiringKeyID) {
		return r, fmt.Errorf("the previous rotation is not finished: key %s stopped signing at %s and is still in the key group; run `keys rotate finish` (allowed from %s) first",
			st.RetiringKeyID, st.PromotedAt.UTC().Format(time.RFC3339), st.PromotedAt.Add(st.GraceInForce(o.Grace)).UTC().Format(time.RFC3339))
	}
	if !st.IsZero() && st.SigningKeyID != cur.Secret.KeyPairID {
		return r, fmt.Errorf("a %s to key %s was interrupted: run `keys rotate %s` again to complete it", st.Step, st.SigningKeyID, st.Step)
	}
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return r, fmt.Errorf("read pending version: %w", err)
	}
	if pending != nil && pending.ID != cur.ID && pending.Secret.KeyPairID != cur.Secret.KeyPairID {
		// Resume: the new key exists; make sure its public key is in the group.
		if _, err := o.B.PublicKey(ctx, pending.Secret.KeyPairID); err != nil {
			return r, fmt.Errorf("pending key %s: %w (run `keys rotate abort`, then start again)", pending.Secret.KeyPairID, err)
		}
		r.PendingKeyID = pending.Secret.KeyPairID
		inGroup := slices.Contains(keys, pending.Secret.KeyPairID)
		if inGroup {
			r.note("already started: pending key %s is in the key group", pending.Secret.KeyPairID)
		} else {
			if err := o.B.AddKey(ctx, pending.Secret.KeyPairID); err != nil {
				return r, fmt.Errorf("add pending key %s to the key group: %w", pending.Secret.KeyPairID, err)
			}
			r.Changed = true
			r.note("resumed: added pending key %s to the key group", pending.Secret.KeyPairID)
		}
		_, had := st.Added(pending.Secret.KeyPairID)
		if st, err = o.recordAdded(ctx, st, pending.Secret.KeyPairID, !inGroup); err != nil {
			return r, err
		}
		if inGroup && !had {
			r.Changed = true
			r.note("no record of when %s joined the key group: the propagation wait starts now", pending.Secret.KeyPairID)
		}
		r.Next = o.promoteHint(st)
		return r, nil
	}
	if len(keys) >= MaxKeysPerGroup {
		return r, fmt.Errorf("key group has %d public keys %v: %w; remove unused keys first (`keys rotate finish --force` removes keys that no longer sign)", len(keys), keys, ErrGroupFull)
	}
	useKMS, alg := o.newKeyKind(cur.Secret)
	token := o.token()
	s, err := o.newKey(ctx, alg, token, useKMS)
	if err != nil {
		return r, err
	}
	if err := o.B.PutPending(ctx, token, s); err != nil {
		return r, fmt.Errorf("stage pending secret version: %w", err)
	}
	if err := o.B.AddKey(ctx, s.KeyPairID); err != nil {
		return r, fmt.Errorf("add key %s to the key group: %w", s.KeyPairID, err)
	}
	r.Changed = true
	r.PendingKeyID = s.KeyPairID
	if st, err = o.recordAdded(ctx, st, s.KeyPairID, true); err != nil {
		return r, err
	}
	r.note("created %s key %s, staged it as %s and added it to the key group at %s; %s still signs", alg, s.KeyPairID, Pending, st.AddedAt.Format(time.RFC3339), cur.Secret.KeyPairID)
	r.Next = o.promoteHint(st)
	return r, nil
}

// newKeyKind returns whether a rotation's new key lives in KMS (UseKMS, or
// the current key does) and its algorithm: Algorithm, else the current
// key's; for a KMS key one KMS can sign (ECDSA-SHA256 when moving a
// secret-held key without --algorithm).
func (o *Ops) newKeyKind(cur cfsign.Secret) (bool, cfsign.Algorithm) {
	useKMS := o.UseKMS || cur.IsKMS()
	alg := o.Algorithm
	if !useKMS {
		if alg == "" {
			alg = cur.Algorithm
		}
		return false, alg
	}
	if alg == "" && cur.IsKMS() {
		alg = cur.Algorithm
	}
	return true, kmsAlgorithm(alg)
}

// PromoteAt returns when promoting keyID becomes safe: the propagation
// wait after the recorded time keyID joined the key group (false when
// nothing is recorded for keyID).
func (o *Ops) PromoteAt(st State, keyID string) (time.Time, bool) {
	at, ok := st.Added(keyID)
	if !ok {
		return time.Time{}, false
	}
	return at.Add(o.propagation()), true
}

func (o *Ops) promoteHint(st State) string {
	at, _ := o.PromoteAt(st, st.AddedKeyID)
	return fmt.Sprintf("CloudFront needs time to deploy the key group to its edges: at or after %s (propagation wait %s) run `keys rotate promote`; `keys rotate wait` blocks until then",
		at.UTC().Format(time.RFC3339), o.propagation())
}

// Promote makes the pending version current after checking that its public
// key is in the key group and matches its private key, and records the time.
// It refuses (ErrPropagating) before the propagation wait since the key
// joined the key group has passed, unless force.
func (o *Ops) Promote(ctx context.Context, force bool) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate promote")
	if err != nil {
		return r, err
	}
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return r, fmt.Errorf("read pending version: %w", err)
	}
	if pending == nil || pending.ID == cur.ID || pending.Secret.KeyPairID == cur.Secret.KeyPairID {
		if pending != nil {
			if err := o.B.Unstage(ctx, Pending, pending.ID); err != nil {
				return r, fmt.Errorf("drop %s from the current version: %w", Pending, err)
			}
			r.Changed = true
		}
		if st.Step == "promote" && st.SigningKeyID == cur.Secret.KeyPairID {
			r.SigningKeyID, r.RetiringKeyID = cur.Secret.KeyPairID, st.RetiringKeyID
			r.note("already promoted: %s signs since %s", cur.Secret.KeyPairID, st.PromotedAt.UTC().Format(time.RFC3339))
			r.Next = o.finishHint(st)
			return r, nil
		}
		return r, fmt.Errorf("nothing to promote: no pending key (run `keys rotate start` first)")
	}
	keys, err := o.B.GroupKeys(ctx)
	if err != nil {
		return r, fmt.Errorf("read key group: %w", err)
	}
	if !slices.Contains(keys, pending.Secret.KeyPairID) {
		return r, fmt.Errorf("pending key %s is not in the key group: run `keys rotate start` again to finish starting", pending.Secret.KeyPairID)
	}
	if err := o.checkPair(ctx, pending.Secret); err != nil {
		return r, fmt.Errorf("pending key %s failed its test: %w", pending.Secret.KeyPairID, err)
	}
	if err := o.checkPropagated(st, pending.Secret.KeyPairID); err != nil {
		if !force {
			return r, err
		}
		r.note("--force: promoting although %v", err)
	}
	st = State{Step: "promote", SigningKeyID: pending.Secret.KeyPairID, RetiringKeyID: cur.Secret.KeyPairID, PromotedAt: o.now().UTC().Truncate(time.Second), Grace: o.Grace,
		AddedKeyID: st.AddedKeyID, AddedAt: st.AddedAt}
	// Record first: if we stop after this, a rerun promotes again and
	// records a later (safer) time; finish refuses while the state and the
	// secret disagree.
	if err := o.B.SetState(ctx, st); err != nil {
		return r, fmt.Errorf("record rotation state: %w", err)
	}
	if err := o.B.MakeCurrent(ctx, pending.ID); err != nil {
		return r, fmt.Errorf("make %s current: %w", pending.Secret.KeyPairID, err)
	}
	r.Changed = true
	r.SigningKeyID, r.RetiringKeyID = st.SigningKeyID, st.RetiringKeyID
	r.note("%s now signs (signers pick it up within their key cache TTL); %s still verifies", st.SigningKeyID, st.RetiringKeyID)
	r.Next = o.finishHint(st)
	return r, nil
}

// checkPropagated returns an ErrPropagating error unless the propagation
// wait has passed since keyID joined the key group.
func (o *Ops) checkPropagated(st State, keyID string) error {
	at, ok := o.PromoteAt(st, keyID)
	if !ok {
		return fmt.Errorf("%w: nothing records when key %s joined the key group; run `keys rotate start` again (it records the time now), then wait %s",
			ErrPropagating, keyID, o.propagation())
	}
	if now := o.now(); now.Before(at) {
		return fmt.Errorf("%w: key %s joined the key group at %s; wait %s more, until %s (propagation wait %s): run `keys rotate wait`, or promote with --force and accept 403 InvalidKey at edges that do not know the key yet",
			ErrPropagating, keyID, st.AddedAt.UTC().Format(time.RFC3339), at.Sub(now).Round(time.Second), at.UTC().Format(time.RFC3339), o.propagation())
	}
	return nil
}

func (o *Ops) finishHint(st State) string {
	return fmt.Sprintf("check new cookies play, then at or after %s (grace %s) run `keys rotate finish`",
		st.PromotedAt.Add(st.GraceInForce(o.Grace)).UTC().Format(time.RFC3339), st.GraceInForce(o.Grace))
}

// Finish removes the retiring public key from the key group and deletes it,
// once the grace period since promote has passed (or at once with force:
// emergency revocation). With force it also removes keys in the group that
// neither sign nor are pending.
func (o *Ops) Finish(ctx context.Context, force bool) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate finish")
	if err != nil {
		return r, err
	}
	r.SigningKeyID = cur.Secret.KeyPairID
	if !st.IsZero() && st.SigningKeyID != cur.Secret.KeyPairID {
		return r, fmt.Errorf("a %s to key %s was interrupted: run `keys rotate %s` again first", st.Step, st.SigningKeyID, st.Step)
	}
	keys, err := o.B.GroupKeys(ctx)
	if err != nil {
		return r, fmt.Errorf("read key group: %w", err)
	}
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return r, fmt.Errorf("read pending version: %w", err)
	}
	keep := []string{cur.Secret.KeyPairID}
	if pending != nil {
		keep = append(keep, pending.Secret.KeyPairID)
	}
	var remove []string
	if st.RetiringKeyID != "" && !slices.Contains(keep, st.RetiringKeyID) {
		r.RetiringKeyID = st.RetiringKeyID
		if until := st.PromotedAt.Add(st.GraceInForce(o.Grace)); !force && o.now().Before(until) {
			return r, fmt.Errorf("%w: key %s stopped signing at %s and viewers may hold cookies signed with it until %s (%s from now); wait, or use --force to revoke it now (viewers holding those cookies get 403 until the player refreshes them)",
				ErrTooEarly, st.RetiringKeyID, st.PromotedAt.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), until.Sub(o.now()).Round(time.Second))
		}
		remove = append(remove, st.RetiringKeyID)
	}
	var strays []string
	for _, k := range keys {
		if !slices.Contains(keep, k) && !slices.Contains(remove, k) {
			strays = append(strays, k)
		}
	}
	if len(strays) > 0 {
		if force {
			remove = append(remove, strays...)
		} else {
			r.note("the key group also holds %v, which no rotation recorded and no secret stage signs with; `keys rotate finish --force` removes them", strays)
		}
	}
	for _, id := range remove {
		if err := o.B.RemoveKey(ctx, id); err != nil {
			return r, fmt.Errorf("remove key %s from the key group: %w", id, err)
		}
		if err := o.B.DeletePublicKey(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return r, fmt.Errorf("delete public key %s: %w", id, err)
		}
		r.RemovedKeyIDs = append(r.RemovedKeyIDs, id)
	}
	prev, err := o.optional(ctx, Previous)
	if err != nil {
		return r, fmt.Errorf("read previous version: %w", err)
	}
	if prev != nil && prev.ID != cur.ID && slices.Contains(remove, prev.Secret.KeyPairID) {
		// Only now, with its public key out of the key group, may the old
		// KMS key go: first the group, then the key (pending deletion for
		// the longest window, so a mistake can still be cancelled).
		if prev.Secret.IsKMS() && prev.Secret.KMSKeyID != cur.Secret.KMSKeyID {
			scheduled, err := o.retireKMSKey(ctx, prev.Secret.KMSKeyID)
			if err != nil {
				return r, err
			}
			if scheduled {
				r.note("scheduled the deletion of KMS key %s in %d days (kms:CancelKeyDeletion undoes it until then)", prev.Secret.KMSKeyID, KMSDeletionWindowDays)
			}
		}
		if err := o.B.Unstage(ctx, Previous, prev.ID); err != nil {
			return r, fmt.Errorf("drop %s: %w", Previous, err)
		}
	}
	if !st.IsZero() {
		// Keep the record of a pending key's arrival: promote still needs it.
		var keepState State
		if at, ok := st.Added(st.AddedKeyID); ok && pending != nil && pending.Secret.KeyPairID == st.AddedKeyID {
			keepState = keepState.withAdded(st.AddedKeyID, at)
		}
		if err := o.B.SetState(ctx, keepState); err != nil {
			return r, fmt.Errorf("clear rotation state: %w", err)
		}
	}
	r.Changed = len(remove) > 0 || !st.IsZero()
	if len(remove) > 0 {
		r.note("removed %v from the key group and deleted the public keys; %s signs", remove, cur.Secret.KeyPairID)
	} else {
		r.note("nothing to finish: %s signs and no key is retiring", cur.Secret.KeyPairID)
	}
	r.Next = "rotation complete"
	return r, nil
}

// Abort undoes a start that was not promoted: the pending public key leaves
// the key group and is deleted, and the pending version loses its label.
func (o *Ops) Abort(ctx context.Context) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate abort")
	if err != nil {
		return r, err
	}
	r.SigningKeyID = cur.Secret.KeyPairID
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return r, fmt.Errorf("read pending version: %w", err)
	}
	if pending == nil || pending.ID == cur.ID || pending.Secret.KeyPairID == cur.Secret.KeyPairID {
		if st.Step == "promote" && st.SigningKeyID == cur.Secret.KeyPairID {
			return r, fmt.Errorf("nothing to abort: %s was already promoted and signs; use `keys rotate rollback` to sign with %s again", cur.Secret.KeyPairID, st.RetiringKeyID)
		}
		r.note("nothing to abort: no pending key")
		return r, nil
	}
	id := pending.Secret.KeyPairID
	if err := o.B.RemoveKey(ctx, id); err != nil {
		return r, fmt.Errorf("remove pending key %s from the key group: %w", id, err)
	}
	if err := o.B.DeletePublicKey(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("delete public key %s: %w", id, err)
	}
	if pending.Secret.IsKMS() && pending.Secret.KMSKeyID != cur.Secret.KMSKeyID {
		scheduled, err := o.retireKMSKey(ctx, pending.Secret.KMSKeyID)
		if err != nil {
			return r, err
		}
		if scheduled {
			r.note("scheduled the deletion of the unused KMS key %s in %d days", pending.Secret.KMSKeyID, KMSDeletionWindowDays)
		}
	}
	if err := o.B.Unstage(ctx, Pending, pending.ID); err != nil {
		return r, fmt.Errorf("drop %s: %w", Pending, err)
	}
	next := st
	if st.Step == "promote" && st.SigningKeyID == id {
		// A promote recorded but never applied: nothing was signed with id.
		next = State{}
	}
	if next.AddedKeyID == id {
		next.AddedKeyID, next.AddedAt = "", time.Time{}
	}
	if next != st {
		if err := o.B.SetState(ctx, next); err != nil {
			return r, fmt.Errorf("clear rotation state: %w", err)
		}
	}
	r.Changed = true
	r.RemovedKeyIDs = []string{id}
	r.note("aborted: pending key %s removed; %s still signs", id, cur.Secret.KeyPairID)
	r.Next = "nothing in progress"
	return r, nil
}

// Rollback, after promote and before finish, makes the previous key sign
// again. The key that was promoted becomes the retiring key: cookies signed
// with it in the meantime keep working until finish removes it after grace.
func (o *Ops) Rollback(ctx context.Context) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate rollback")
	if err != nil {
		return r, err
	}
	var target string
	switch {
	case st.Step == "rollback" && st.SigningKeyID == cur.Secret.KeyPairID:
		r.SigningKeyID, r.RetiringKeyID = cur.Secret.KeyPairID, st.RetiringKeyID
		r.note("already rolled back: %s signs", cur.Secret.KeyPairID)
		r.Next = o.finishHint(st)
		return r, nil
	case st.Step == "rollback":
		target = st.SigningKeyID // interrupted rollback
	case st.Step == "promote" && st.SigningKeyID == cur.Secret.KeyPairID:
		target = st.RetiringKeyID
	default:
		return r, fmt.Errorf("nothing to roll back: no promote is recorded (before promote, use `keys rotate abort`)")
	}
	prev, err := o.optional(ctx, Previous)
	if err != nil {
		return r, fmt.Errorf("read previous version: %w", err)
	}
	if prev == nil || prev.Secret.KeyPairID != target {
		return r, fmt.Errorf("cannot roll back: the secret's %s version does not hold key %s", Previous, target)
	}
	keys, err := o.B.GroupKeys(ctx)
	if err != nil {
		return r, fmt.Errorf("read key group: %w", err)
	}
	if !slices.Contains(keys, target) {
		return r, fmt.Errorf("cannot roll back: key %s is no longer in the key group (finish already ran); rotate to a new key instead", target)
	}
	st = State{Step: "rollback", SigningKeyID: target, RetiringKeyID: cur.Secret.KeyPairID, PromotedAt: o.now().UTC().Truncate(time.Second), Grace: o.Grace}
	if err := o.B.SetState(ctx, st); err != nil {
		return r, fmt.Errorf("record rotation state: %w", err)
	}
	if err := o.B.MakeCurrent(ctx, prev.ID); err != nil {
		return r, fmt.Errorf("make %s current again: %w", target, err)
	}
	r.Changed = true
	r.SigningKeyID, r.RetiringKeyID = target, st.RetiringKeyID
	r.note("rolled back: %s signs again; %s still verifies until finish", target, st.RetiringKeyID)
	r.Next = o.finishHint(st)
	return r, nil
}

// checkPair verifies that the public key CloudFront holds for s.KeyPairID is
// the public half of s's private key, by a sign/verify round trip over a
// test policy with the algorithm's hash. For a KMS key the signature is
// made by KMS, and KMS's public key must also equal CloudFront's.
func (o *Ops) checkPair(ctx context.Context, s cfsign.Secret) error {
	key, kmsPub, err := o.signerOf(ctx, s)
	if err != nil {
		return err
	}
	pk, err := o.B.PublicKey(ctx, s.KeyPairID)
	if err != nil {
		return fmt.Errorf("fetch public key: %w", err)
	}
	pub, err := parsePublicKeyPEM(pk.PEM)
	if err != nil {
		return fmt.Errorf("public key %s: %w", s.KeyPairID, err)
	}
	if s.IsKMS() {
		same, err := samePublicKey(kmsPub, pk.PEM)
		if err != nil || !same {
			return fmt.Errorf("CloudFront's public key %s is not KMS key %s's public key", s.KeyPairID, s.KMSKeyID)
		}
	}
	policy := []byte(`{"Statement":[{"Resource":"https://cfgate.invalid/keys-test","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`)
	sig, err := key.SignPolicy(policy)
	if err != nil {
		return fmt.Errorf("sign test policy: %w", err)
	}
	if err := cfsign.Verify(s.Algorithm, pub, policy, sig); err != nil {
		return fmt.Errorf("the uploaded public key does not verify the private key's signature")
	}
	return nil
}

func parsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM PUBLIC KEY")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// Wait blocks until the next step of the rotation in progress is safe:
// promote once the propagation wait since the pending key joined the key
// group has passed, or finish once the grace period since promote has
// passed. With keyCache > 0 it waits instead until keyCache after promote,
// when login functions have loaded the new key (the emergency runbook's
// wait before `finish --force`). progress receives a line now and then.
func (o *Ops) Wait(ctx context.Context, keyCache time.Duration, progress func(line string)) (Result, error) {
	r, cur, st, err := o.begin(ctx, "rotate wait")
	if err != nil {
		return r, err
	}
	r.SigningKeyID = cur.Secret.KeyPairID
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return r, fmt.Errorf("read pending version: %w", err)
	}
	keys, err := o.B.GroupKeys(ctx)
	if err != nil {
		return r, fmt.Errorf("read key group: %w", err)
	}
	promoted := !st.IsZero() && st.SigningKeyID == cur.Secret.KeyPairID
	var (
		target     time.Time
		what, next string
	)
	switch {
	case keyCache > 0:
		if !promoted {
			return r, errors.New("--key-cache waits after a promote (or rollback), and none is recorded")
		}
		target = st.PromotedAt.Add(keyCache)
		what = fmt.Sprintf("login functions to load key %s (key cache %s since %s)", cur.Secret.KeyPairID, keyCache, st.PromotedAt.UTC().Format(time.RFC3339))
		next = "check that a fresh cookie carries CloudFront-Key-Pair-Id=" + cur.Secret.KeyPairID + " (`keys explain`)"
	case pending != nil && pending.ID != cur.ID && pending.Secret.KeyPairID != cur.Secret.KeyPairID:
		r.PendingKeyID = pending.Secret.KeyPairID
		if !slices.Contains(keys, pending.Secret.KeyPairID) {
			return r, fmt.Errorf("pending key %s is not in the key group: run `keys rotate start` again to finish starting", pending.Secret.KeyPairID)
		}
		at, ok := o.PromoteAt(st, pending.Secret.KeyPairID)
		if !ok {
			return r, o.checkPropagated(st, pending.Secret.KeyPairID)
		}
		target = at
		what = fmt.Sprintf("CloudFront to deploy key %s to its edges (propagation wait %s since %s)", pending.Secret.KeyPairID, o.propagation(), st.AddedAt.UTC().Format(time.RFC3339))
		next = "`keys rotate promote`"
	case promoted && st.RetiringKeyID != "" && slices.Contains(keys, st.RetiringKeyID):
		r.RetiringKeyID = st.RetiringKeyID
		target = st.PromotedAt.Add(st.GraceInForce(o.Grace))
		what = fmt.Sprintf("the last cookies signed with key %s to expire (grace %s since %s)", st.RetiringKeyID, st.GraceInForce(o.Grace), st.PromotedAt.UTC().Format(time.RFC3339))
		next = "`keys rotate finish`"
	default:
		r.note("nothing to wait for: no pending key and no retiring key")
		r.Next = "`keys status`"
		return r, nil
	}
	for {
		now := o.now()
		if !now.Before(target) {
			break
		}
		left := target.Sub(now)
		if progress != nil {
			progress(fmt.Sprintf("waiting for %s: %s left (until %s)", what, left.Round(time.Second), target.UTC().Format(time.RFC3339)))
		}
		if err := o.sleep(ctx, min(left, waitProgressEvery)); err != nil {
			return r, fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
	r.note("done waiting for %s", what)
	r.Next = next
	return r, nil
}

// waitProgressEvery is how often Wait reports progress.
const waitProgressEvery = 30 * time.Second
