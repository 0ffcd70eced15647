package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/mem"
)

// openEmbeddedStore opens the embedded store, persisted in the state folder
// (store.json, 0600) so sessions survive a restart and the operator CLI's changes
// are seen without one.
func openEmbeddedStore(stateDir string) (store.Store, string, error) {
	p := filepath.Join(stateDir, storeFile)
	st, err := mem.Open(p)
	if err != nil {
		return nil, "", fmt.Errorf("embedded store: %w", err)
	}
	return st, "embedded, persisted in " + p, nil
}

// seed puts the demo user (with this run's password), the demo courses and the
// demo grant into st. It runs on every start, so the printed password is the one
// that works.
func seed(ctx context.Context, st store.Store, pw string) error {
	hash, err := password.Hash(pw)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := st.PutUser(ctx, store.User{Email: demoEmail, PasswordHash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		return fmt.Errorf("seed demo user: %w", err)
	}
	for _, c := range demoCourses {
		if err := st.PutCourse(ctx, c); err != nil {
			return fmt.Errorf("seed course %s: %w", c.ID, err)
		}
	}
	if err := st.PutGrant(ctx, store.Grant{Email: demoEmail, CourseID: demoGranted}); err != nil {
		return fmt.Errorf("seed grant: %w", err)
	}
	if err := st.ResetFailures(ctx, demoEmail); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
