package cfsign

import "sync"

// sigCache is a bounded LRU of signatures with in-flight de-duplication: when
// many viewers of a course miss at once (a new bucket), one signs and the rest
// wait for its result. Errors are not cached.
type sigCache struct {
	mu       sync.Mutex
	max      int
	entries  map[cacheKey]*lruEntry
	head     lruEntry // sentinel: head.next is the most recently used
	inflight map[cacheKey]*flight

	hits, misses, signs, evictions uint64
}

type lruEntry struct {
	key        cacheKey
	val        signed
	prev, next *lruEntry
}

type flight struct {
	done chan struct{}
	val  signed
	err  error
}

func newSigCache(max int) *sigCache {
	c := &sigCache{max: max, entries: make(map[cacheKey]*lruEntry, min(max, 1024)), inflight: map[cacheKey]*flight{}}
	c.head.next, c.head.prev = &c.head, &c.head
	return c
}

func (c *sigCache) get(k cacheKey, compute func() (signed, error)) (signed, error) {
	c.mu.Lock()
	if e, ok := c.entries[k]; ok {
		c.hits++
		c.moveToFront(e)
		v := e.val
		c.mu.Unlock()
		return v, nil
	}
	if f, ok := c.inflight[k]; ok {
		c.hits++ // shared a signature being computed
		c.mu.Unlock()
		<-f.done
		return f.val, f.err
	}
	c.misses++
	f := &flight{done: make(chan struct{})}
	c.inflight[k] = f
	c.mu.Unlock()

	func() {
		defer func() {
			if r := recover(); r != nil {
				f.err = errPanicked
				c.finish(k, f)
				panic(r)
			}
		}()
		f.val, f.err = compute()
	}()
	c.finish(k, f)
	return f.val, f.err
}

func (c *sigCache) finish(k cacheKey, f *flight) {
	c.mu.Lock()
	delete(c.inflight, k)
	if f.err == nil {
		c.signs++
		e := &lruEntry{key: k, val: f.val}
		c.entries[k] = e
		c.pushFront(e)
		for len(c.entries) > c.max {
			old := c.head.prev
			c.unlink(old)
			delete(c.entries, old.key)
			c.evictions++
		}
	}
	c.mu.Unlock()
	close(f.done)
}

func (c *sigCache) unlink(e *lruEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *sigCache) pushFront(e *lruEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *sigCache) moveToFront(e *lruEntry) {
	if c.head.next == e {
		return
	}
	c.unlink(e)
	c.pushFront(e)
}

// cacheStats is a snapshot of the cache counters.
type cacheStats struct {
	Hits, Misses, Signs, Evictions uint64
	Len                            int
}

func (c *sigCache) stats() cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheStats{Hits: c.hits, Misses: c.misses, Signs: c.signs, Evictions: c.evictions, Len: len(c.entries)}
}

var errPanicked = panicError{}

type panicError struct{}

func (panicError) Error() string { return "cfsign: signer panicked" }
