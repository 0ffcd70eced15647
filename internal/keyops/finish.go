package keyops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

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
			return r, fmt.Errorf("%w: key %s stopped signing at %s and viewers may hold cookies, playback URLs or download links signed with it until %s (%s from now); wait, or use --force to revoke it now (viewers holding those cookies get 403 until the player refreshes them; a playback URL or download link signed with it stops working and must be asked for again)",
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
