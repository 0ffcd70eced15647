package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

// BenchmarkLoginStorm sends 1,000 logins at once (1,000 different users, the
// right password) to the in-process local distribution over loopback HTTP,
// and reports the process's peak RSS during the storm and how each login was
// answered: 200, or 503 with Retry-After when a login waited longer than
// PasswordWait for a password-work slot. Any other answer fails it.
//
//	go test -run '^$' -bench LoginStorm -benchtime 1x ./distribution/
func BenchmarkLoginStorm(b *testing.B) {
	const users = 1000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	domain := ln.Addr().String()
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		b.Fatal(err)
	}
	needHLSJS(b)
	state := b.TempDir()
	const pw = "storm password 1"
	hash, err := password.Hash(pw)
	if err != nil {
		b.Fatal(err)
	}
	st, err := mem.Open(filepath.Join(state, storeFile))
	if err != nil {
		b.Fatal(err)
	}
	for i := range users {
		if err := st.PutUser(context.Background(), store.User{Email: fmt.Sprintf("storm-%d@cfgate.test", i), PasswordHash: hash, CreatedAt: time.Now().UTC()}); err != nil {
			b.Fatal(err)
		}
	}
	o := &options{state: state, template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute, demoPassword: testPassword}
	a, err := setup(context.Background(), o, domain, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.server)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: users, MaxConnsPerHost: 0}, Timeout: 2 * time.Minute}

	var peak int64
	counts := map[string]int{}
	b.ResetTimer()
	for range b.N {
		resetPeakRSS(b)
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for i := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				body := fmt.Sprintf(`{"email":"storm-%d@cfgate.test","password":%q}`, i, pw)
				req, _ := http.NewRequest("POST", srv.URL+"/api/login", bytes.NewBufferString(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Origin", srv.URL)
				resp, err := client.Do(req)
				outcome := ""
				switch {
				case err != nil:
					outcome = "error: " + err.Error()
				case resp.StatusCode == 200:
					outcome = "200"
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
					outcome = "503 Retry-After"
				default:
					outcome = strconv.Itoa(resp.StatusCode)
				}
				if resp != nil {
					resp.Body.Close()
				}
				mu.Lock()
				counts[outcome]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if p := peakRSS(b); p > peak {
			peak = p
		}
	}
	b.StopTimer()
	for outcome, n := range counts {
		if outcome != "200" && outcome != "503 Retry-After" {
			b.Errorf("%d logins answered %s", n, outcome)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(counts["200"])/float64(b.N), "ok/storm")
	b.ReportMetric(float64(counts["503 Retry-After"])/float64(b.N), "503/storm")
}

// resetPeakRSS resets the kernel's VmHWM for this process (Linux: writing 5
// to clear_refs).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset peak RSS here: %v", err)
	}
}

// peakRSS returns VmHWM, the process's peak resident set, in bytes.
func peakRSS(b *testing.B) int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
