// Package keygroup checks, in the login function, that the key pair id it
// signs with is one of the public keys of the key group that the
// distribution's /courses/* behavior trusts (KEY_GROUP_ID). A key outside the
// group makes CloudFront refuse every signed cookie with 403 while the
// function and the API report only 200s: an outage no alarm sees. The check
// turns it into a 503 on /access (counted by the 5xx alarm) and one error
// log line naming both ids.
//
// The group is read once (one CloudFront GetKeyGroup call) and cached. It is
// read again only when the signing key's id is not in the cached group (a
// rotation adds the new key to the group before it signs; an operator may
// fix the group), at most every 30 seconds while the key stays outside the
// group or the read fails.
package keygroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// retryAfter spaces out CloudFront reads after a failed one.
const retryAfter = 30 * time.Second

// GroupReader reads a key group's public key ids; *Client does.
type GroupReader interface {
	KeyGroupKeys(ctx context.Context, id string) ([]string, error)
}

// KeyProvider is api.KeyProvider (repeated here to avoid the import).
type KeyProvider interface {
	Key(ctx context.Context) (*cfsign.Key, error)
}

// ErrNotInGroup means the signing key's id is not in the key group.
var ErrNotInGroup = errors.New("signing key is not in the distribution's key group")

// Checked is a KeyProvider that gives out a key only if its id is in the
// key group. It is safe for concurrent use.
type Checked struct {
	keys    KeyProvider
	cf      GroupReader
	groupID string
	logger  *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	items    []string        // the group's public key ids, once read
	nextRead time.Time       // no read before this after a failed or fruitless one
	logged   map[string]bool // key ids already reported
	reads    int
}

// New wraps keys. A nil logger discards; a nil now means time.Now.
func New(keys KeyProvider, cf GroupReader, groupID string, logger *slog.Logger, now func() time.Time) *Checked {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Checked{keys: keys, cf: cf, groupID: groupID, logger: logger, now: now, logged: map[string]bool{}}
}

// Reads reports how many times the key group was read (for tests and the
// cold-start log).
func (c *Checked) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// Warm reads the key group if it has not been read yet, without waiting for
// the signing key: the login function's init calls it alongside the secret's
// read, so that the check costs no second round of calls. A Key call that
// comes while the read is under way waits for it rather than reading again.
// A failure is logged and spaces out the next read, as in Key.
func (c *Checked) Warm(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items != nil || c.now().Before(c.nextRead) {
		return nil
	}
	return c.read(ctx)
}

// read reads the group; c.mu is held.
func (c *Checked) read(ctx context.Context) error {
	c.reads++
	items, err := c.cf.KeyGroupKeys(ctx, c.groupID)
	if err != nil {
		c.nextRead = c.now().Add(retryAfter)
		c.logger.Error("cannot read the distribution's key group; /access answers 503 until it can", "keyGroupId", c.groupID, "error", err.Error())
		return fmt.Errorf("read key group %s: %w", c.groupID, err)
	}
	c.items = append([]string{}, items...)
	return nil
}

// Key returns the signing key if its id is in the key group. Otherwise the
// error wraps keysource.ErrUnavailable (the API answers 503) and
// ErrNotInGroup, or the read's error.
func (c *Checked) Key(ctx context.Context) (*cfsign.Key, error) {
	k, err := c.keys.Key(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.check(ctx, k.ID); err != nil {
		return nil, fmt.Errorf("%w: %w", keysource.ErrUnavailable, err)
	}
	return k, nil
}

func (c *Checked) check(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items != nil && slices.Contains(c.items, id) {
		return nil
	}
	if c.now().Before(c.nextRead) {
		if c.items == nil {
			return fmt.Errorf("key group %s unreadable; next read after %s", c.groupID, c.nextRead.Format(time.RFC3339))
		}
		return fmt.Errorf("%w: key pair %s, key group %s", ErrNotInGroup, id, c.groupID)
	}
	if err := c.read(ctx); err != nil {
		return err
	}
	if slices.Contains(c.items, id) {
		return nil
	}
	c.nextRead = c.now().Add(retryAfter)
	if !c.logged[id] {
		c.logged[id] = true
		c.logger.Error("signing key is not in the distribution's key group: CloudFront would refuse every cookie; /access answers 503 (see keys/RUNBOOK.md)",
			"keyPairId", id, "keyGroupId", c.groupID, "groupKeys", c.items)
	}
	return fmt.Errorf("%w: key pair %s, key group %s", ErrNotInGroup, id, c.groupID)
}
