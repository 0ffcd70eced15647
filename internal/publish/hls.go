package publish

import (
	"bufio"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// NotHLSError says why a folder cannot be published as an HLS course.
type NotHLSError struct {
	Dir      string
	Problems []string // one line each, relative paths, capped
}

func (e *NotHLSError) Error() string {
	return fmt.Sprintf("%s is not a publishable HLS folder:\n  %s", e.Dir, strings.Join(e.Problems, "\n  "))
}

const maxProblems = 20

// uriAttrTags are the playlist tags whose URI attribute names a resource.
var uriAttrTags = []string{
	"#EXT-X-MAP:", "#EXT-X-KEY:", "#EXT-X-SESSION-KEY:", "#EXT-X-MEDIA:",
	"#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:",
	"#EXT-X-RENDITION-REPORT:", "#EXT-X-SESSION-DATA:",
}

// ValidateHLS checks that dir holds HLS media that will play once uploaded:
// at least one .m3u8 playlist, every playlist starts with #EXTM3U, and every
// URI a playlist names (variant playlists, media segments, EXT-X-MAP init
// segments, EXT-X-KEY keys, renditions…) is a relative path to a file inside
// dir. Absolute URLs and root-relative paths are refused because they would
// leave the course's signed path; key URIs may be absolute (a key server) or
// skd:/data: URIs.
func ValidateHLS(dir string) error {
	var playlists []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".m3u8") {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			playlists = append(playlists, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if len(playlists) == 0 {
		return &NotHLSError{Dir: dir, Problems: []string{"no .m3u8 playlist found (expected e.g. master.m3u8)"}}
	}
	sort.Strings(playlists)
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		} else if len(problems) == maxProblems {
			problems = append(problems, "… (more problems not shown)")
		}
	}
	for _, pl := range playlists {
		checkPlaylist(dir, pl, add)
	}
	if len(problems) > 0 {
		return &NotHLSError{Dir: dir, Problems: problems}
	}
	return nil
}

func checkPlaylist(dir, pl string, add func(string, ...any)) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(pl)))
	if err != nil {
		add("%s: %v", pl, err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
			if text != "#EXTM3U" {
				add("%s: first line is not #EXTM3U", pl)
				return
			}
			continue
		}
		switch {
		case text == "":
		case strings.HasPrefix(text, "#"):
			for _, tag := range uriAttrTags {
				if !strings.HasPrefix(text, tag) {
					continue
				}
				uri, ok := attr(text[len(tag):], "URI")
				if !ok {
					break
				}
				isKey := tag == "#EXT-X-KEY:" || tag == "#EXT-X-SESSION-KEY:"
				if isKey {
					if m, _ := attr(text[len(tag):], "METHOD"); m == "NONE" {
						break
					}
				}
				checkURI(dir, pl, line, uri, isKey, add)
			}
		default:
			checkURI(dir, pl, line, text, false, add)
		}
	}
	if err := sc.Err(); err != nil {
		add("%s: %v", pl, err)
	}
	if line == 0 {
		add("%s: empty playlist", pl)
	}
}

func checkURI(dir, pl string, line int, uri string, isKey bool, add func(string, ...any)) {
	u, err := url.Parse(uri)
	if err != nil {
		add("%s:%d: malformed URI %q", pl, line, uri)
		return
	}
	if u.Scheme != "" || u.Host != "" {
		if isKey {
			return // a key server, skd:// (FairPlay) or data: key
		}
		add("%s:%d: absolute URL %q: publish needs paths relative to the playlist, inside the course", pl, line, uri)
		return
	}
	if strings.HasPrefix(u.Path, "/") {
		add("%s:%d: root-relative path %q: use a path relative to the playlist", pl, line, uri)
		return
	}
	target := path.Clean(path.Join(path.Dir(pl), u.Path))
	if target == ".." || strings.HasPrefix(target, "../") {
		add("%s:%d: %q points outside the folder", pl, line, uri)
		return
	}
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(target)))
	switch {
	case err != nil:
		add("%s:%d: names missing file %s", pl, line, target)
	case fi.IsDir():
		add("%s:%d: names a directory %s", pl, line, target)
	}
}

// attr returns a quoted or plain attribute from an HLS attribute list.
func attr(list, name string) (string, bool) {
	for len(list) > 0 {
		eq := strings.IndexByte(list, '=')
		if eq < 0 {
			return "", false
		}
		key := strings.TrimSpace(list[:eq])
		rest := list[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", false
			}
			val, rest = rest[1:1+end], rest[2+end:]
		} else if comma := strings.IndexByte(rest, ','); comma >= 0 {
			val, rest = rest[:comma], rest[comma:]
		} else {
			val, rest = rest, ""
		}
		if key == name {
			return val, true
		}
		list = strings.TrimPrefix(strings.TrimLeft(rest, " "), ",")
	}
	return "", false
}
