package main

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/cfgate/cfgate/internal/mediatype"
)

// demoMedia is the committed output of demo/make-media.sh: courses/<id>/{ts,fmp4}/….
//
//go:embed demo/media
var demoMedia embed.FS

// playerSite is the player page (player/site), served under the bucket's site/ prefix.
//
//go:embed player/site
var playerSite embed.FS

// hlsJSRel is where `npm ci --prefix distribution/player` puts hls.js, relative to
// the module root. It is read from disk at run time: hls.js is a pinned npm
// dependency and is never committed or fetched from a CDN.
const hlsJSRel = "distribution/player/node_modules/hls.js/dist/hls.min.js"

// errHLSJSMissing explains how to install the player's front-end dependency.
var errHLSJSMissing = errors.New("hls.js is not installed: run `npm ci --prefix distribution/player` (or `make run`)")

// mount serves the part of a bucket whose keys start with prefix from fsys.
type mount struct {
	prefix string // "" or ends with "/"; a full key for a single-file mount
	fsys   fs.FS  // nil with file set
	file   string // a file on disk mounted at exactly prefix
}

// bucket is a read-only view of an S3 bucket as a stack of mounts; the first mount
// that has a key wins. Keys are slash-separated without a leading slash.
type bucket struct {
	mounts []mount
	desc   string
	// courses is the folder of the course folders (courses/), for the
	// manifests computed at start (materials.go); nil when there is none.
	courses fs.FS
}

// Open implements fs.FS over the bucket's keys (materials.DirObjects).
func (b *bucket) Open(name string) (fs.File, error) { return b.open(name) }

func (b *bucket) open(key string) (fs.File, error) {
	if !fs.ValidPath(key) || key == "." {
		return nil, fs.ErrNotExist
	}
	for _, m := range b.mounts {
		if m.file != "" {
			if key == m.prefix {
				return os.Open(m.file)
			}
			continue
		}
		if !strings.HasPrefix(key, m.prefix) {
			continue
		}
		f, err := m.fsys.Open(strings.TrimPrefix(key, m.prefix))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return f, err
	}
	return nil, fs.ErrNotExist
}

// newBucket builds the origin bucket. With originDir empty it is the embedded demo
// media plus the player site; with originDir set, keys are looked up in that folder
// first and the player site is still available under site/ when the folder has none.
// hlsJS is the hls.min.js file served as site/vendor/hls.min.js.
func newBucket(originDir, hlsJS string) (*bucket, error) {
	site, err := fs.Sub(playerSite, "player/site")
	if err != nil {
		return nil, fmt.Errorf("player site: %w", err)
	}
	var b bucket
	if originDir != "" {
		st, err := os.Stat(originDir)
		if err != nil {
			return nil, fmt.Errorf("origin folder: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("origin folder %s: not a directory", originDir)
		}
		// os.Root, not os.DirFS: a symlink (or "..") cannot reach a file
		// outside the origin folder, as no S3 key can.
		root, err := os.OpenRoot(originDir)
		if err != nil {
			return nil, fmt.Errorf("origin folder: %w", err)
		}
		b.mounts = append(b.mounts, mount{fsys: root.FS()})
		b.desc = originDir
		if st, err := fs.Stat(root.FS(), "courses"); err == nil && st.IsDir() {
			b.courses = mustSub(root.FS(), "courses")
		}
	} else {
		media, err := fs.Sub(demoMedia, "demo/media")
		if err != nil {
			return nil, fmt.Errorf("demo media: %w", err)
		}
		b.courses = mustSub(media, "courses")
		b.mounts = append(b.mounts, mount{prefix: "courses/", fsys: b.courses})
		b.desc = "embedded demo media (courses/) and player page (site/)"
	}
	b.mounts = append(b.mounts,
		mount{prefix: "site/vendor/hls.min.js", file: hlsJS},
		mount{prefix: "site/", fsys: site},
	)
	return &b, nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a valid constant path: fs.Sub fails on nothing else
	}
	return s
}

// findHLSJS locates hls.min.js: the explicit path when given, else the npm install
// location under the module root found from dir upward.
func findHLSJS(explicit, dir string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("%w (%v)", errHLSJSMissing, err)
		}
		return explicit, nil
	}
	root, err := findUp(dir, "go.mod")
	if err != nil {
		return "", fmt.Errorf("%w (no go.mod above %s: run from the cfgate checkout or pass -hlsjs FILE)", errHLSJSMissing, dir)
	}
	p := filepath.Join(filepath.Dir(root), filepath.FromSlash(hlsJSRel))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w (%s not found)", errHLSJSMissing, p)
	}
	return p, nil
}

// findUp returns the path of name in dir or its closest ancestor that has it.
func findUp(dir, name string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found: %w", name, fs.ErrNotExist)
		}
		dir = parent
	}
}

// contentType is what the publish command stores for the key, so what S3
// would send (internal/mediatype); players are strict about the HLS ones.
func contentType(key string) string { return mediatype.ContentType(key) }

// serveObject answers a GET or HEAD for one bucket key, with range requests and
// conditional requests handled by http.ServeContent. It returns the status written.
//
// Under courses/ only the course allowlist is served, with the Content-Type
// and Content-Disposition that publish stores (internal/mediatype): publish
// refuses any other file, so a bucket in AWS holds none, and a stray HTML or
// SVG file in a local origin folder must not run on this origin either.
func (b *bucket) serveObject(w http.ResponseWriter, r *http.Request, key string) {
	ct, disposition := contentType(key), ""
	if strings.HasPrefix(key, "courses/") {
		obj, ok := mediatype.Course(key)
		if !ok {
			http.Error(w, "Not Found", http.StatusNotFound)
			return
		}
		ct, disposition = obj.ContentType, obj.Disposition
	}
	f, err := b.open(key)
	if err != nil {
		// S3 behind Origin Access Control without s3:ListBucket answers 403 AccessDenied
		// for a missing key; locally a 404 is more helpful and changes no decision.
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	if disposition != "" {
		w.Header().Set("Content-Disposition", disposition)
	}
	// Embedded files have a zero ModTime, so ServeContent sends no Last-Modified.
	http.ServeContent(w, r, "", st.ModTime(), rs)
}
