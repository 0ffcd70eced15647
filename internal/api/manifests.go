package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/materials"
)

// MaxManifestBytes bounds a course manifest read from the bucket.
const MaxManifestBytes = 1 << 20

// manifests is a short-lived in-memory copy of each course's manifest
// (materials.ManifestKey), read through Config.Objects: a course published
// anew is listed within the TTL (Config.CatalogueTTL). A course without a
// manifest has no materials; that answer is kept for the TTL too. Entries
// are kept only for courses of the catalogue (checkCourse stores one after
// the course check), so the map is bounded by the catalogue.
type manifests struct {
	objs materials.Objects
	ttl  time.Duration

	mu sync.Mutex
	m  map[string]manifestEntry
}

type manifestEntry struct {
	man    *materials.Manifest
	loaded time.Time
}

func newManifests(objs materials.Objects, ttl time.Duration) *manifests {
	return &manifests{objs: objs, ttl: ttl, m: map[string]manifestEntry{}}
}

// cached returns course id's copy and whether it is fresh at now.
func (c *manifests) cached(id string, now time.Time) (*materials.Manifest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e.man, ok && !now.Before(e.loaded) && now.Sub(e.loaded) < c.ttl
}

// load reads course id's manifest from the bucket (one GetObject in AWS).
// No manifest (or no bucket reader) is an empty manifest.
func (c *manifests) load(ctx context.Context, id string) (*materials.Manifest, error) {
	empty := &materials.Manifest{Course: id, Playlists: []string{}, Files: []materials.File{}}
	if c.objs == nil {
		return empty, nil
	}
	b, err := c.objs.Get(ctx, materials.ManifestKey(id), MaxManifestBytes)
	if errors.Is(err, materials.ErrNotFound) {
		return empty, nil
	}
	if err != nil {
		return nil, err
	}
	return materials.ParseManifest(id, b)
}

// set keeps m as course id's manifest read at now.
func (c *manifests) set(id string, m *materials.Manifest, now time.Time) {
	c.mu.Lock()
	c.m[id] = manifestEntry{man: m, loaded: now}
	c.mu.Unlock()
}
