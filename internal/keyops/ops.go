package keyops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// Grace is the wait between promote and finish: a viewer may hold a cookie,
// a cookie-less playback URL or a download link signed with the old key
// until every signer has let go of the old key and the longest-lived of
// those signed with it has expired, plus Margin for clock skew.
//
// A signer (internal/keysource) re-reads the secret every KeyCacheTTL, but
// while those reads fail it keeps serving its cached key for up to
// StaleFactor × KeyCacheTTL after the last successful read. What it signs at
// the end of that window lives:
//
//   - a cookie: CookieLifetime, its expiry rounded up to CookieBucket
//     (cfsign.Issuer.Issue): less than CookieLifetime + CookieBucket;
//   - a playback URL: PlaybackTTL, rounded up to the same CookieBucket
//     (cfsign.Issuer.IssueFor, the cookies' policy in a URL): less than
//     PlaybackTTL + CookieBucket;
//   - a download link: DownloadLinkTTL, its expiry rounded down to the
//     second (cfsign.SignURL): at most DownloadLinkTTL.
//
// CloudFront accepts a policy while now < DateLessThan, so
//
//	grace = StaleFactor × KeyCacheTTL
//	      + max(max(CookieLifetime, PlaybackTTL) + CookieBucket, DownloadLinkTTL)
//	      + Margin
//	      = 3 × 5m + (4h + 5m) + 5m = 4h25m with the defaults,
//
// the playback URL being the longest-lived by default. A zero PlaybackTTL
// or DownloadLinkTTL counts as nothing of that kind signed.
type Grace struct {
	KeyCacheTTL     time.Duration
	StaleFactor     int
	CookieLifetime  time.Duration
	CookieBucket    time.Duration
	PlaybackTTL     time.Duration
	DownloadLinkTTL time.Duration
	Margin          time.Duration
}

// DefaultGrace matches the login function's defaults (KEY_CACHE_TTL 5m,
// served stale up to keysource.StaleFactor = 3 TTLs, COOKIE_TTL 10m,
// COOKIE_BUCKET 5m, PLAYBACK_TTL 4h, DOWNLOAD_LINK_TTL 5m) plus a 5m margin:
// 4h25m.
func DefaultGrace() Grace {
	return Grace{KeyCacheTTL: keysource.DefaultTTL, StaleFactor: keysource.StaleFactor,
		CookieLifetime: cfsign.DefaultLifetime, CookieBucket: cfsign.DefaultBucket,
		PlaybackTTL: cfsign.DefaultPlaybackTTL, DownloadLinkTTL: cfsign.DefaultDownloadLinkTTL,
		Margin: 5 * time.Minute}
}

// KeyCache is how long a signer may keep signing with a key after the secret
// changed: StaleFactor × KeyCacheTTL (a StaleFactor below 1 counts as 1).
func (g Grace) KeyCache() time.Duration {
	return time.Duration(max(g.StaleFactor, 1)) * g.KeyCacheTTL
}

// Signed is how long after a signer's last use of the key what it signed
// may still be accepted: max(max(CookieLifetime, PlaybackTTL) +
// CookieBucket, DownloadLinkTTL).
func (g Grace) Signed() time.Duration {
	return max(max(g.CookieLifetime, g.PlaybackTTL)+g.CookieBucket, g.DownloadLinkTTL)
}

// Total is StaleFactor × KeyCacheTTL + Signed() + Margin.
func (g Grace) Total() time.Duration {
	return g.KeyCache() + g.Signed() + g.Margin
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
