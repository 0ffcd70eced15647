package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

// TestSeedKeepsOperatorChanges: a restart seeds only what is missing. A demo
// user the operator disabled stays disabled, a revoked grant stays revoked,
// and the password changes only when CFGATE_DEMO_PASSWORD asks for it.
func TestSeedKeepsOperatorChanges(t *testing.T) {
	needHLSJS(t)
	ctx := context.Background()
	tpl, err := findUp(".", "template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	start := func(pw string) *app {
		t.Helper()
		o := &options{state: state, template: tpl, cookieTTL: 10 * time.Minute, cookieBucket: 5 * time.Minute, demoPassword: pw}
		a, err := setup(ctx, o, "127.0.0.1:1", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		a.close()
		return a
	}
	st, err := mem.Open(filepath.Join(state, storeFile))
	if err != nil {
		t.Fatal(err)
	}
	checkPassword := func(pw string) bool {
		t.Helper()
		u, err := st.GetUser(ctx, demoEmail)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := password.Verify(u.PasswordHash, pw)
		return err == nil && ok
	}

	// First start, no CFGATE_DEMO_PASSWORD: a generated password, kept.
	first := start("")
	if first.demoPassword == "" || !checkPassword(first.demoPassword) {
		t.Fatalf("first start: printed password %q does not log in", first.demoPassword)
	}
	if fi, err := os.Stat(filepath.Join(state, demoPasswordFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo password file: %v %v, want mode 0600", fi, err)
	}
	if _, err := st.GetGrant(ctx, demoEmail, demoGranted); err != nil {
		t.Fatalf("first start: demo grant missing: %v", err)
	}

	// The operator disables the demo user and revokes its grant.
	u, err := st.GetUser(ctx, demoEmail)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := st.PutUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteGrant(ctx, demoEmail, demoGranted); err != nil {
		t.Fatal(err)
	}

	again := start("")
	if again.demoPassword != first.demoPassword || !strings.Contains(again.passwordNote, demoPasswordFile) {
		t.Errorf("restart printed %q%s, want the kept password %q", again.demoPassword, again.passwordNote, first.demoPassword)
	}
	if u, _ := st.GetUser(ctx, demoEmail); !u.Disabled {
		t.Error("restart enabled the disabled demo user")
	}
	if _, err := st.GetGrant(ctx, demoEmail, demoGranted); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restart brought the revoked grant back: %v", err)
	}

	// CFGATE_DEMO_PASSWORD sets the password, and nothing else.
	chosen := start("chosen-password-1")
	if chosen.demoPassword != "chosen-password-1" || !checkPassword("chosen-password-1") {
		t.Errorf("CFGATE_DEMO_PASSWORD: printed %q, password set %v", chosen.demoPassword, checkPassword("chosen-password-1"))
	}
	if u, _ := st.GetUser(ctx, demoEmail); !u.Disabled {
		t.Error("setting the password enabled the disabled demo user")
	}

	// Without it, a password changed elsewhere is kept and not printed wrong.
	later := start("")
	if later.demoPassword != "" || !strings.Contains(later.passwordNote, "changed") || !checkPassword("chosen-password-1") {
		t.Errorf("after a password change: printed %q%q; want no password and a note", later.demoPassword, later.passwordNote)
	}
}
