package main

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/materials"
)

// originObjects is the bucket as the login function reads it
// (materials.Objects): the origin's objects, and each course's manifest at
// manifests/<id>.json. A manifest the origin folder holds itself (a folder
// synced from a real bucket) is served as it is; for every other course
// folder it is computed at start from the folder with materials.Build, the
// function publish writes it with.
type originObjects struct {
	dir       materials.DirObjects
	manifests map[string][]byte // key → JSON
}

// Get implements materials.Objects.
func (o *originObjects) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if b, ok := o.manifests[key]; ok {
		if int64(len(b)) > max {
			return nil, fmt.Errorf("read %s: larger than %d bytes", key, max)
		}
		return b, nil
	}
	return o.dir.Get(ctx, key, max)
}

// newOriginObjects computes the manifests of the bucket's course folders.
// A course folder that publish would refuse (a bad file name or type in
// files/, a bad titles.tsv) stops the start with publish's error.
func newOriginObjects(b *bucket) (*originObjects, []string, error) {
	o := &originObjects{dir: materials.DirObjects{FS: b}, manifests: map[string][]byte{}}
	if b.courses == nil {
		return o, nil, nil
	}
	entries, err := fs.ReadDir(b.courses, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("origin courses/: %w", err)
	}
	var ids []string
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || cfsign.ValidateCourseID(id) != nil {
			continue // not a course folder (nothing can sign for it)
		}
		key := materials.ManifestKey(id)
		if _, err := fs.Stat(b, key); err == nil {
			ids = append(ids, id+" (manifests/)")
			continue
		}
		course, err := fs.Sub(b.courses, id)
		if err != nil {
			return nil, nil, err
		}
		m, err := materials.Build(course, id)
		if err != nil {
			return nil, nil, fmt.Errorf("origin courses/%s: %w", id, err)
		}
		j, err := m.Marshal()
		if err != nil {
			return nil, nil, err
		}
		o.manifests[key] = j
		ids = append(ids, fmt.Sprintf("%s (%d playlists, %d files)", id, len(m.Playlists), len(m.Files)))
	}
	sort.Strings(ids)
	return o, ids, nil
}

// describe is the start-up line of the manifests.
func describeManifests(ids []string) string {
	if len(ids) == 0 {
		return "none (no course folders)"
	}
	return strings.Join(ids, ", ")
}
