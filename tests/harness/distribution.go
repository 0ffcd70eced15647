package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// DemoEmail is the demo user the local distribution seeds.
const DemoEmail = "demo@cfgate.test"

// DemoPassword is the password the harness gives the demo user (CFGATE_DEMO_PASSWORD).
const DemoPassword = "harness-demo-password"

// Demo courses: GrantedCourse is granted to the demo user, OtherCourse is not.
const (
	GrantedCourse = "intro-to-hls"
	OtherCourse   = "advanced-streaming"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Main runs the tests and then removes the binary that Start built. Use it in
// TestMain: func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }.
func Main(m *testing.M) int {
	code := needs.Main(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// ModuleRoot returns the folder of the cfgate go.mod (the tests run in their package folder).
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("harness: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Binary builds ./distribution once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "cfgate-harness-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "distribution")
		cmd := exec.Command("go", "build", "-o", buildBin, "./distribution")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./distribution: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Options configure Start. The zero value runs the embedded demo with a fresh state folder.
type Options struct {
	StateDir    string   // -state; default a new t.TempDir()
	Template    string   // -template; default the repository's template.yaml
	TrustedKeys string   // -trusted-keys
	Origin      string   // -origin
	Password    string   // CFGATE_DEMO_PASSWORD; default DemoPassword
	Args        []string // more flags
	Env         []string // more environment (KEY=value)
}

// Distribution is a running local distribution process.
type Distribution struct {
	URL      string // http://127.0.0.1:PORT (no trailing slash)
	Host     string // 127.0.0.1:PORT, the distribution domain in policies
	StateDir string
	Password string

	cmd    *exec.Cmd
	out    *syncbuf.Buffer // stdout
	log    *syncbuf.Buffer // stderr: the access log
	done   chan struct{}
	waitMu sync.Mutex
	err    error
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start builds (once) and starts the local distribution on a free loopback port,
// waits until it answers, and stops it when the test ends.
func Start(t testing.TB, o Options) *Distribution {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	needs.File(t, filepath.Join(root, "distribution", "player", "node_modules", "hls.js", "dist", "hls.min.js"), "hls.js (npm ci --prefix distribution/player)")
	bin := Binary(t)
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.Template == "" {
		o.Template = filepath.Join(root, "template.yaml")
	}
	if o.Password == "" {
		o.Password = DemoPassword
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before we bind it
		host := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		args := []string{"-addr", host, "-state", o.StateDir, "-template", o.Template}
		if o.TrustedKeys != "" {
			args = append(args, "-trusted-keys", o.TrustedKeys)
		}
		if o.Origin != "" {
			args = append(args, "-origin", o.Origin)
		}
		args = append(args, o.Args...)
		d := &Distribution{URL: "http://" + host, Host: host, StateDir: o.StateDir, Password: o.Password,
			out: &syncbuf.Buffer{}, log: &syncbuf.Buffer{}, done: make(chan struct{})}
		d.cmd = exec.Command(bin, args...)
		d.cmd.Dir = root // finds distribution/player/node_modules (hls.js) from here
		d.cmd.Env = append(os.Environ(), "CFGATE_DEMO_PASSWORD="+o.Password)
		d.cmd.Env = append(d.cmd.Env, o.Env...)
		d.cmd.Stdout, d.cmd.Stderr = d.out, d.log
		if err := d.cmd.Start(); err != nil {
			t.Fatalf("start distribution: %v", err)
		}
		go func() {
			err := d.cmd.Wait()
			d.waitMu.Lock()
			d.err = err
			d.waitMu.Unlock()
			close(d.done)
		}()
		if err := d.waitReady(30 * time.Second); err != nil {
			d.kill()
			lastErr = err
			if strings.Contains(d.log.String(), "address already in use") {
				continue
			}
			break
		}
		t.Cleanup(func() {
			d.kill()
			if t.Failed() {
				t.Logf("distribution stdout:\n%s", d.out.String())
				t.Logf("distribution access log (last 60 lines):\n%s", tail(d.log.String(), 60))
			}
		})
		return d
	}
	t.Fatalf("distribution did not start: %v", lastErr)
	return nil
}

func (d *Distribution) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			return fmt.Errorf("exited (%v); stdout:\n%s\nstderr:\n%s", d.exitErr(), d.out.String(), d.log.String())
		default:
		}
		resp, err := client.Get(d.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v; stderr:\n%s", timeout, d.log.String())
}

func (d *Distribution) exitErr() error {
	d.waitMu.Lock()
	defer d.waitMu.Unlock()
	return d.err
}

func (d *Distribution) kill() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// Stop stops the process (for a restart on the same StateDir); the test-end cleanup
// is then a no-op.
func (d *Distribution) Stop(t testing.TB) {
	t.Helper()
	d.kill()
}

// Stdout is what the process printed (URL, demo credentials, folders).
func (d *Distribution) Stdout() string { return d.out.String() }

// AccessLog is the process's stderr: one slog line per request.
func (d *Distribution) AccessLog() string { return d.log.String() }

// Response is the outcome of Get.
type Response struct {
	Status      int
	ContentType string
	Body        string
}

// Get requests path (with an optional raw Cookie header) outside the browser.
func (d *Distribution) Get(t testing.TB, path, cookieHeader string) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookieHeader != "" {
		req.Header.Set("Cookie", cookieHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b.String()}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
