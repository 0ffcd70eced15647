package publish

import (
	"path"
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
}

// ContentType returns the Content-Type to store for an object key, chosen by
// extension (case-insensitive); unknown extensions get application/octet-stream.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// Cache-Control values.
const (
	// CachePlaylist is for .m3u8: a re-published course (new rendition, fixed
	// segment list) reaches viewers within a minute. VOD playlists could be
	// cached longer, but they are tiny and requested once per rendition switch.
	CachePlaylist = "public, max-age=60"
	// CacheImmutable is for segments and other media: a file is never changed
	// under the same name (a new encode gets new names or a new course).
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheSite is for the player page, which changes in place.
	CacheSite = "public, max-age=300"
)

// CacheControl returns the Cache-Control for an object key of a course
// (site=false) or of the player page (site=true).
func CacheControl(key string, site bool) string {
	switch {
	case site:
		return CacheSite
	case strings.EqualFold(path.Ext(key), ".m3u8"):
		return CachePlaylist
	default:
		return CacheImmutable
	}
}
