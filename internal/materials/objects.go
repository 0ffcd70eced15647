package materials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// readAll reads at most max bytes of r; more is an error.
func readAll(r io.Reader, key string, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read %s: larger than %d bytes", key, max)
	}
	return b, nil
}

// DirObjects reads objects from a folder laid out like the bucket (the local
// distribution's origin: courses/…, manifests/…).
type DirObjects struct{ FS fs.FS }

// Get implements Objects.
func (d DirObjects) Get(_ context.Context, key string, max int64) ([]byte, error) {
	if !fs.ValidPath(key) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	f, err := d.FS.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return readAll(f, key, max)
}
