package keyops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// KeyStatus is one public key as status reports it.
type KeyStatus struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// AgeSeconds is the key's age in whole seconds (0 when its creation time is unknown).
	AgeSeconds int64 `json:"ageSeconds"`
	// Role: "signing", "pending", "retiring" or "unused" (in the group, but no stage signs with it).
	Role    string `json:"role"`
	InGroup bool   `json:"inGroup"`
	// KMSKeyID is the KMS key that signs for this public key, when a secret
	// version names one ("" for a key held in the secret, or unknown).
	KMSKeyID string `json:"kmsKeyId,omitempty"`
	// KMSKeyState is that KMS key's state (Enabled, PendingDeletion, …).
	KMSKeyState string `json:"kmsKeyState,omitempty"`
}

// Status is the state of the keys and what is safe to do next.
type Status struct {
	KeyGroupID   string      `json:"keyGroupId"`
	SecretID     string      `json:"signingKeySecretArn"`
	Keys         []KeyStatus `json:"keys"`
	SigningKeyID string      `json:"signingKeyId,omitempty"`
	PendingKeyID string      `json:"pendingKeyId,omitempty"`
	Rotation     State       `json:"rotation,omitzero"`
	GraceEndsAt  time.Time   `json:"graceEndsAt,omitzero"`
	// PromoteAllowedAt is when the pending key has had the propagation wait
	// since it joined the key group (zero when no pending key or no record).
	PromoteAllowedAt time.Time `json:"promoteAllowedAt,omitzero"`
	// Next is the safe next step, as a command or a wait.
	Next string    `json:"next"`
	Now  time.Time `json:"now"`
}

// Status reads the key group, the secret's stages and the rotation state.
func (o *Ops) Status(ctx context.Context) (Status, error) {
	now := o.now().UTC()
	s := Status{SecretID: o.B.SecretID(), Now: now}
	gid, err := o.B.GroupID(ctx)
	if err != nil {
		return s, err
	}
	s.KeyGroupID = gid
	cur, err := o.optional(ctx, Current)
	if err != nil {
		return s, fmt.Errorf("read secret: %w", err)
	}
	keys, err := o.groupKeys(ctx)
	if err != nil {
		return s, fmt.Errorf("read key group: %w", err)
	}
	if cur == nil {
		s.Next = "no signing key: run `keys init`"
		for _, id := range keys {
			s.Keys = append(s.Keys, o.keyStatus(ctx, id, "unused", true, now))
		}
		s.SecretID = o.B.SecretID()
		return s, nil
	}
	s.SigningKeyID = cur.Secret.KeyPairID
	pending, err := o.optional(ctx, Pending)
	if err != nil {
		return s, fmt.Errorf("read pending version: %w", err)
	}
	if pending != nil && pending.ID != cur.ID && pending.Secret.KeyPairID != cur.Secret.KeyPairID {
		s.PendingKeyID = pending.Secret.KeyPairID
	}
	st, err := o.B.State(ctx)
	if err != nil {
		return s, fmt.Errorf("read rotation state: %w", err)
	}
	s.Rotation = st
	if s.PendingKeyID != "" {
		s.PromoteAllowedAt, _ = o.PromoteAt(st, s.PendingKeyID)
	}
	if !st.IsZero() {
		s.GraceEndsAt = st.PromotedAt.Add(st.GraceInForce(o.Grace))
	}
	kmsKeys := map[string]string{}
	prev, err := o.optional(ctx, Previous)
	if err != nil {
		return s, fmt.Errorf("read previous version: %w", err)
	}
	for _, v := range []*Version{prev, pending, cur} {
		if v != nil && v.Secret.IsKMS() {
			kmsKeys[v.Secret.KeyPairID] = v.Secret.KMSKeyID
		}
	}
	role := func(id string) string {
		switch id {
		case s.SigningKeyID:
			return "signing"
		case s.PendingKeyID:
			return "pending"
		case st.RetiringKeyID:
			return "retiring"
		}
		return "unused"
	}
	for _, id := range keys {
		s.Keys = append(s.Keys, o.keyStatus(ctx, id, role(id), true, now))
	}
	for _, id := range []string{s.SigningKeyID, s.PendingKeyID} {
		if id != "" && !slices.Contains(keys, id) {
			s.Keys = append(s.Keys, o.keyStatus(ctx, id, role(id), false, now))
		}
	}
	for n := range s.Keys {
		if k := kmsKeys[s.Keys[n].ID]; k != "" {
			s.Keys[n].KMSKeyID, s.Keys[n].KMSKeyState = k, o.kmsKeyState(ctx, k)
		}
	}
	retiringInGroup := st.RetiringKeyID != "" && st.RetiringKeyID != s.SigningKeyID && slices.Contains(keys, st.RetiringKeyID)
	switch {
	case !slices.Contains(keys, s.SigningKeyID):
		s.Next = "DANGER: the signing key is not in the key group (viewers get 403 InvalidKey): run `keys init` to add it back"
	case !st.IsZero() && st.SigningKeyID != s.SigningKeyID:
		s.Next = fmt.Sprintf("a %s was interrupted: run `keys rotate %s` to complete it", st.Step, st.Step)
	case s.PendingKeyID != "" && !slices.Contains(keys, s.PendingKeyID):
		s.Next = "a start was interrupted: run `keys rotate start` to resume it (or `keys rotate abort`)"
	case s.PendingKeyID != "" && s.PromoteAllowedAt.IsZero():
		s.Next = "pending key is in the key group but nothing records since when: run `keys rotate start` to record it, wait the propagation wait, then `keys rotate promote` (or `keys rotate abort`)"
	case s.PendingKeyID != "" && now.Before(s.PromoteAllowedAt):
		s.Next = fmt.Sprintf("pending key is in the key group; CloudFront is deploying it to its edges: wait until %s (%s from now; `keys rotate wait`), then run `keys rotate promote` (or `keys rotate abort`)",
			s.PromoteAllowedAt.Format(time.RFC3339), s.PromoteAllowedAt.Sub(now).Round(time.Second))
	case s.PendingKeyID != "":
		s.Next = "pending key is in the key group and the propagation wait has passed: run `keys rotate promote` (or `keys rotate abort`)"
	case retiringInGroup && now.Before(s.GraceEndsAt):
		s.Next = fmt.Sprintf("wait until %s (%s from now; `keys rotate wait`), then run `keys rotate finish`; meanwhile `keys rotate rollback` is safe",
			s.GraceEndsAt.Format(time.RFC3339), s.GraceEndsAt.Sub(now).Round(time.Second))
	case retiringInGroup:
		s.Next = "grace has passed: run `keys rotate finish`"
	case len(keys) > 1:
		s.Next = "the key group holds keys nothing signs with: `keys rotate finish --force` removes them"
	default:
		s.Next = "nothing in progress: `keys rotate start` begins a rotation"
	}
	s.SecretID = o.B.SecretID() // the ARN now that the secret has been read
	return s, nil
}

func (o *Ops) keyStatus(ctx context.Context, id, role string, inGroup bool, now time.Time) KeyStatus {
	ks := KeyStatus{ID: id, Role: role, InGroup: inGroup}
	pk, err := o.B.PublicKey(ctx, id)
	if err == nil {
		ks.Name, ks.Created = pk.Name, pk.Created.UTC()
		if !pk.Created.IsZero() {
			ks.AgeSeconds = int64(now.Sub(pk.Created) / time.Second)
		}
	} else if errors.Is(err, ErrNotFound) {
		ks.Name = "(public key deleted)"
	}
	return ks
}
