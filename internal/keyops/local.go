package keyops

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cfgate/cfgate/internal/cfsign"
)

// The local distribution's state folder (see distribution/state.go), as the
// Local backend uses it:
//
//	DIR/signing-key.json            current version of the secret (AWSCURRENT), mode 0600
//	DIR/signing-key.pending.json    pending version (AWSPENDING), mode 0600
//	DIR/signing-key.previous.json   previous version (AWSPREVIOUS), mode 0600
//	DIR/trusted-keys/<KeyPairId>.pem  the "key group": public keys the distribution trusts
//	DIR/public-keys/<KeyPairId>.pem   uploaded public keys not (or no longer) trusted
//	DIR/rotation.json               the rotation State
//
// Every file is replaced by write-to-temp + rename, so the distribution,
// which re-reads signing-key.json and rescans trusted-keys/ when they
// change, never sees a half-written file.
const (
	LocalSigningKey  = "signing-key.json"
	LocalPending     = "signing-key.pending.json"
	LocalPrevious    = "signing-key.previous.json"
	LocalTrustedKeys = "trusted-keys"
	LocalPublicKeys  = "public-keys"
	LocalRotation    = "rotation.json"
)

// Local is the Backend on a local distribution's state folder. The version
// id of a secret version is its key pair id.
type Local struct {
	Dir string
}

// NewLocal returns the backend on the state folder dir.
func NewLocal(dir string) *Local { return &Local{Dir: dir} }

func (l *Local) path(parts ...string) string {
	return filepath.Join(append([]string{l.Dir}, parts...)...)
}

func stageFile(s Stage) string {
	switch s {
	case Pending:
		return LocalPending
	case Previous:
		return LocalPrevious
	}
	return LocalSigningKey
}

// GroupID implements Backend: the trusted-keys folder.
func (l *Local) GroupID(context.Context) (string, error) {
	if _, err := os.Stat(l.path(LocalTrustedKeys)); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return l.path(LocalTrustedKeys), nil
}

// SecretID implements Backend: the signing key file.
func (l *Local) SecretID() string { return l.path(LocalSigningKey) }

// writeFile atomically replaces name with data.
func writeFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// GroupKeys implements Backend.
func (l *Local) GroupKeys(context.Context) ([]string, error) {
	ents, err := os.ReadDir(l.path(LocalTrustedKeys))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", l.path(LocalTrustedKeys), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read key group: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".pem"); ok && !e.IsDir() && !strings.HasPrefix(id, ".") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// EnsureGroup implements Backend.
func (l *Local) EnsureGroup(ctx context.Context, keyID string) (string, error) {
	if err := os.MkdirAll(l.path(LocalTrustedKeys), 0o700); err != nil {
		return "", fmt.Errorf("create key group: %w", err)
	}
	return l.path(LocalTrustedKeys), l.AddKey(ctx, keyID)
}

func (l *Local) publicPEM(id string) ([]byte, os.FileInfo, error) {
	for _, dir := range []string{LocalPublicKeys, LocalTrustedKeys} {
		p := l.path(dir, id+".pem")
		b, err := os.ReadFile(p)
		if err == nil {
			fi, err := os.Stat(p)
			return b, fi, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("public key %s: %w", id, ErrNotFound)
}

// AddKey implements Backend.
func (l *Local) AddKey(ctx context.Context, keyID string) error {
	keys, err := l.GroupKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k == keyID {
			return nil
		}
	}
	if len(keys) >= MaxKeysPerGroup {
		return fmt.Errorf("add %s: key group has %d keys %v: %w", keyID, len(keys), keys, ErrGroupFull)
	}
	b, _, err := l.publicPEM(keyID)
	if err != nil {
		return fmt.Errorf("add %s: %w", keyID, err)
	}
	return writeFile(l.path(LocalTrustedKeys, keyID+".pem"), b, 0o644)
}

// RemoveKey implements Backend. The public key itself is kept in public-keys/ until deleted.
func (l *Local) RemoveKey(ctx context.Context, keyID string) error {
	p := l.path(LocalTrustedKeys, keyID+".pem")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keys, err := l.GroupKeys(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 1 {
		return fmt.Errorf("remove %s: it is the key group's last key", keyID)
	}
	if err := os.MkdirAll(l.path(LocalPublicKeys), 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(l.path(LocalPublicKeys, keyID+".pem")); errors.Is(err, fs.ErrNotExist) {
		if err := writeFile(l.path(LocalPublicKeys, keyID+".pem"), b, 0o644); err != nil {
			return err
		}
	}
	return os.Remove(p)
}

// CreatePublicKey implements Backend. Local key pair ids are "KLOCAL" and
// eight characters, like the local distribution's development key.
func (l *Local) CreatePublicKey(_ context.Context, _, _ string, pemBytes []byte) (string, error) {
	if err := os.MkdirAll(l.path(LocalPublicKeys), 0o700); err != nil {
		return "", err
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	id := "KLOCAL" + string(b)
	if err := writeFile(l.path(LocalPublicKeys, id+".pem"), pemBytes, 0o644); err != nil {
		return "", fmt.Errorf("write public key: %w", err)
	}
	return id, nil
}

// PublicKey implements Backend.
func (l *Local) PublicKey(_ context.Context, id string) (*PublicKey, error) {
	b, fi, err := l.publicPEM(id)
	if err != nil {
		return nil, err
	}
	return &PublicKey{ID: id, Name: id, PEM: b, Created: fi.ModTime()}, nil
}

// DeletePublicKey implements Backend.
func (l *Local) DeletePublicKey(_ context.Context, id string) error {
	if _, err := os.Stat(l.path(LocalTrustedKeys, id+".pem")); err == nil {
		return fmt.Errorf("delete %s: %w", id, ErrKeyInUse)
	}
	err := os.Remove(l.path(LocalPublicKeys, id+".pem"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func marshalSecret(s cfsign.Secret) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// CreateSecret implements Backend.
func (l *Local) CreateSecret(ctx context.Context, _ string, s cfsign.Secret) error {
	if v, err := l.Secret(ctx, Current); err == nil {
		if v.Secret.KeyPairID == s.KeyPairID {
			return nil
		}
		return fmt.Errorf("%s already holds key %s", l.SecretID(), v.Secret.KeyPairID)
	}
	b, err := marshalSecret(s)
	if err != nil {
		return err
	}
	return writeFile(l.SecretID(), b, 0o600)
}

// Secret implements Backend.
func (l *Local) Secret(_ context.Context, stage Stage) (*Version, error) {
	p := l.path(stageFile(stage))
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var v Version
	if err := json.Unmarshal(b, &v.Secret); err != nil || v.Secret.KeyPairID == "" {
		return nil, fmt.Errorf("%s is not the JSON {keyPairId, privateKey, algorithm}", p)
	}
	v.ID = v.Secret.KeyPairID
	return &v, nil
}

// PutPending implements Backend.
func (l *Local) PutPending(_ context.Context, _ string, s cfsign.Secret) error {
	b, err := marshalSecret(s)
	if err != nil {
		return err
	}
	return writeFile(l.path(LocalPending), b, 0o600)
}

// MakeCurrent implements Backend: the version is found in the pending or
// the previous file; the old current becomes previous.
func (l *Local) MakeCurrent(ctx context.Context, versionID string) error {
	cur, err := l.Secret(ctx, Current)
	if err != nil {
		return err
	}
	if cur.ID == versionID {
		return l.Unstage(ctx, Pending, versionID)
	}
	var from string
	for _, s := range []Stage{Pending, Previous} {
		if v, err := l.Secret(ctx, s); err == nil && v.ID == versionID {
			from = l.path(stageFile(s))
		}
	}
	if from == "" {
		return fmt.Errorf("no pending or previous version holds %s: %w", versionID, ErrNotFound)
	}
	newCur, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	oldCur, err := os.ReadFile(l.SecretID())
	if err != nil {
		return err
	}
	// Current first: if we stop after it, the new key signs and only the
	// copy of the old one in previous is missing.
	if err := writeFile(l.SecretID(), newCur, 0o600); err != nil {
		return err
	}
	if err := writeFile(l.path(LocalPrevious), oldCur, 0o600); err != nil {
		return err
	}
	return l.Unstage(ctx, Pending, versionID)
}

// Unstage implements Backend.
func (l *Local) Unstage(ctx context.Context, stage Stage, versionID string) error {
	if stage == Current {
		return errors.New("cannot remove the current stage")
	}
	v, err := l.Secret(ctx, stage)
	if errors.Is(err, ErrNotFound) || err == nil && v.ID != versionID {
		return nil
	}
	if err := os.Remove(l.path(stageFile(stage))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// State implements Backend.
func (l *Local) State(context.Context) (State, error) {
	b, err := os.ReadFile(l.path(LocalRotation))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%s: %w", l.path(LocalRotation), err)
	}
	return st, nil
}

// SetState implements Backend.
func (l *Local) SetState(_ context.Context, st State) error {
	if st.Empty() {
		if err := os.Remove(l.path(LocalRotation)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(l.path(LocalRotation), append(b, '\n'), 0o600)
}

var _ Backend = (*Local)(nil)
