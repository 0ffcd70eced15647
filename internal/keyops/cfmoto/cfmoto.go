// Package cfmoto starts a test server: moto_server extended, by the committed
// launcher.py, with CloudFront's key-group semantics that moto 5.2 lacks
// (UpdateKeyGroup, DeleteKeyGroup, If-Match/ETag checks, PublicKeyInUse,
// TooManyPublicKeysInKeyGroup, NoSuchPublicKey/NoSuchResource), and with a
// KMS patch: Sign with MessageType DIGEST (moto 5.2 hashes the digest again),
// KMSInvalidStateException for a key that is not Enabled, and
// ScheduleKeyDeletion by key ARN. It is moto plus a patch, named as such:
// not AWS, and not a fake of moto's other services (Secrets Manager,
// DynamoDB and the rest of KMS are moto's own).
package cfmoto

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

//go:embed launcher.py
var launcher []byte

// Launcher returns the Python source of the launcher.
func Launcher() []byte { return launcher }

var (
	once    sync.Once
	shared  *motoserver.Server
	initErr error
)

// Shared returns this test binary's extended moto server, starting it on
// first use (python3 with moto installed must be on PATH; set PYTHON to
// use another interpreter).
func Shared(tb testing.TB) *motoserver.Server {
	tb.Helper()
	needs.Tool(tb, "moto_server")
	s, err := Get()
	if err != nil {
		tb.Fatalf("cfmoto: %v", err)
	}
	return s
}

// Get is Shared for callers without a testing.TB (testscript setup).
func Get() (*motoserver.Server, error) {
	once.Do(func() { shared, initErr = Start() })
	return shared, initErr
}

// Start starts a new extended moto server on a free port of 127.0.0.1.
func Start() (*motoserver.Server, error) {
	python, err := motoserver.Python()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cfmoto-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if _, err := motoserver.WriteLauncher(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "launcher.py")
	if err := os.WriteFile(path, launcher, 0o600); err != nil {
		return nil, fmt.Errorf("write launcher: %w", err)
	}
	port, err := motoserver.FreePort()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	s, err := motoserver.StartCommand(exec.Command(python, path, "-H", "127.0.0.1", "-p", fmt.Sprint(port)), port)
	if err != nil {
		return nil, fmt.Errorf("start extended moto (python3 %s): %w", path, err)
	}
	return s, nil
}
