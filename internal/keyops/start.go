package keyops

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
)

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
