package api

import (
	"context"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// DefaultCatalogueTTL is how long a Handler answers from the catalogue it
// last read (Config.CatalogueTTL).
const DefaultCatalogueTTL = 30 * time.Second

// catalogue is a short-lived in-memory copy of the store's catalogue, so
// that /access and login need no course read: a course added to the store
// is served within the TTL, and a course id not in the catalogue is refused
// with no store call while the copy is fresh.
type catalogue struct {
	st  store.Store
	ttl time.Duration

	mu      sync.Mutex
	courses map[string]store.Course
	loaded  time.Time // clock reading when the copy was read
}

// cached returns the copy and whether it is fresh at now.
func (c *catalogue) cached(now time.Time) (map[string]store.Course, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := c.courses != nil && !now.Before(c.loaded) && now.Sub(c.loaded) < c.ttl
	return c.courses, fresh
}

// load reads the catalogue from the store (one Query on DynamoDB) and keeps
// it as of now.
func (c *catalogue) load(ctx context.Context, now time.Time) (map[string]store.Course, error) {
	list, err := c.st.ListCourses(ctx)
	if err != nil {
		return nil, err
	}
	return c.set(list, now), nil
}

// set keeps list as the catalogue read at now.
func (c *catalogue) set(list []store.Course, now time.Time) map[string]store.Course {
	m := make(map[string]store.Course, len(list))
	for _, co := range list {
		m[co.ID] = co
	}
	c.mu.Lock()
	c.courses, c.loaded = m, now
	c.mu.Unlock()
	return m
}
