package mem

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/store"
)

// fileFormat is the version of the JSON file written by a file-backed store.
const fileFormat = 1

// fileState tracks the backing file of a store opened with Open.
type fileState struct {
	path string
	seen fs.FileInfo // the file as last loaded or saved; nil if it did not exist

	// Changes are numbered; the file holds those up to saved. The fields
	// are guarded by Store.mu; saveMu serialises the file writes.
	saveMu sync.Mutex
	gen    uint64 // last change made in memory
	saved  uint64 // changes up to this one are in the file
	failed uint64 // changes up to this one were rolled back by a failed write
}

// dirty reports whether memory holds changes not yet written (or rolled back).
func (f *fileState) dirty() bool { return f.gen > max(f.saved, f.failed) }

// errRolledBack is returned for a change lost with a failed write made for
// another change.
var errRolledBack = errors.New("store file: a write failed; this change was rolled back")

// persist returns once change gen is in the file. Writes are serialised and
// made outside Store.mu (the state is copied under it), so reads and other
// changes go on during a write, and the changes made meanwhile go into the
// next write together: under concurrent logins the file is rewritten (and
// synced) once per batch of changes, not once per change.
func (s *Store) persist(gen uint64) error {
	f := s.file
	f.saveMu.Lock()
	defer f.saveMu.Unlock()
	s.mu.Lock()
	switch {
	case gen <= f.failed:
		s.mu.Unlock()
		return errRolledBack
	case gen <= f.saved:
		s.mu.Unlock()
		return nil
	}
	upTo := f.gen
	c := toFile(s.d)
	s.mu.Unlock()

	fi, err := writeFile(f.path, c)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		f.failed = f.gen // everything not yet in the file goes
		if rerr := s.forceReloadLocked(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	f.saved, f.seen = upTo, fi
	return nil
}

// fileContents is the JSON file: lists of records with their own field
// names, so the file format does not change with the Go types.
type fileContents struct {
	Format   int           `json:"format"`
	Users    []fileUser    `json:"users"`
	Courses  []fileCourse  `json:"courses"`
	Grants   []fileGrant   `json:"grants"`
	Sessions []fileSession `json:"sessions"`
	Failures []fileFailure `json:"failures"`
}

type fileUser struct {
	Email        string    `json:"email"`
	PasswordHash string    `json:"passwordHash"`
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"createdAt,omitzero"`
}

type fileCourse struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type fileGrant struct {
	Email    string    `json:"email"`
	CourseID string    `json:"course"`
	Expires  time.Time `json:"expires,omitzero"`
}

type fileSession struct {
	IDHash    string    `json:"idHash"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	Expires   time.Time `json:"expires,omitzero"`
	UserAgent string    `json:"userAgent,omitempty"`
	LastSeen  time.Time `json:"lastSeen,omitzero"`
}

type fileFailure struct {
	Email string `json:"email"`
	// Source is empty for the account-wide counter.
	Source string    `json:"source,omitempty"`
	Count  int       `json:"count"`
	Start  time.Time `json:"windowStart"`
	End    time.Time `json:"windowEnd"`
}

// toFile lists the records sorted by key, so the file diffs well.
func toFile(d data) fileContents {
	c := fileContents{
		Format:   fileFormat,
		Users:    []fileUser{},
		Courses:  []fileCourse{},
		Grants:   []fileGrant{},
		Sessions: []fileSession{},
		Failures: []fileFailure{},
	}
	for _, k := range slices.Sorted(maps.Keys(d.Users)) {
		c.Users = append(c.Users, fileUser(d.Users[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Courses)) {
		c.Courses = append(c.Courses, fileCourse(d.Courses[k]))
	}
	for _, e := range slices.Sorted(maps.Keys(d.Grants)) {
		for _, k := range slices.Sorted(maps.Keys(d.Grants[e])) {
			c.Grants = append(c.Grants, fileGrant(d.Grants[e][k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d.Sessions)) {
		c.Sessions = append(c.Sessions, fileSession(d.Sessions[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Failures)) {
		f := d.Failures[k]
		email, source, _ := strings.Cut(k, "\x00")
		c.Failures = append(c.Failures, fileFailure{Email: email, Source: source, Count: f.Count, Start: f.Start, End: f.End})
	}
	return c
}

// fromFile rebuilds the maps, normalising times as the store does.
func fromFile(c fileContents) data {
	d := newData()
	for _, u := range c.Users {
		u.CreatedAt = ms(u.CreatedAt)
		d.Users[u.Email] = store.User(u)
	}
	for _, co := range c.Courses {
		d.Courses[co.ID] = store.Course(co)
	}
	for _, g := range c.Grants {
		g.Expires = ms(g.Expires)
		if d.Grants[g.Email] == nil {
			d.Grants[g.Email] = map[string]store.Grant{}
		}
		d.Grants[g.Email][g.CourseID] = store.Grant(g)
	}
	for _, s := range c.Sessions {
		s.CreatedAt, s.Expires = ms(s.CreatedAt), ms(s.Expires)
		d.Sessions[s.IDHash] = store.Session(s)
	}
	for _, f := range c.Failures {
		k := f.Email
		if f.Source != "" {
			k = sourceKey(f.Email, f.Source)
		}
		d.Failures[k] = failures{Count: f.Count, Start: ms(f.Start), End: ms(f.End)}
	}
	return d
}

// Open returns a store backed by the JSON file at path. The file need not
// exist: it is created (mode 0600, it holds password hashes) by the first
// change. Every change rewrites the whole file atomically (temporary file and
// rename), and every call first reloads the file if another process replaced
// it since, so the operator CLI and a running local distribution see each
// other's changes. Two processes writing at the same moment are not merged:
// the last rename wins. This is a store for one developer's machine, not for
// production.
//
// Failed-login counters of emails with no account are kept in memory only
// (a flood of random emails costs no write), and a counter whose window
// ended over an hour before a write is dropped from the file; the file holds
// only the counters of accounts, for the admin CLI's `users unlock`.
func Open(path string) (*Store, error) {
	s := &Store{d: newData(), file: &fileState{path: path}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.forceReloadLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the backing file of a store made by Open, or "" for New.
func (s *Store) Path() string {
	if s.file == nil {
		return ""
	}
	return s.file.path
}

// reloadLocked reloads the file if it changed since last seen. While this
// process has changes on their way to the file it does not: they would be
// lost (and the write under way replaces the file anyway).
func (s *Store) reloadLocked() error {
	if s.file == nil || s.file.dirty() {
		return nil
	}
	fi, err := os.Stat(s.file.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if s.file.seen == nil {
			return nil
		}
	case err != nil:
		return fmt.Errorf("store file: %w", err)
	case s.file.seen != nil && os.SameFile(fi, s.file.seen) &&
		fi.ModTime().Equal(s.file.seen.ModTime()) && fi.Size() == s.file.seen.Size():
		return nil
	}
	return s.forceReloadLocked()
}

// forceReloadLocked replaces the in-memory state with the file's.
func (s *Store) forceReloadLocked() error {
	f, err := os.Open(s.file.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.d, s.file.seen = newData(), nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	var c fileContents
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("store file %s: %w", s.file.path, err)
	}
	if c.Format != fileFormat {
		return fmt.Errorf("store file %s: format %d, want %d", s.file.path, c.Format, fileFormat)
	}
	s.d, s.file.seen = fromFile(c), fi
	return nil
}

// writeFile writes c to path atomically (temporary file, sync, rename) and
// returns the new file's info.
func writeFile(path string, c fileContents) (fs.FileInfo, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("store file: encode: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store file: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store file: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("store file: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	return fi, nil
}
