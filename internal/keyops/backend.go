package keyops

import (
	"context"
	"errors"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// MaxKeysPerGroup is CloudFront's limit of public keys in one key group.
const MaxKeysPerGroup = 5

// Errors a Backend returns (wrapped); test with errors.Is.
var (
	// ErrNotFound: the secret, a secret stage, the key group or a public key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrGroupFull: the key group already holds MaxKeysPerGroup public keys.
	ErrGroupFull = errors.New("key group is full (CloudFront allows 5 public keys per key group)")
	// ErrConflict: the key group kept changing under us (ETag mismatch) after retries.
	ErrConflict = errors.New("key group was modified concurrently")
	// ErrKeyInUse: a public key is still in a key group.
	ErrKeyInUse = errors.New("public key is still in a key group")
)

// Stage is a Secrets Manager staging label.
type Stage string

// The staging labels cfgate uses.
const (
	Current  Stage = "AWSCURRENT"
	Pending  Stage = "AWSPENDING"
	Previous Stage = "AWSPREVIOUS"
)

// Version is one version of the signing-key secret.
type Version struct {
	// ID is the secret version id (AWS) or the key pair id (local).
	ID     string
	Secret cfsign.Secret
}

// PublicKey is a CloudFront public key.
type PublicKey struct {
	ID      string
	Name    string
	PEM     []byte
	Created time.Time
}

// State is the record of the last promote or rollback, kept where every
// backend's readers can see it (AWS: tags on the secret; local: rotation.json).
// The zero State means no rotation is in progress.
type State struct {
	// Step is "promote" or "rollback".
	Step string `json:"step,omitempty"`
	// SigningKeyID is the key pair id that signs after the step.
	SigningKeyID string `json:"signingKeyId,omitempty"`
	// RetiringKeyID is the key pair id that stopped signing at PromotedAt and
	// is removed by finish once the grace period has passed.
	RetiringKeyID string `json:"retiringKeyId,omitempty"`
	// PromotedAt is when the signing key changed.
	PromotedAt time.Time `json:"promotedAt,omitzero"`
	// AddedKeyID is the key pair id that the last start (or setSecret) put
	// into the key group, and AddedAt when it got there: promote waits for
	// CloudFront to propagate the key group to its edges from AddedAt on.
	AddedKeyID string    `json:"addedKeyId,omitempty"`
	AddedAt    time.Time `json:"addedAt,omitzero"`
	// Grace is the grace period in force when the signing key changed,
	// recorded by promote and rollback from the settings of whoever changed
	// it (for the rotation function, the deployed stack's): finish waits for
	// it rather than for its own flags, so a stack whose cookies live longer
	// than the defaults assume is not cut short by a finish run with them.
	Grace time.Duration `json:"grace,omitempty"`
}

// GraceInForce is the grace period finish waits after PromotedAt: the
// recorded one; own only when none is recorded (a promote by an older version).
func (s State) GraceInForce(own time.Duration) time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return own
}

// IsZero reports whether no promote or rollback is recorded (the record of
// the last key added to the group aside).
func (s State) IsZero() bool { return s.RetiringKeyID == "" && s.SigningKeyID == "" }

// Empty reports whether nothing at all is recorded: backends then delete the record.
func (s State) Empty() bool { return s.IsZero() && s.AddedKeyID == "" && s.AddedAt.IsZero() }

// Added returns when keyID joined the key group, if this State records it.
func (s State) Added(keyID string) (time.Time, bool) {
	if keyID == "" || s.AddedKeyID != keyID || s.AddedAt.IsZero() {
		return time.Time{}, false
	}
	return s.AddedAt, true
}

// withAdded returns s recording that keyID joined the key group at t.
func (s State) withAdded(keyID string, t time.Time) State {
	s.AddedKeyID, s.AddedAt = keyID, t
	return s
}

// Backend is where keys live. Methods are idempotent where noted; errors
// wrap the sentinel errors above.
type Backend interface {
	// GroupID returns the key group id ("" when no group exists yet).
	GroupID(ctx context.Context) (string, error)
	// SecretID returns the secret's ARN (AWS) or file path (local).
	SecretID() string

	// GroupKeys returns the public key ids in the key group (ErrNotFound when there is no group).
	GroupKeys(ctx context.Context) ([]string, error)
	// EnsureGroup creates the key group holding keyID, or adds keyID to the existing group.
	EnsureGroup(ctx context.Context, keyID string) (groupID string, err error)
	// AddKey adds keyID to the group (idempotent; ErrGroupFull).
	AddKey(ctx context.Context, keyID string) error
	// RemoveKey removes keyID from the group (idempotent).
	RemoveKey(ctx context.Context, keyID string) error

	// CreatePublicKey uploads a public key. ref makes the call idempotent per attempt.
	CreatePublicKey(ctx context.Context, ref, name string, pem []byte) (id string, err error)
	// PublicKey fetches a public key (ErrNotFound).
	PublicKey(ctx context.Context, id string) (*PublicKey, error)
	// DeletePublicKey deletes a public key (idempotent; ErrKeyInUse while in a group).
	DeletePublicKey(ctx context.Context, id string) error

	// CreateSecret creates the secret with s as its current version (idempotent per token).
	CreateSecret(ctx context.Context, token string, s cfsign.Secret) error
	// Secret returns the version carrying stage (ErrNotFound when the secret or the stage is missing).
	Secret(ctx context.Context, stage Stage) (*Version, error)
	// PutPending stores s as a new version labelled Pending (idempotent per token).
	PutPending(ctx context.Context, token string, s cfsign.Secret) error
	// MakeCurrent moves Current to versionID (the old current becomes Previous) and drops Pending from versionID.
	MakeCurrent(ctx context.Context, versionID string) error
	// Unstage removes stage from versionID (idempotent).
	Unstage(ctx context.Context, stage Stage, versionID string) error

	// State returns the recorded rotation state (zero when none).
	State(ctx context.Context) (State, error)
	// SetState records st (the zero State clears it).
	SetState(ctx context.Context, st State) error
}
