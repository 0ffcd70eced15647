package materials

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestBuild(t *testing.T) {
	course := fstest.MapFS{
		"ts/master.m3u8":      {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n")},
		"ts/v/index.m3u8":     {Data: []byte("#EXTM3U\n#EXTINF:2,\ns.ts\n")},
		"fmp4/master.m3u8":    {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n")},
		"fmp4/v/index.m3u8":   {Data: []byte("#EXTM3U\n")},
		"files/notes.pdf":     {Data: []byte("%PDF-1.4")},
		"files/audio.mp3":     {Data: []byte("ID3")},
		"files/.DS_Store":     {Data: []byte("x")},
		"files/list.m3u8":     {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n")},
		".hidden/master.m3u8": {Data: []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n")},
		"titles.tsv":          {Data: []byte("# comment\r\nnotes.pdf\t  Course notes  \r\n")},
	}
	m, err := Build(course, "intro")
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{Course: "intro", Playlists: []string{"fmp4/master.m3u8", "ts/master.m3u8"}, Files: []File{
		{Name: "audio.mp3", Size: 3, Type: "audio/mpeg"},
		{Name: "list.m3u8", Size: 45, Type: "application/vnd.apple.mpegurl"},
		{Name: "notes.pdf", Size: 8, Type: "application/pdf", Title: "Course notes"},
	}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Build =\n %+v\nwant\n %+v", m, want)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ParseManifest("intro", b); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip: %+v, %v", back, err)
	}

	// No master playlist: every playlist; no files/: none.
	m, err = Build(fstest.MapFS{"b.m3u8": {Data: []byte("#EXTM3U\n")}, "a/x.m3u8": {Data: []byte("#EXTM3U\n")}}, "single")
	if err != nil || !reflect.DeepEqual(m.Playlists, []string{"a/x.m3u8", "b.m3u8"}) || len(m.Files) != 0 || m.Files == nil {
		t.Errorf("no master: %+v, %v", m, err)
	}

	for name, fsys := range map[string]fstest.MapFS{
		"bad id":        nil,
		"bad file name": {"files/a b.pdf": {Data: []byte("x")}},
		"bad type":      {"files/a.html": {Data: []byte("x")}},
		"sub-folder":    {"files/d/a.pdf": {Data: []byte("x")}},
		"bad title":     {"files/a.pdf": {Data: []byte("x")}, "titles.tsv": {Data: []byte("b.pdf\tB\n")}},
		"bad playlist":  {"Ü/master.m3u8": {Data: []byte("#EXTM3U\n")}},
	} {
		id := "c"
		if fsys == nil {
			id, fsys = "C", fstest.MapFS{}
		}
		if _, err := Build(fsys, id); err == nil {
			t.Errorf("%s: built", name)
		}
	}
	if _, err := Build(fstest.MapFS{"titles.tsv": {Data: []byte("a.pdf\t" + strings.Repeat("x", MaxTitleLen+1) + "\n")}, "files/a.pdf": {}}, "c"); err == nil {
		t.Error("long title accepted")
	}
}
