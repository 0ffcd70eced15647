package materials

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseManifest(t *testing.T) {
	good := `{"course":"a","playlists":["ts/master.m3u8"],"files":[{"name":"ebook.pdf","size":3,"type":"application/pdf","title":"Book"}]}`
	m, err := ParseManifest("a", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := m.File("ebook.pdf"); !ok || f.Title != "Book" || f.Size != 3 {
		t.Errorf("File(ebook.pdf) = %+v, %v", f, ok)
	}
	if _, ok := m.File("other.pdf"); ok {
		t.Error("File(other.pdf) found")
	}
	bad := map[string]string{
		"other course":   `{"course":"b","playlists":[],"files":[]}`,
		"unknown field":  `{"course":"a","playlists":[],"files":[],"x":1}`,
		"trailing":       `{"course":"a","playlists":[],"files":[]} {}`,
		"dotdot path":    `{"course":"a","playlists":["../b/master.m3u8"],"files":[]}`,
		"not a playlist": `{"course":"a","playlists":["ts/seg.ts"],"files":[]}`,
		"bad file name":  `{"course":"a","playlists":[],"files":[{"name":".env","size":1,"type":"x"}]}`,
		"negative size":  `{"course":"a","playlists":[],"files":[{"name":"a.pdf","size":-1,"type":"x"}]}`,
	}
	for name, b := range bad {
		if _, err := ParseManifest("a", []byte(b)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestValidateFileName(t *testing.T) {
	for _, ok := range []string{"a", "ebook.pdf", "Work_book-2.zip", strings.Repeat("a", 128)} {
		if err := ValidateFileName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "-a", "a/b", "a..pdf", "my book.pdf", "über.pdf", strings.Repeat("a", 129), "a%2Fb"} {
		if ValidateFileName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDirObjects(t *testing.T) {
	d := DirObjects{FS: fstest.MapFS{
		"manifests/a.json":         {Data: []byte("{}")},
		"courses/a/ts/master.m3u8": {Data: []byte("#EXTM3U\n")},
	}}
	ctx := context.Background()
	if b, err := d.Get(ctx, "courses/a/ts/master.m3u8", 100); err != nil || string(b) != "#EXTM3U\n" {
		t.Errorf("Get = %q, %v", b, err)
	}
	if _, err := d.Get(ctx, "courses/a/ts/master.m3u8", 3); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("over max: %v", err)
	}
	for _, k := range []string{"courses/a/nope.m3u8", "../x", "/manifests/a.json", "courses/a"} {
		if _, err := d.Get(ctx, k, 100); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", k, err)
		}
	}
}
