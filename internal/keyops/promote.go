package keyops

import (
	"context"
	"fmt"
	"slices"
	"time"
)

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
