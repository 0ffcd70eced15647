package keyops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

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
		what = fmt.Sprintf("the last cookies, playback URLs and download links signed with key %s to expire (grace %s since %s)", st.RetiringKeyID, st.GraceInForce(o.Grace), st.PromotedAt.UTC().Format(time.RFC3339))
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
