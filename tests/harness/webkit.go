package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// WebKit is one MiniBrowser (WebKitGTK, Safari's engine) driven through
// Debian's WebKitWebDriver, a W3C WebDriver endpoint, on its own Xvfb
// display. It speaks the few WebDriver commands the tests need over plain
// HTTP: navigate, and run a script (sync, or async with a callback).
type WebKit struct {
	t       testing.TB
	base    string // http://127.0.0.1:PORT/session/ID
	client  *http.Client
	display string
}

// MiniBrowserPath finds WebKitGTK's MiniBrowser (MINIBROWSER_PATH overrides).
func MiniBrowserPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MINIBROWSER_PATH"); p != "" {
		return p
	}
	m, _ := filepath.Glob("/usr/lib/*/webkit2gtk-4.*/MiniBrowser")
	if len(m) == 0 {
		t.Fatal("WebKitGTK's MiniBrowser not found: apt-get install -y webkit2gtk-driver (make test installs it), or set MINIBROWSER_PATH")
	}
	return m[len(m)-1]
}

// NewWebKit starts Xvfb, WebKitWebDriver and a MiniBrowser session; all of
// them end with the test.
func NewWebKit(t testing.TB) *WebKit {
	t.Helper()
	needs.Tool(t, "webkit2gtk-driver", "xvfb")
	for _, tool := range []string{"Xvfb", "WebKitWebDriver"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install -y webkit2gtk-driver xvfb (make test installs them): %v", tool, err)
		}
	}
	mini := MiniBrowserPath(t)
	display := startXvfb(t)
	port := FreePort(t)
	drv := exec.Command("WebKitWebDriver", fmt.Sprintf("--port=%d", port), "--host=127.0.0.1")
	drv.Env = append(os.Environ(), "DISPLAY="+display, "WEBKIT_DISABLE_COMPOSITING_MODE=1")
	var drvLog bytes.Buffer
	drv.Stdout, drv.Stderr = &drvLog, &drvLog
	drv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := drv.Start(); err != nil {
		t.Fatalf("start WebKitWebDriver: %v", err)
	}
	t.Cleanup(func() { _ = drv.Process.Kill(); _ = drv.Wait() })
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	w := &WebKit{t: t, client: &http.Client{Timeout: 90 * time.Second}, display: display}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := w.client.Get(root + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebKitWebDriver did not answer on %s: %v\n%s", root, err, drvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": mini, "args": []string{"--automation"}},
	}}}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := w.call("POST", root+"/session", caps, &created); err != nil || created.SessionID == "" {
		t.Fatalf("new WebKit session: %v\n%s", err, drvLog.String())
	}
	w.base = root + "/session/" + created.SessionID
	t.Cleanup(func() { _ = w.call("DELETE", w.base, nil, nil) })
	return w
}

// startXvfb starts Xvfb on a free display (it picks one and reports it on a
// pipe) and returns ":N".
func startXvfb(t testing.TB) string {
	t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x900x24", "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{wr}
	x.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var xlog bytes.Buffer
	x.Stderr = &xlog
	if err := x.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	wr.Close()
	t.Cleanup(func() { _ = x.Process.Kill(); _ = x.Wait() })
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatalf("Xvfb reported no display: %s", xlog.String())
		}
		return ":" + n
	case <-time.After(20 * time.Second):
		t.Fatalf("Xvfb did not start: %s", xlog.String())
	}
	return ""
}

// call sends one WebDriver command and decodes its "value" into out.
func (w *WebKit) call(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
		// a new session answers sessionId inside value
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, env.Value)
	}
	if out != nil && len(env.Value) > 0 && string(env.Value) != "null" {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

// Navigate opens url.
func (w *WebKit) Navigate(url string) {
	w.t.Helper()
	if err := w.call("POST", w.base+"/url", map[string]string{"url": url}, nil); err != nil {
		w.t.Fatalf("WebKit: navigate %s: %v", url, err)
	}
}

// Exec runs a script body (WebDriver "execute/sync": `return …;`) and
// decodes its result into out (nil to ignore it).
func (w *WebKit) Exec(script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return w.call("POST", w.base+"/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// ExecAsync runs a script whose last argument is a callback to call with
// the result (WebDriver "execute/async"); promises are awaited that way.
func (w *WebKit) ExecAsync(script string, out any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return w.call("POST", w.base+"/execute/async", map[string]any{"script": script, "args": args}, out)
}

// WaitFor polls the JavaScript expression until it is true or timeout passes.
func (w *WebKit) WaitFor(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := w.Exec("return !!("+expr+");", &ok)
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still false after %v (last error %v)", expr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
