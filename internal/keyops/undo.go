package keyops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

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
