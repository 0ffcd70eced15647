package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// The state folder of the local distribution (-state DIR). The keys CLI's --local
// backend operates on the same layout, so it is a contract:
//
//	DIR/signing-key.json           the signing key: the same JSON document as the Secrets
//	                               Manager secret, {"keyPairId","privateKey","algorithm"},
//	                               mode 0600. Re-read when it changes (no restart). Or,
//	                               after `keys init --kms --local` / `keys rotate start
//	                               --kms --local`, {"keyPairId","kmsKeyId","algorithm"}:
//	                               the key is in the KMS that the AWS SDK's standard
//	                               configuration points at (AWS_ENDPOINT_URL, AWS_REGION).
//	DIR/trusted-keys/<KeyPairId>.pem  public keys the local distribution trusts (its
//	                               "key group"); re-scanned on change (no restart).
//	DIR/store.json                 the embedded store's data, when it persists.
const (
	signingKeyFile = "signing-key.json"
	trustedKeysDir = "trusted-keys"
	storeFile      = "store.json"
	// demoPasswordFile keeps a generated demo password (mode 0600), so that
	// later starts print the password that still works.
	demoPasswordFile = "demo-password"
)

// localKeyPrefix starts the key pair id of development keys, so they are never
// mistaken for CloudFront's (which start with K and are 14 characters long too).
const localKeyPrefix = "KLOCAL"

// initState creates the state folder on first use: the folder, trusted-keys/, and a
// development signing key (RSA-2048, RSA-SHA1 like the default deployment) with its
// public key in trusted-keys/. An existing signing key is left as it is.
// It returns the key pair id of the current signing key.
func initState(dir string) (keyID string, created bool, err error) {
	if err := os.MkdirAll(filepath.Join(dir, trustedKeysDir), 0o700); err != nil {
		return "", false, fmt.Errorf("state folder: %w", err)
	}
	keyPath := filepath.Join(dir, signingKeyFile)
	if b, err := os.ReadFile(keyPath); err == nil {
		s, err := cfsign.ParseSecretDocument(b)
		if err == nil && !s.IsKMS() {
			_, err = s.Key()
		}
		if err != nil {
			return "", false, fmt.Errorf("state folder: %s: %w", keyPath, err)
		}
		return s.KeyPairID, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("state folder: %w", err)
	}

	signer, err := cfsign.GenerateKey(cfsign.RSASHA1)
	if err != nil {
		return "", false, fmt.Errorf("generate development key: %w", err)
	}
	id := localKeyPrefix + randomUpper(8)
	privPEM, err := cfsign.MarshalPrivateKeyPEM(signer)
	if err != nil {
		return "", false, fmt.Errorf("generate development key: %w", err)
	}
	pubPEM, err := cfsign.MarshalPublicKeyPEM(signer.Public())
	if err != nil {
		return "", false, fmt.Errorf("generate development key: %w", err)
	}
	secret, err := json.MarshalIndent(cfsign.Secret{KeyPairID: id, PrivateKey: string(privPEM), Algorithm: cfsign.RSASHA1}, "", "  ")
	if err != nil {
		return "", false, fmt.Errorf("generate development key: %w", err)
	}
	// The public key goes first: a signing key whose public key is not trusted
	// would issue cookies that the distribution refuses.
	if err := os.WriteFile(filepath.Join(dir, trustedKeysDir, id+".pem"), pubPEM, 0o644); err != nil {
		return "", false, fmt.Errorf("state folder: %w", err)
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("state folder: %w", err)
	}
	if _, err := f.Write(append(secret, '\n')); err != nil {
		f.Close()
		return "", false, fmt.Errorf("state folder: write %s: %w", keyPath, err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("state folder: write %s: %w", keyPath, err)
	}
	return id, true, nil
}

// randomUpper returns n random characters from A-Z and 2-7 (base32's alphabet).
func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// fileKey is the signing key provider of the local distribution: the secret JSON in
// the state folder, re-read whenever its size or modification time changes, so that
// `keys --local rotate …` takes effect without a restart. An unreadable or invalid
// file fails closed (keysource.ErrUnavailable → the API answers 503).
type fileKey struct {
	path   string
	logger *slog.Logger
	// kms returns the KMS client for a file that names a KMS key (made on
	// first need: a file key never touches AWS).
	kms func(ctx context.Context) (keysource.KMSSignAPI, error)

	mu      sync.Mutex
	mod     time.Time
	size    int64
	key     *cfsign.Key
	lastErr string
}

// Key implements keysource.Provider.
func (f *fileKey) Key(ctx context.Context) (*cfsign.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, f.fail(fmt.Errorf("signing key: %w", err))
	}
	if f.key != nil && st.ModTime().Equal(f.mod) && st.Size() == f.size {
		return f.key, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return nil, f.fail(fmt.Errorf("signing key: %w", err))
	}
	k, err := f.parse(ctx, b)
	if err != nil {
		return nil, f.fail(fmt.Errorf("signing key %s: %w", f.path, err))
	}
	if f.key != nil && f.key.ID != k.ID {
		f.logger.Info("signing key changed", "oldKeyPairId", f.key.ID, "keyPairId", k.ID)
	}
	f.key, f.mod, f.size, f.lastErr = k, st.ModTime(), st.Size(), ""
	return k, nil
}

// parse reads either form of the secret document.
func (f *fileKey) parse(ctx context.Context, b []byte) (*cfsign.Key, error) {
	s, err := cfsign.ParseSecretDocument(b)
	if err != nil {
		return nil, err
	}
	if !s.IsKMS() {
		return s.Key()
	}
	if f.kms == nil {
		return nil, fmt.Errorf("names KMS key %s but no KMS client is configured", s.KMSKeyID)
	}
	client, err := f.kms(ctx)
	if err != nil {
		return nil, fmt.Errorf("KMS client for key %s: %w", s.KMSKeyID, err)
	}
	return keysource.KMSKey(client, s, 0)
}

func (f *fileKey) fail(err error) error {
	if msg := err.Error(); msg != f.lastErr {
		f.lastErr = msg
		f.logger.Error("signing key unavailable", "err", err)
	}
	f.key = nil
	return fmt.Errorf("%w: %w", keysource.ErrUnavailable, err)
}
