package verifier

import (
	"crypto"
	"sync"
)

// cacheKey identifies one verified (key, hash, policy, signature). pub is the
// public key value returned by Keys.Lookup (a pointer), so a key replaced under
// the same id misses; policy and sig are the encoded values as received (or the
// rebuilt canned policy), so a hit needs no decoding.
type cacheKey struct {
	keyID  string
	pub    crypto.PublicKey
	hash   crypto.Hash
	canned bool
	policy string
	sig    string
}

// verifiedCache is a bounded, concurrency-safe set of verified signatures with
// their parsed policies. When full, an arbitrary entry is evicted (Go's map
// iteration order is randomized), which keeps a hit and an insert O(1).
type verifiedCache struct {
	mu  sync.RWMutex
	max int
	m   map[cacheKey]*Policy
}

func newVerifiedCache(max int) *verifiedCache {
	if max <= 0 {
		return nil
	}
	return &verifiedCache{max: max, m: make(map[cacheKey]*Policy, min(max, 1024))}
}

func (c *verifiedCache) get(k *cacheKey) (*Policy, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	p, ok := c.m[*k]
	c.mu.RUnlock()
	return p, ok
}

func (c *verifiedCache) put(k *cacheKey, p *Policy) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[*k]; ok {
		return
	}
	for len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[*k] = p
}

func (c *verifiedCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
