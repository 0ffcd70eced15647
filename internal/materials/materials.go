// Package materials is what the login function knows of a course's objects
// without listing the media bucket: the manifest that publish writes beside
// the course (its master playlists and its downloadable files), and a
// read-only view of the bucket's objects that the function may read
// (manifests and playlists; never segments or files).
//
// The manifest of course ID is the object ManifestKey(ID) =
// "manifests/ID.json". It lies outside site/ and courses/, so the
// distribution never serves it: the bucket policy lets CloudFront read those
// two prefixes only. Its JSON:
//
//	{"course":"intro-to-hls",
//	 "playlists":["fmp4/master.m3u8","ts/master.m3u8"],
//	 "files":[{"name":"ebook.pdf","size":12345,"type":"application/pdf","title":"The ebook"}]}
//
// playlists are the course's master playlists, paths relative to
// courses/ID/, sorted; the first is the default for cookie-less playback.
// files are the objects under courses/ID/files/, sorted by name; title is
// omitted when none was given.
package materials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// File is one downloadable file of a course, stored at
// courses/<id>/files/<Name>.
type File struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	Title string `json:"title,omitempty"`
}

// Manifest is what publish records of a course.
type Manifest struct {
	Course    string   `json:"course"`
	Playlists []string `json:"playlists"`
	Files     []File   `json:"files"`
}

// ManifestKey is the bucket key of a course's manifest. id must have passed
// cfsign.ValidateCourseID.
func ManifestKey(id string) string { return "manifests/" + id + ".json" }

// FileKey is the bucket key of a course's file.
func FileKey(id, name string) string { return "courses/" + id + "/files/" + name }

var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidateFileName checks a file name before anything else is done with it:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, and no "..".
func ValidateFileName(name string) error {
	if !fileName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("file name %q: want ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without \"..\"", name)
	}
	return nil
}

// ParseManifest decodes a manifest strictly (unknown fields, trailing data
// and wrong types are errors) and checks that it is the manifest of course
// id and that every name and path in it is well formed.
func ParseManifest(id string, b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest of %q: %w", id, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("manifest of %q: trailing data", id)
	}
	if m.Course != id {
		return nil, fmt.Errorf("manifest of %q names course %q", id, m.Course)
	}
	for _, p := range m.Playlists {
		if err := ValidatePlaylistPath(p); err != nil {
			return nil, fmt.Errorf("manifest of %q: %w", id, err)
		}
	}
	for _, f := range m.Files {
		if err := ValidateFileName(f.Name); err != nil {
			return nil, fmt.Errorf("manifest of %q: %w", id, err)
		}
		if f.Size < 0 {
			return nil, fmt.Errorf("manifest of %q: file %q has a negative size", id, f.Name)
		}
	}
	return &m, nil
}

// Marshal encodes a manifest as publish stores it.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := cfsign.ValidateCourseID(m.Course); err != nil {
		return nil, err
	}
	if m.Playlists == nil {
		m.Playlists = []string{}
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	return json.Marshal(m)
}

// File returns the file called name, if the manifest lists it.
func (m *Manifest) File(name string) (File, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// ValidatePlaylistPath checks a playlist path relative to a course folder:
// "/"-separated segments of [A-Za-z0-9._-] that start with a letter or
// digit (so no "", ".", ".." or hidden names), ending in ".m3u8", at most
// 256 bytes.
func ValidatePlaylistPath(p string) error {
	bad := func() error {
		return fmt.Errorf("playlist path %q: want segments of [A-Za-z0-9._-] starting with a letter or digit, ending in .m3u8", p)
	}
	if len(p) > 256 || !strings.HasSuffix(p, ".m3u8") {
		return bad()
	}
	for seg := range strings.SplitSeq(p, "/") {
		if !fileName.MatchString(seg) || strings.Contains(seg, "..") {
			return bad()
		}
	}
	return nil
}

// ErrNotFound is returned by Objects.Get for a key that does not exist (or
// that the reader may not read).
var ErrNotFound = errors.New("no such object")

// Objects reads objects of the media bucket: in AWS through S3 (S3Reader),
// locally from the distribution's origin folder (DirObjects).
type Objects interface {
	// Get returns the whole object, at most max bytes (a larger object is
	// an error), or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string, max int64) ([]byte, error)
}
