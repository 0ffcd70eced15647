// Package motoserver starts a real moto server (the moto[server] Python
// package) on 127.0.0.1 for tests that talk to DynamoDB, Secrets Manager, S3
// or CloudFront's key-group API through aws-sdk-go-v2.
//
// The server is moto_server run by the committed launcher.py, which adds one
// guarantee of the real service that moto lacks: DynamoDB's per-item
// atomicity. moto serves each request on its own thread and evaluates a
// ConditionExpression and writes the item without a lock, so two conditional
// updates racing on one item can both succeed (and an ADD can return another
// request's count); the launcher handles every DynamoDB request, answer
// included, under one lock (see launcher.py). It is a stand-in
// for a promise AWS keeps, named as such; nothing in the product relies on it.
//
// One server is started per test binary, on first use, and shared; tests keep
// apart by using their own table, secret, bucket and key-group names (see
// Unique). If python3 with moto is not installed the test fails: CI installs
// it, and a test that needs a real server never silently skips. Under
// go test -short, Shared skips the test instead (see internal/testutil/needs).
package motoserver

import (
	"context"
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

//go:embed launcher.py
var launcher []byte

// LauncherModule is the file name under which WriteLauncher writes
// launcher.py, so that another launcher in the same folder can
// "import motolauncher; motolauncher.install()".
const LauncherModule = "motolauncher.py"

// WriteLauncher writes launcher.py into dir as LauncherModule and returns its
// path.
func WriteLauncher(dir string) (string, error) {
	path := filepath.Join(dir, LauncherModule)
	if err := os.WriteFile(path, launcher, 0o600); err != nil {
		return "", fmt.Errorf("write moto launcher: %w", err)
	}
	return path, nil
}

// Server is a running moto_server.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	cmd      *exec.Cmd
}

var (
	once    sync.Once
	shared  *Server
	initErr error
	counter atomic.Int64
)

// Shared returns the moto server of this test binary, starting it on first
// use. The process is killed when the binary exits (the parent-death signal
// set here). Under go test -short it skips the test.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	needs.Tool(tb, "moto_server")
	once.Do(func() { shared, initErr = Start() })
	if initErr != nil {
		tb.Fatalf("motoserver: %v", initErr)
	}
	return shared
}

// Python returns the interpreter that runs the launchers: $PYTHON, or
// python3 on PATH.
func Python() (string, error) {
	python := os.Getenv("PYTHON")
	if python == "" {
		python = "python3"
	}
	path, err := exec.LookPath(python)
	if err != nil {
		return "", fmt.Errorf("%s not found (moto needs it: pip install \"moto[server]\"): %w", python, err)
	}
	return path, nil
}

// Start starts a new moto server (moto_server with DynamoDB's per-item
// atomicity, see launcher.py) on a free port of 127.0.0.1 and waits until it
// answers.
func Start() (*Server, error) {
	python, err := Python()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "motoserver-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	path, err := WriteLauncher(dir)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return StartCommand(exec.Command(python, path, "-H", "127.0.0.1", "-p", fmt.Sprint(port)), port)
}

// StartCommand starts cmd, which must serve the moto API on 127.0.0.1:port
// (for example a launcher that extends moto), and waits until it answers.
func StartCommand(cmd *exec.Cmd, port int) (*Server, error) {
	setPdeathsig(cmd)
	cmd.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s exited before answering: %v: %s", cmd.Path, err, stderr.String())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not answer on %s within 30s: %s", cmd.Path, s.Endpoint, stderr.String())
}

// Close stops the server.
func (s *Server) Close() {
	if s != nil && s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// Config returns an aws.Config pointed at the server: region us-east-1, dummy
// static credentials, BaseEndpoint set (the same effect as AWS_ENDPOINT_URL).
func (s *Server) Config(tb testing.TB) aws.Config {
	tb.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(s.Endpoint),
	)
	if err != nil {
		tb.Fatalf("motoserver: load config: %v", err)
	}
	return cfg
}

// Env returns environment variables that point a child process (a compiled
// command, the bootstrap binary, the AWS CLI) at the server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Unique returns a name unique within this test binary, derived from the
// test's name and safe for tables, buckets, secrets and key groups.
func Unique(tb testing.TB, prefix string) string {
	tb.Helper()
	n := counter.Add(1)
	var b strings.Builder
	for _, r := range strings.ToLower(tb.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
		if b.Len() >= 24 {
			break
		}
	}
	return fmt.Sprintf("%s-%s-%d-%d", prefix, b.String(), os.Getpid()%100000, n)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return freePort() }

type limitedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
	n  int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}
