package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Keys is the set of public keys trusted by the matched cache behavior (the
// union of its trusted key groups), by key pair id.
type Keys interface {
	Lookup(keyPairID string) (crypto.PublicKey, bool)
}

// KeyMap is a fixed set of trusted keys.
type KeyMap map[string]crypto.PublicKey

// Lookup implements Keys.
func (m KeyMap) Lookup(id string) (crypto.PublicKey, bool) {
	k, ok := m[id]
	return k, ok
}

// ParsePublicKeyPEM parses one public key as CloudFront's CreatePublicKey takes
// it: a PKIX "PUBLIC KEY" (or PKCS#1 "RSA PUBLIC KEY") PEM block holding an
// RSA-2048 or an ECDSA P-256 key.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKIX public key: %w", err)
		}
		pub = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS#1 public key: %w", err)
		}
		pub = k
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, fmt.Errorf("PEM block %q is a private key; give the public key", block.Type)
		}
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() != 2048 {
			return fmt.Errorf("RSA key of %d bits; CloudFront takes RSA-2048", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA key on %s; CloudFront takes P-256", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("unsupported key type %T; CloudFront takes RSA-2048 or ECDSA P-256", pub)
	}
	return nil
}

// keyFileID is the shape of a key pair id taken from a file name.
var keyFileID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// DirKeys trusts the public keys in one or more directories, one PEM file per
// key named <KeyPairId>.pem. Files added, changed or removed are picked up
// without a restart: a Lookup at most once per second re-reads a directory whose
// modification time changed and re-parses a file whose size or modification
// time changed. A file that no longer parses is dropped (fail closed) and
// reported by Err. It is safe for concurrent use.
type DirKeys struct {
	dirs     []string
	interval time.Duration
	now      func() time.Time

	keys      atomic.Pointer[map[string]crypto.PublicKey]
	nextCheck atomic.Int64 // unix nanoseconds

	mu    sync.Mutex // serialises refreshes
	dirMt map[string]time.Time
	files map[string]fileState // by path
	err   error
}

type fileState struct {
	mod  time.Time
	size int64
	id   string
	pub  crypto.PublicKey
	err  error
}

// LoadDir reads the keys in dirs. It fails when a directory cannot be read, two
// files name the same key pair id, or a .pem file does not hold a CloudFront
// public key.
func LoadDir(dirs ...string) (*DirKeys, error) {
	if len(dirs) == 0 {
		return nil, errors.New("load keys: no directory")
	}
	d := &DirKeys{
		dirs:     append([]string(nil), dirs...),
		interval: time.Second,
		now:      time.Now,
		dirMt:    map[string]time.Time{},
		files:    map[string]fileState{},
	}
	if err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Lookup implements Keys.
func (d *DirKeys) Lookup(id string) (crypto.PublicKey, bool) {
	if now := d.now().UnixNano(); now >= d.nextCheck.Load() {
		d.mu.Lock()
		if now >= d.nextCheck.Load() {
			_ = d.refresh(false)
		}
		d.mu.Unlock()
	}
	k, ok := (*d.keys.Load())[id]
	return k, ok
}

// IDs returns the key pair ids currently trusted, sorted.
func (d *DirKeys) IDs() []string {
	m := *d.keys.Load()
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Err returns the problems found by the last scan (unreadable directories,
// files that do not parse, duplicated ids), or nil.
func (d *DirKeys) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Reload re-reads every directory and file now and returns the problems found.
func (d *DirKeys) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refresh(true)
}

// refresh rescans; d.mu is held.
func (d *DirKeys) refresh(force bool) error {
	d.nextCheck.Store(d.now().Add(d.interval).UnixNano())
	var errs []error
	changed := force || d.keys.Load() == nil
	// Directories whose listing may have changed.
	for _, dir := range d.dirs {
		st, err := os.Stat(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("key directory: %w", err))
			if d.dropDir(dir) {
				changed = true
			}
			continue
		}
		if !force && st.ModTime().Equal(d.dirMt[dir]) {
			continue
		}
		changed = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("key directory: %w", err))
			delete(d.dirMt, dir) // retry at the next check
			continue
		}
		d.dirMt[dir] = st.ModTime()
		present := map[string]bool{}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			present[p] = true
			if _, ok := d.files[p]; !ok {
				d.files[p] = fileState{mod: time.Time{}, size: -1}
			}
		}
		for p := range d.files {
			if filepath.Dir(p) == filepath.Clean(dir) && !present[p] {
				delete(d.files, p)
			}
		}
	}
	// Files whose content may have changed (in-place writes keep the
	// directory's modification time).
	for p, fs := range d.files {
		st, err := os.Stat(p)
		if err != nil {
			delete(d.files, p)
			changed = true
			continue
		}
		if !force && st.ModTime().Equal(fs.mod) && st.Size() == fs.size {
			continue
		}
		changed = true
		d.files[p] = loadKeyFile(p, st)
	}
	if !changed {
		return d.err
	}
	keys := map[string]crypto.PublicKey{}
	owner := map[string]string{}
	paths := make([]string, 0, len(d.files))
	for p := range d.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fs := d.files[p]
		if fs.err != nil {
			errs = append(errs, fs.err)
			continue
		}
		if prev, dup := owner[fs.id]; dup {
			errs = append(errs, fmt.Errorf("key pair id %s in both %s and %s", fs.id, prev, p))
			delete(keys, fs.id) // ambiguous: trust neither
			continue
		}
		owner[fs.id] = p
		keys[fs.id] = fs.pub
	}
	d.keys.Store(&keys)
	d.err = errors.Join(errs...)
	return d.err
}

func (d *DirKeys) dropDir(dir string) bool {
	changed := false
	for p := range d.files {
		if filepath.Dir(p) == filepath.Clean(dir) {
			delete(d.files, p)
			changed = true
		}
	}
	delete(d.dirMt, dir)
	return changed
}

func loadKeyFile(p string, st os.FileInfo) fileState {
	fs := fileState{mod: st.ModTime(), size: st.Size(), id: strings.TrimSuffix(filepath.Base(p), ".pem")}
	if !keyFileID.MatchString(fs.id) {
		fs.err = fmt.Errorf("key file %s: name is not <KeyPairId>.pem", p)
		return fs
	}
	b, err := os.ReadFile(p)
	if err != nil {
		fs.err = fmt.Errorf("key file: %w", err)
		return fs
	}
	pub, err := ParsePublicKeyPEM(b)
	if err != nil {
		fs.err = fmt.Errorf("key file %s: %w", p, err)
		return fs
	}
	fs.pub = pub
	return fs
}
