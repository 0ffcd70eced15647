package mem_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

func TestOpenPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the file before any change: %v", err)
	}
	ctx := t.Context()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := st.CreateUser(ctx, store.User{Email: "ada@example.com", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCourse(ctx, store.Course{ID: "intro", Title: "Intro"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutGrant(ctx, store.Grant{Email: "ada@example.com", CourseID: "intro", Expires: exp}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %v, want 0600 (it holds password hashes)", mode)
	}

	again, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := again.GetGrant(ctx, "ada@example.com", "intro")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Expires.Equal(exp) {
		t.Errorf("reopened grant expires %v, want %v", g.Expires, exp)
	}
	if again.Path() != path || mem.New().Path() != "" {
		t.Errorf("Path() = %q", again.Path())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the store file (temporary files left?)", len(entries))
	}
}

func TestOpenSeesOtherWriters(t *testing.T) {
	// Two stores on one file stand for the CLI and a running local
	// distribution.
	path := filepath.Join(t.TempDir(), "store.json")
	a, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := a.CreateSession(ctx, store.Session{IDHash: "h1", Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetSession(ctx, "h1"); err != nil {
		t.Fatalf("b does not see a's session: %v", err)
	}
	n, err := b.DeleteUserSessions(ctx, "ada@example.com")
	if err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions = %d, %v", n, err)
	}
	if _, err := a.GetSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a still sees the revoked session: %v", err)
	}
}

func TestOpenRejectsBadFile(t *testing.T) {
	tests := map[string]string{
		"not json":       "nope",
		"unknown field":  `{"format":1,"users":[],"secrets":1}`,
		"future format":  `{"format":2}`,
		"missing format": `{"users":[]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "store.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := mem.Open(path); err == nil || !strings.Contains(err.Error(), "store file") {
				t.Errorf("Open = %v, want a store file error", err)
			}
		})
	}
	t.Run("null maps", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "store.json")
		if err := os.WriteFile(path, []byte(`{"format":1,"users":null}`), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := mem.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutUser(t.Context(), store.User{Email: "a@b.c"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFailedSaveRollsBack(t *testing.T) {
	// The directory does not exist, so every save fails: the change must not
	// stay in memory either.
	st, err := mem.Open(filepath.Join(t.TempDir(), "missing", "store.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutCourse(t.Context(), store.Course{ID: "intro"}); err == nil {
		t.Fatal("PutCourse succeeded without a writable file")
	}
	if _, err := st.GetCourse(t.Context(), "intro"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCourse after a failed save = %v, want ErrNotFound", err)
	}
}

func TestCreateSessionDropsExpired(t *testing.T) {
	st := mem.New()
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.CreateSession(ctx, store.Session{IDHash: "old", Email: "a@b.c", CreatedAt: t0, Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, store.Session{IDHash: "new", Email: "a@b.c", CreatedAt: t0.Add(2 * time.Hour), Expires: t0.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetSession(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session kept: %v", err)
	}
	if _, err := st.GetSession(ctx, "new"); err != nil {
		t.Error(err)
	}
}

// TestOpenPersistsFailureCounters: the account-wide and per-source counters
// survive a reopen, apart from each other.
func TestOpenPersistsFailureCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	// Counters of an account are kept in the file (those of emails with no
	// account are not: TestUnknownEmailsCostNoWrite).
	if err := st.CreateUser(ctx, store.User{Email: "ada@example.com", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.RecordSourceFailure(ctx, "ada@example.com", "192.0.2.1", now, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RecordFailure(ctx, "ada@example.com", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	again, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := again.SourceFailures(ctx, "ada@example.com", "192.0.2.1", now); err != nil || n != 2 {
		t.Errorf("reopened source counter = %d, %v; want 2", n, err)
	}
	if n, err := again.Failures(ctx, "ada@example.com", now); err != nil || n != 1 {
		t.Errorf("reopened account counter = %d, %v; want 1", n, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"source": "192.0.2.1"`) && !strings.Contains(string(b), `"source":"192.0.2.1"`) {
		t.Errorf("the file does not name the source:\n%s", b)
	}
}

// TestUnknownEmailsCostNoWrite: attempts with emails that have no account
// are counted (atomically, the same as for an account) but never written to
// the file, so a flood of random emails neither grows it nor rewrites it.
func TestUnknownEmailsCostNoWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := st.CreateUser(ctx, store.User{Email: "ada@example.com", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		email := fmt.Sprintf("nobody-%d@example.com", i%500)
		if _, err := st.RecordSourceFailure(ctx, email, "192.0.2.9", now, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordFailure(ctx, email, now, 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("attempts with unknown emails rewrote the file (%d → %d bytes)", before.Size(), after.Size())
	}
	if n, err := st.Failures(ctx, "nobody-7@example.com", now); err != nil || n != 4 {
		t.Errorf("Failures(unknown email) = %d, %v; want 4 (counted like an account)", n, err)
	}
	if n, err := st.SourceFailures(ctx, "nobody-7@example.com", "192.0.2.9", now); err != nil || n != 4 {
		t.Errorf("SourceFailures(unknown email) = %d, %v; want 4", n, err)
	}
	if err := st.ResetFailures(ctx, "nobody-7@example.com"); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.Failures(ctx, "nobody-7@example.com", now); n != 0 {
		t.Errorf("Failures after ResetFailures = %d, want 0", n)
	}
}

// TestPassedWindowsArePruned: the file keeps no failure window that ended
// over an hour before a write.
func TestPassedWindowsArePruned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range []string{"ada@example.com", "bob@example.com"} {
		if err := st.CreateUser(ctx, store.User{Email: e, PasswordHash: "x", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RecordSourceFailure(ctx, "ada@example.com", "192.0.2.1", now, 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "192.0.2.1") {
		t.Fatalf("ada's counter is not in the file:\n%s", b)
	}
	// Two hours later another account's failure rewrites the file.
	if _, err := st.RecordFailure(ctx, "bob@example.com", now.Add(2*time.Hour), 15*time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "192.0.2.1") {
		t.Errorf("a window that ended 1h45m ago is still in the file:\n%s", b)
	}
	if !strings.Contains(string(b), `"windowStart"`) {
		t.Errorf("bob's current counter is not in the file:\n%s", b)
	}
}

// TestConcurrentChangesAllPersist: changes made while another write is under
// way share the next write; each call returns only once its change is in
// the file, so a fresh Open sees every one, and concurrent failure counting
// stays exact.
func TestConcurrentChangesAllPersist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.json")
	st, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	now := time.Now()
	// Counters of emails with no account are not written to the file.
	if err := st.CreateUser(t.Context(), store.User{Email: "bob@example.com", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			errs <- st.CreateSession(t.Context(), store.Session{
				IDHash: fmt.Sprintf("%064x", i), Email: "ada@example.com", CreatedAt: now, Expires: now.Add(time.Hour),
			})
		})
		wg.Go(func() {
			_, err := st.RecordFailure(t.Context(), "bob@example.com", now, time.Hour)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	again, err := mem.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := again.GetSession(t.Context(), fmt.Sprintf("%064x", i)); err != nil {
			t.Errorf("session %d not in the file: %v", i, err)
		}
	}
	if c, err := again.Failures(t.Context(), "bob@example.com", now); err != nil || c != n {
		t.Errorf("failures in the file = %d, %v; want %d", c, err, n)
	}
}
