package api

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/password"
)

// gatedPasswords is a PasswordVerifier that records how many verifications
// run at once and, while gate is open (non-nil), holds each one until the
// gate is closed.
type gatedPasswords struct {
	running, peak atomic.Int64
	started       chan struct{}
	gate          chan struct{}
}

func (g *gatedPasswords) enter() {
	n := g.running.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if g.started != nil {
		g.started <- struct{}{}
	}
	if g.gate != nil {
		<-g.gate
	}
}

func (g *gatedPasswords) Verify(hash, pw string) (bool, error) {
	g.enter()
	defer g.running.Add(-1)
	return password.Verify(hash, pw)
}

func (g *gatedPasswords) DummyVerify(pw string) bool {
	g.enter()
	defer g.running.Add(-1)
	return password.DummyVerify(pw)
}

// TestPasswordWorkIsBounded: many logins at once run at most
// PasswordConcurrency verifications together, and every one is answered.
func TestPasswordWorkIsBounded(t *testing.T) {
	const slots, logins = 2, 24
	g := &gatedPasswords{started: make(chan struct{}, logins), gate: make(chan struct{})}
	e := newEnv(t, withConfig(func(c *Config) {
		c.Passwords = g
		c.PasswordConcurrency = slots
		c.PasswordWait = time.Minute
		c.LockoutThreshold = 1000
	}))
	var wg sync.WaitGroup
	statuses := make(chan int, logins)
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := alicePW
			if i%2 == 1 {
				pw = "wrong password"
			}
			statuses <- e.do(req("POST", "/api/login", loginBodyJSON(alice, pw))).StatusCode
		}()
	}
	// Both slots fill; the others wait for them, not for the gate.
	for range slots {
		<-g.started
	}
	select {
	case <-g.started:
		t.Fatalf("a verification started while %d held every slot", slots)
	case <-time.After(100 * time.Millisecond):
	}
	close(g.gate)
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != logins/2 || counts[http.StatusUnauthorized] != logins/2 {
		t.Errorf("statuses %v, want %d × 200 and %d × 401", counts, logins/2, logins/2)
	}
	if p := g.peak.Load(); p > slots {
		t.Errorf("%d verifications ran at once, want at most %d", p, slots)
	}
}

// TestPasswordWaitAnswers503: a login that finds every slot busy for longer
// than PasswordWait gets 503 with Retry-After, and no password work.
func TestPasswordWaitAnswers503(t *testing.T) {
	g := &gatedPasswords{started: make(chan struct{}, 1), gate: make(chan struct{})}
	e := newEnv(t, withConfig(func(c *Config) {
		c.Passwords = g
		c.PasswordConcurrency = 1
		c.PasswordWait = 20 * time.Millisecond
	}))
	first := make(chan int, 1)
	go func() { first <- e.do(req("POST", "/api/login", loginBodyJSON(alice, alicePW))).StatusCode }()
	<-g.started // the only slot is held
	resp := e.do(req("POST", "/api/login", loginBodyJSON(bob, bobPW)))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("login with every slot busy: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if body := readBody(t, resp); body != `{"error":"service unavailable, try again later"}`+"\n" {
		t.Errorf("body %q", body)
	}
	close(g.gate)
	if s := <-first; s != http.StatusOK {
		t.Errorf("the login holding the slot: %d, want 200", s)
	}
	// With the slot free again, the next login goes through.
	if resp := e.do(req("POST", "/api/login", loginBodyJSON(bob, bobPW))); resp.StatusCode != http.StatusOK {
		t.Errorf("login after the storm: %d, want 200", resp.StatusCode)
	}
}

// TestRehashAfterLogin: a stored hash with other parameters than the
// defaults is replaced by a Default one at the owner's next successful
// login, and nothing else of the account changes; a failed login replaces
// nothing.
func TestRehashAfterLogin(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.Passwords = argon2Verifier{} }))
	ctx := t.Context()
	before, err := e.st.GetUser(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if !password.NeedsRehash(before.PasswordHash) {
		t.Fatal("the test's hashes should be cheap, non-default ones")
	}
	if resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong password"))); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if u, _ := e.st.GetUser(ctx, alice); u.PasswordHash != before.PasswordHash {
		t.Error("a failed login replaced the hash")
	}
	e.login(t, alice, alicePW)
	after, err := e.st.GetUser(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == before.PasswordHash || password.NeedsRehash(after.PasswordHash) {
		t.Errorf("after a login the hash is %q, want a new one with the default parameters", after.PasswordHash)
	}
	if ok, err := password.Verify(after.PasswordHash, alicePW); err != nil || !ok {
		t.Errorf("the new hash does not verify the password: %v %v", ok, err)
	}
	if after.Disabled != before.Disabled || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("the rehash changed more than the hash: %+v → %+v", before, after)
	}
	if !strings.Contains(e.logs.String(), "password rehashed") {
		t.Error("no log line says the hash was replaced")
	}
}

// TestKeepHashes: with KeepHashes a login verifies as the default does and
// leaves a cheap stored hash as it is.
func TestKeepHashes(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.Passwords = KeepHashes{} }))
	before, err := e.st.GetUser(t.Context(), alice)
	if err != nil || !password.NeedsRehash(before.PasswordHash) {
		t.Fatalf("the test's hashes should be cheap, non-default ones (%v)", err)
	}
	if resp := e.do(req("POST", "/api/login", loginBodyJSON(alice, "wrong password"))); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	e.login(t, alice, alicePW)
	if after, err := e.st.GetUser(t.Context(), alice); err != nil || after.PasswordHash != before.PasswordHash {
		t.Errorf("the stored hash changed (%v)", err)
	}
}
