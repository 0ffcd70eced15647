package keygroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
)

// KeysReader reads a key group's public key ids and each public key's PEM;
// *Client does.
type KeysReader interface {
	GroupReader
	PublicKey(ctx context.Context, id string) (string, error)
}

// PublicKeysMaxAge is how long the keys read are used before the next
// request reads the group again: a key removed from the group stops opening
// playlists within it (CloudFront refuses its segments at once).
const PublicKeysMaxAge = 5 * time.Minute

// PublicKeys are the public keys of the key group that /courses/* trusts,
// read from CloudFront, for the playlist route's stateless check of playback
// URLs (api.TrustedKeys): the same keys CloudFront checks the segments
// against.
//
// The group and its keys are read on the first request that needs them
// (one GetKeyGroup and one GetPublicKey per key), not at cold start. They
// are read again when a request names a key pair id that is not among them
// (a rotation adds its new key to the group before signing with it) or
// when they are PublicKeysMaxAge old, at most once every 30 seconds; a
// public key already read is not fetched again (CloudFront public keys
// cannot be changed, only replaced). Until a first read succeeds every
// request fails (closed); after that, a failed re-read keeps the keys of
// the last read (logged) and is retried 30 seconds later. Safe for
// concurrent use.
type PublicKeys struct {
	cf      KeysReader
	groupID string
	logger  *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	keys     verifier.KeyMap // nil until a read succeeds
	read     time.Time       // when keys were read
	nextRead time.Time       // no read before this
	calls    int
}

// NewPublicKeys returns the keys of group groupID read through cf. A nil
// logger discards; a nil now means time.Now.
func NewPublicKeys(cf KeysReader, groupID string, logger *slog.Logger, now func() time.Time) *PublicKeys {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &PublicKeys{cf: cf, groupID: groupID, logger: logger, now: now}
}

// Calls reports how many CloudFront calls were made (for tests and
// BENCHMARKS.md).
func (p *PublicKeys) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Trusted returns the group's keys, read again first when keyPairID is
// not among them or they are old (see PublicKeys).
func (p *PublicKeys) Trusted(ctx context.Context, keyPairID string) (verifier.Keys, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	_, known := p.keys[keyPairID]
	if p.keys != nil && known && now.Sub(p.read) < PublicKeysMaxAge {
		return p.keys, nil
	}
	if now.Before(p.nextRead) {
		if p.keys == nil {
			return nil, fmt.Errorf("key group %s unreadable; next read after %s", p.groupID, p.nextRead.Format(time.RFC3339))
		}
		return p.keys, nil // an unknown id is then refused (InvalidKey)
	}
	p.nextRead = now.Add(retryAfter)
	keys, err := p.load(ctx)
	if err != nil {
		if p.keys == nil {
			p.logger.Error("cannot read the distribution's key group; the playlist route answers 503 until it can", "keyGroupId", p.groupID, "error", err.Error())
			return nil, err
		}
		p.logger.Warn("cannot read the distribution's key group again; using the keys read before", "keyGroupId", p.groupID, "error", err.Error())
		return p.keys, nil
	}
	p.keys, p.read = keys, now
	return keys, nil
}

// load reads the group, and each public key not read before.
func (p *PublicKeys) load(ctx context.Context) (verifier.KeyMap, error) {
	p.calls++
	ids, err := p.cf.KeyGroupKeys(ctx, p.groupID)
	if err != nil {
		return nil, fmt.Errorf("read key group %s: %w", p.groupID, err)
	}
	keys := make(verifier.KeyMap, len(ids))
	for _, id := range ids {
		if k, ok := p.keys[id]; ok {
			keys[id] = k
			continue
		}
		p.calls++
		pemText, err := p.cf.PublicKey(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("read public key %s of key group %s: %w", id, p.groupID, err)
		}
		k, err := verifier.ParsePublicKeyPEM([]byte(pemText))
		if err != nil {
			// A key CloudFront holds but this check cannot use: it
			// opens nothing here (fail closed), the others still work.
			p.logger.Error("public key of the key group not usable by the playlist route", "keyPairId", id, "error", err.Error())
			continue
		}
		keys[id] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("key group " + p.groupID + " has no usable public key")
	}
	return keys, nil
}
