package main

import (
	"context"
	"errors"
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

// seedResult says what seed did with the demo user's password.
type seedResult int

const (
	seededNew       seedResult = iota // the demo data was missing and is now there
	seedKept                          // the demo user exists and pw is its password
	seedPasswordSet                   // the demo user exists; its password was set to pw
	seedPasswordOld                   // the demo user exists with another password, kept
)

// seed puts the demo user (with password pw), the demo courses and the demo
// grant into st when the demo user is missing: the first start of a state
// folder. Later starts keep what an operator changed (a disabled demo user,
// a revoked grant, a removed course, failure counts). Only the password may
// change then, and only when the operator asks (setPassword: the password
// came from CFGATE_DEMO_PASSWORD); the user's other fields are kept.
func seed(ctx context.Context, st store.Store, pw string, setPassword bool) (seedResult, error) {
	u, err := st.GetUser(ctx, demoEmail)
	switch {
	case err == nil:
		if ok, err := password.Verify(u.PasswordHash, pw); err == nil && ok {
			return seedKept, nil
		}
		if !setPassword {
			return seedPasswordOld, nil
		}
		hash, err := password.Hash(pw)
		if err != nil {
			return 0, fmt.Errorf("seed: %w", err)
		}
		u.PasswordHash = hash
		if err := st.PutUser(ctx, u); err != nil {
			return 0, fmt.Errorf("seed demo user's password: %w", err)
		}
		return seedPasswordSet, nil
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("seed: read demo user: %w", err)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return 0, fmt.Errorf("seed: %w", err)
	}
	for _, c := range demoCourses {
		if _, err := st.GetCourse(ctx, c.ID); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("seed course %s: %w", c.ID, err)
		}
		if err := st.PutCourse(ctx, c); err != nil {
			return 0, fmt.Errorf("seed course %s: %w", c.ID, err)
		}
	}
	if err := st.PutGrant(ctx, store.Grant{Email: demoEmail, CourseID: demoGranted}); err != nil {
		return 0, fmt.Errorf("seed grant: %w", err)
	}
	// The user last: a start interrupted before this point seeds again.
	if err := st.CreateUser(ctx, store.User{Email: demoEmail, PasswordHash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		return 0, fmt.Errorf("seed demo user: %w", err)
	}
	return seededNew, nil
}
