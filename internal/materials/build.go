package materials

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/mediatype"
)

// FilesDir is the folder of a course's downloadable files, relative to the
// course folder (courses/<id>/files/ in the bucket).
const FilesDir = "files"

// TitlesFile is the optional file, at the root of a course folder, that
// gives the files their titles: one "name<TAB>title" per line, blank lines
// and lines starting with '#' ignored. It is read by publish and the local
// distribution and never uploaded or served (.tsv is not a course type).
const TitlesFile = "titles.tsv"

// MaxTitleLen bounds a title, in bytes.
const MaxTitleLen = 200

// MaxFiles bounds the files of one course (the manifest stays small).
const MaxFiles = 1000

// CheckFileNames checks the names in a course folder's files/ (if it has
// one) before anything else is done with the folder: every entry must be a
// regular file with a name that passes ValidateFileName (no sub-folders),
// except hidden files (".DS_Store", …), which are left out as everywhere in
// a course. It returns the names, sorted. The error names every offender.
func CheckFileNames(course fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(course, FilesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/: %w", FilesDir, err)
	}
	var names, bad []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		switch {
		case !e.Type().IsRegular():
			bad = append(bad, fmt.Sprintf("%s/%s: not a regular file (files/ holds files only, no folders or links)", FilesDir, name))
		case ValidateFileName(name) != nil:
			bad = append(bad, fmt.Sprintf("%s/%q: file names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without \"..\"", FilesDir, name))
		default:
			if _, ok := mediatype.Course(name); !ok {
				bad = append(bad, fmt.Sprintf("%s/%s: type not allowed in a course (allowed: %s)", FilesDir, name, strings.Join(mediatype.CourseExts(), " ")))
				continue
			}
			names = append(names, name)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("course files refused:\n  %s", strings.Join(bad, "\n  "))
	}
	if len(names) > MaxFiles {
		return nil, fmt.Errorf("%s/ holds %d files, at most %d", FilesDir, len(names), MaxFiles)
	}
	sort.Strings(names)
	return names, nil
}

// Build computes the manifest of course id from its folder (laid out as
// courses/<id>/ in the bucket): publish writes it, and the local
// distribution computes it from its origin folder at start, with this one
// function.
//
//   - Playlists: every .m3u8 outside files/ that is a master playlist (has
//     #EXT-X-STREAM-INF), sorted; a course with no master playlist lists
//     all its playlists. Each path must pass ValidatePlaylistPath.
//   - Files: files/<name> as CheckFileNames allows them, with size, the
//     Content-Type stored for them (internal/mediatype) and the title from
//     TitlesFile, if any.
func Build(course fs.FS, id string) (*Manifest, error) {
	if err := cfsign.ValidateCourseID(id); err != nil {
		return nil, fmt.Errorf("course id %q: %w", id, err)
	}
	names, err := CheckFileNames(course)
	if err != nil {
		return nil, err
	}
	titles, err := readTitles(course, names)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Course: id, Playlists: []string{}, Files: []File{}}
	for _, name := range names {
		st, err := fs.Stat(course, FilesDir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", FilesDir, name, err)
		}
		obj, _ := mediatype.Course(name) // allowed: CheckFileNames
		m.Files = append(m.Files, File{Name: name, Size: st.Size(), Type: obj.ContentType, Title: titles[name]})
	}
	var all, masters []string
	err = fs.WalkDir(course, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() && p == FilesDir {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.EqualFold(path.Ext(p), ".m3u8") {
			return nil
		}
		if err := ValidatePlaylistPath(p); err != nil {
			return err
		}
		all = append(all, p)
		b, err := fs.ReadFile(course, p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("#EXT-X-STREAM-INF")) {
			masters = append(masters, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("course %s: %w", id, err)
	}
	if len(masters) == 0 {
		masters = all
	}
	sort.Strings(masters)
	m.Playlists = masters
	return m, nil
}

// readTitles reads TitlesFile, if the course has one. Every name in it must
// be one of names; a title is printable UTF-8 of at most MaxTitleLen bytes.
func readTitles(course fs.FS, names []string) (map[string]string, error) {
	b, err := fs.ReadFile(course, TitlesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", TitlesFile, err)
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	titles := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, title, ok := strings.Cut(text, "\t")
		title = strings.TrimSpace(title)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: want name<TAB>title", TitlesFile, line)
		case !known[name]:
			return nil, fmt.Errorf("%s:%d: %q is not a file in %s/", TitlesFile, line, name, FilesDir)
		case titles[name] != "":
			return nil, fmt.Errorf("%s:%d: a second title for %s", TitlesFile, line, name)
		case !validTitle(title):
			return nil, fmt.Errorf("%s:%d: title of %s must be 1..%d bytes of printable UTF-8", TitlesFile, line, name, MaxTitleLen)
		}
		titles[name] = title
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", TitlesFile, err)
	}
	return titles, nil
}

func validTitle(s string) bool {
	if s == "" || len(s) > MaxTitleLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
