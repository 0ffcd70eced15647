// Package mediatype is the one table of Content-Type values for the objects
// cfgate puts in the bucket: the publish command stores them and the local
// distribution serves the same, so local playback sees what S3 would send.
// Course objects (courses/<id>/…) come from an allowlist (Course); the player
// page (site/…) from the wider ContentType table.
package mediatype

import (
	"path"
	"sort"
	"strings"
)

var contentTypes = map[string]string{
	".m3u8":   "application/vnd.apple.mpegurl",
	".ts":     "video/mp2t",
	".mp4":    "video/mp4",
	".m4s":    "video/mp4",
	".m4v":    "video/mp4",
	".m4a":    "audio/mp4",
	".aac":    "audio/aac",
	".mp3":    "audio/mpeg",
	".ac3":    "audio/ac3",
	".ec3":    "audio/eac3",
	".vtt":    "text/vtt",
	".webvtt": "text/vtt",
	".key":    "application/octet-stream",
	".html":   "text/html; charset=utf-8",
	".htm":    "text/html; charset=utf-8",
	".js":     "text/javascript; charset=utf-8",
	".mjs":    "text/javascript; charset=utf-8",
	".css":    "text/css; charset=utf-8",
	".json":   "application/json",
	".map":    "application/json",
	".pdf":    "application/pdf",
	".txt":    "text/plain; charset=utf-8",
	".svg":    "image/svg+xml",
	".png":    "image/png",
	".jpg":    "image/jpeg",
	".jpeg":   "image/jpeg",
	".webp":   "image/webp",
	".ico":    "image/x-icon",
	".woff2":  "font/woff2",
	".bin":    "application/octet-stream",
	".epub":   "application/epub+zip",
	".zip":    "application/zip",
	".gif":    "image/gif",
	".avif":   "image/avif",
}

// ContentType returns the Content-Type for an object key, chosen by
// extension (case-insensitive); unknown extensions get application/octet-stream.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// courseTypes is the allowlist for objects under courses/<id>/: HLS playlists
// and segments, fMP4/MP4, audio, WebVTT, AES-128 keys, and course materials
// (PDF, EPUB, ZIP, images that cannot carry script). Anything a browser would
// render as a document or run as script (HTML, JavaScript, SVG, XML, CSS,
// JSON, plain text) is left out: those objects would be served from the
// distribution's own origin, beside /api, where script can act as the viewer.
var courseTypes = map[string]bool{
	".m3u8": true, ".ts": true, ".mp4": true, ".m4s": true, ".m4v": true,
	".m4a": true, ".aac": true, ".mp3": true, ".ac3": true, ".ec3": true,
	".vtt": true, ".webvtt": true,
	".key": true, ".bin": true, // AES-128 keys (EXT-X-KEY; .bin is ffmpeg's usual name)
	".pdf": true, ".epub": true, ".zip": true,
	".png": true, ".jpg": true, ".jpeg": true, ".webp": true, ".gif": true, ".avif": true,
}

// downloads are the course types that a viewer saves rather than plays or
// views in the page: stored with Content-Disposition: attachment.
var downloads = map[string]bool{".pdf": true, ".epub": true, ".zip": true}

// CourseObject is what is stored and served for one object of a course.
type CourseObject struct {
	ContentType string
	// Disposition is the Content-Disposition header, or "" for media that
	// players fetch inline.
	Disposition string
}

// Course returns the Content-Type and Content-Disposition of a course object
// (attachment for PDF, EPUB and ZIP, and for every object under
// courses/<id>/files/, the course's downloads), and false if its extension
// is not on the course allowlist (see CourseExts).
func Course(key string) (CourseObject, bool) {
	ext := strings.ToLower(path.Ext(key))
	if !courseTypes[ext] {
		return CourseObject{}, false
	}
	o := CourseObject{ContentType: contentTypes[ext]}
	if downloads[ext] || isCourseFile(key) {
		o.Disposition = Attachment(path.Base(key))
	}
	return o, true
}

// isCourseFile reports whether key is a course's downloadable file,
// courses/<id>/files/<name>: whatever its type, it is saved, not shown.
func isCourseFile(key string) bool {
	parts := strings.Split(key, "/")
	return len(parts) == 4 && parts[0] == "courses" && parts[2] == "files"
}

// Attachment returns "attachment; filename=\"name\"" for a name of safe
// characters (letters, digits, '.', '_', '-'), and plain "attachment"
// otherwise, so that no name can break out of the header's quoting.
func Attachment(name string) string {
	if name == "" || len(name) > 128 {
		return "attachment"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "attachment"
		}
	}
	return `attachment; filename="` + name + `"`
}

// CourseExts lists the allowed extensions of course objects, sorted, for
// error messages and docs.
func CourseExts() []string {
	exts := make([]string, 0, len(courseTypes))
	for e := range courseTypes {
		exts = append(exts, e)
	}
	sort.Strings(exts)
	return exts
}
