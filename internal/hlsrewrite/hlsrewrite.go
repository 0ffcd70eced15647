// Package hlsrewrite rewrites an HLS playlist (master or media) of a course so
// that every URI it names carries one signed query string: the playlist
// route's answer in cookie-less playback (docs/playback.md).
//
// A playlist is read line by line. Every URI is rewritten: plain URI lines
// (variant playlists, media segments) and the URI attribute of EXT-X-MAP,
// EXT-X-KEY, EXT-X-SESSION-KEY, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF,
// EXT-X-SESSION-DATA, EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT and
// EXT-X-PART. A URI is resolved against the playlist's path inside the
// course; a resolved path ending in ".m3u8" becomes Target.Playlists+path,
// anything else Target.Media+path, each followed by "?"+Target.Query. Every
// other byte (tags, other attributes such as BYTERANGE, comments, blank
// lines, line endings) is kept as it is.
//
// Rewriting fails closed: the whole playlist is refused (an *Error) when a
// URI is absolute (has a scheme or a host), is root-relative, carries its own
// query or fragment, resolves outside the course folder or to a folder, holds
// a character outside RFC 3986's path characters or an escape of '/', '\\',
// '.' or a control character, when a URI attribute is unquoted, empty or
// repeated, when a variant playlist or rendition URI does not name a .m3u8
// playlist that the playlist route accepts, or when the text does not start
// with #EXTM3U.
package hlsrewrite

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/cfgate/cfgate/internal/materials"
)

// Target says where rewritten URIs point.
type Target struct {
	// Playlists is the prefix of a rewritten playlist URI, e.g.
	// "https://d.example/api/play/intro-to-hls/".
	Playlists string
	// Media is the prefix of every other rewritten URI, e.g.
	// "https://d.example/courses/intro-to-hls/".
	Media string
	// Query is appended to every rewritten URI after "?" (without it),
	// e.g. "Policy=…&Signature=…&Key-Pair-Id=…".
	Query string
}

// check refuses a target that could break a line or a quoted attribute.
func (t Target) check() error {
	for _, s := range []string{t.Playlists, t.Media, t.Query} {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '#' {
				return errors.New("hlsrewrite: target prefixes and query must be printable ASCII without spaces, '\"' or '#'")
			}
		}
	}
	if t.Playlists == "" || t.Media == "" || t.Query == "" {
		return errors.New("hlsrewrite: target needs both prefixes and a query")
	}
	return nil
}

// Error is a refused playlist: the line (1-based) and why. It never holds
// the target's query.
type Error struct {
	Line   int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("hlsrewrite: line %d: %s", e.Line, e.Reason) }

// uriTags are the tags whose URI attribute names a resource.
var uriTags = []string{
	"#EXT-X-MAP:", "#EXT-X-KEY:", "#EXT-X-SESSION-KEY:", "#EXT-X-MEDIA:",
	"#EXT-X-I-FRAME-STREAM-INF:", "#EXT-X-SESSION-DATA:", "#EXT-X-PRELOAD-HINT:",
	"#EXT-X-RENDITION-REPORT:", "#EXT-X-PART:",
}

// playlistTags name playlists only (their URI must be a .m3u8 playlist).
var playlistTags = map[string]bool{
	"#EXT-X-MEDIA:": true, "#EXT-X-I-FRAME-STREAM-INF:": true, "#EXT-X-RENDITION-REPORT:": true,
}

// Rewrite returns src, the playlist at playlistPath inside its course
// (materials.ValidatePlaylistPath), with every URI rewritten for t.
func Rewrite(src []byte, playlistPath string, t Target) ([]byte, error) {
	if err := materials.ValidatePlaylistPath(playlistPath); err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	dir := ""
	if i := strings.LastIndexByte(playlistPath, '/'); i >= 0 {
		dir = playlistPath[:i+1]
	}
	rw := rewriter{dir: dir, t: t}
	// Each rewritten URI grows by a prefix and the query: guess the size once.
	out := make([]byte, 0, len(src)+(bytes.Count(src, []byte{'\n'})/2+1)*(len(t.Media)+len(t.Query)+2))
	line, variant := 0, false
	for rest := src; len(rest) > 0; {
		line++
		var l []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i+1], rest[i+1:]
		} else {
			l, rest = rest, nil
		}
		body, eol := splitEOL(l)
		if line == 1 {
			if string(bytes.TrimRight(body, " \t")) != "#EXTM3U" {
				return nil, &Error{Line: 1, Reason: "playlist does not start with #EXTM3U"}
			}
			out = append(out, l...)
			continue
		}
		trimmed := bytes.Trim(body, " \t")
		switch {
		case len(trimmed) == 0:
			out = append(out, l...)
		case trimmed[0] == '#' && body[0] != '#':
			// RFC 8216 allows no whitespace before a tag; a player that
			// trims it would fetch a URI this rewriter did not see.
			return nil, &Error{Line: line, Reason: "whitespace before '#'"}
		case trimmed[0] == '#':
			var err error
			out, err = rw.tag(out, body, line)
			if err != nil {
				return nil, err
			}
			out = append(out, eol...)
			if bytes.HasPrefix(body, []byte("#EXT-X-STREAM-INF:")) {
				variant = true
			}
		default:
			p, err := rw.resolve(string(trimmed), line)
			if err != nil {
				return nil, err
			}
			if variant && !strings.HasSuffix(p, ".m3u8") {
				return nil, &Error{Line: line, Reason: fmt.Sprintf("variant URI %q is not a .m3u8 playlist", clip(trimmed))}
			}
			variant = false
			out = rw.appendURI(out, p)
			out = append(out, eol...)
		}
	}
	if line == 0 {
		return nil, &Error{Line: 1, Reason: "empty playlist"}
	}
	return out, nil
}

// splitEOL splits a line into its text and its "\n" or "\r\n" ending.
func splitEOL(l []byte) (body, eol []byte) {
	n := len(l)
	if n > 0 && l[n-1] == '\n' {
		n--
		if n > 0 && l[n-1] == '\r' {
			n--
		}
	}
	return l[:n], l[n:]
}

type rewriter struct {
	dir string // the playlist's folder inside the course, "" or ending in "/"
	t   Target
}

// appendURI appends the rewritten URI of the resolved path p.
func (rw *rewriter) appendURI(out []byte, p string) []byte {
	if strings.HasSuffix(p, ".m3u8") {
		out = append(out, rw.t.Playlists...)
	} else {
		out = append(out, rw.t.Media...)
	}
	out = append(out, p...)
	out = append(out, '?')
	return append(out, rw.t.Query...)
}

// tag appends a tag line, rewriting its URI attribute when it has one.
func (rw *rewriter) tag(out, body []byte, line int) ([]byte, error) {
	var tag string
	for _, t := range uriTags {
		if bytes.HasPrefix(body, []byte(t)) {
			tag = t
			break
		}
	}
	if tag == "" {
		return append(out, body...), nil
	}
	start, end, found, err := uriAttr(body[len(tag):])
	if err != nil {
		return nil, &Error{Line: line, Reason: tag[1:len(tag)-1] + ": " + err.Error()}
	}
	if !found {
		// EXT-X-KEY METHOD=NONE, EXT-X-MEDIA of a rendition in the
		// variant itself…: nothing to rewrite.
		return append(out, body...), nil
	}
	start, end = start+len(tag), end+len(tag)
	p, err := rw.resolve(string(body[start:end]), line)
	if err != nil {
		return nil, err
	}
	if playlistTags[tag] && !strings.HasSuffix(p, ".m3u8") {
		return nil, &Error{Line: line, Reason: fmt.Sprintf("%s URI %q is not a .m3u8 playlist", tag[1:len(tag)-1], clip(body[start:end]))}
	}
	out = append(out, body[:start]...)
	out = rw.appendURI(out, p)
	return append(out, body[end:]...), nil
}

// uriAttr finds the value of the URI attribute in an attribute list: the
// byte range inside its quotes. A URI attribute that is unquoted, empty or
// repeated, and a malformed list, are errors.
func uriAttr(list []byte) (start, end int, found bool, err error) {
	i := 0
	for i < len(list) {
		eq := bytes.IndexByte(list[i:], '=')
		if eq < 0 {
			return 0, 0, false, errors.New("malformed attribute list")
		}
		name := string(list[i : i+eq])
		for j := 0; j < len(name); j++ {
			if c := name[j]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return 0, 0, false, errors.New("malformed attribute name")
			}
		}
		if name == "" {
			return 0, 0, false, errors.New("malformed attribute name")
		}
		i += eq + 1
		var vs, ve int
		if i < len(list) && list[i] == '"' {
			q := bytes.IndexByte(list[i+1:], '"')
			if q < 0 {
				return 0, 0, false, errors.New("unterminated quoted attribute")
			}
			vs, ve = i+1, i+1+q
			i = ve + 1
		} else {
			if name == "URI" {
				return 0, 0, false, errors.New("URI attribute is not a quoted string")
			}
			vs = i
			for i < len(list) && list[i] != ',' {
				i++
			}
			ve = i
		}
		if name == "URI" {
			if found {
				return 0, 0, false, errors.New("repeated URI attribute")
			}
			if ve == vs {
				return 0, 0, false, errors.New("empty URI attribute")
			}
			start, end, found = vs, ve, true
		}
		if i < len(list) {
			if list[i] != ',' {
				return 0, 0, false, errors.New("malformed attribute list")
			}
			i++
			if i == len(list) {
				return 0, 0, false, errors.New("malformed attribute list (trailing comma)")
			}
		}
	}
	return start, end, found, nil
}

// resolve checks a URI and returns the path it names inside the course.
func (rw *rewriter) resolve(uri string, line int) (string, error) {
	bad := func(why string) error {
		return &Error{Line: line, Reason: fmt.Sprintf("URI %q %s", clip([]byte(uri)), why)}
	}
	if uri == "" {
		return "", bad("is empty")
	}
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		switch {
		case c == '?':
			return "", bad("has its own query")
		case c == '#':
			return "", bad("has a fragment")
		case c == '%':
			if i+2 >= len(uri) || unhex(uri[i+1]) < 0 || unhex(uri[i+2]) < 0 {
				return "", bad("has a malformed escape")
			}
			d := byte(unhex(uri[i+1])<<4 | unhex(uri[i+2]))
			if d == '/' || d == '\\' || d == '.' || d < 0x20 || d == 0x7f {
				return "", bad("escapes '/', '\\', '.' or a control character")
			}
			i += 2
		case !pathChar(c):
			return "", bad("has a character outside RFC 3986 path characters")
		}
	}
	first, _, _ := strings.Cut(uri, "/")
	switch {
	case strings.HasPrefix(uri, "//"):
		return "", bad("is absolute (has a host)")
	case strings.HasPrefix(uri, "/"):
		return "", bad("is root-relative (want a path relative to the playlist)")
	case strings.Contains(first, ":"):
		return "", bad("is absolute (has a scheme)")
	}
	last := uri[strings.LastIndexByte(uri, '/')+1:]
	if last == "" || last == "." || last == ".." || strings.Contains(uri, "//") {
		return "", bad("does not name a file")
	}
	p := rw.dir + uri
	if uri == "." || uri == ".." || strings.HasPrefix(uri, "./") || strings.HasPrefix(uri, "../") ||
		strings.Contains(uri, "/./") || strings.Contains(uri, "/../") {
		// RFC 3986 merge and remove_dot_segments, never above the course folder.
		segs := make([]string, 0, 8)
		for s := range strings.SplitSeq(p, "/") {
			switch s {
			case "", ".":
			case "..":
				if len(segs) == 0 {
					return "", bad("resolves outside the course")
				}
				segs = segs[:len(segs)-1]
			default:
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 {
			return "", bad("does not name a file")
		}
		p = strings.Join(segs, "/")
	}
	if strings.HasSuffix(p, ".m3u8") {
		if err := materials.ValidatePlaylistPath(p); err != nil {
			return "", bad("names a playlist the playlist route does not serve")
		}
	}
	return p, nil
}

// pathChar reports whether c may appear unescaped in a relative path:
// RFC 3986 unreserved, sub-delims, ':', '@' and '/'.
func pathChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// clip bounds a URI quoted in an error (it comes from the bucket).
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
