// Package mediatype is the one table of Content-Type values for the objects
// cfgate puts in the bucket: the publish command stores them and the local
// distribution serves the same, so local playback sees what S3 would send.
package mediatype

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

// ContentType returns the Content-Type for an object key, chosen by
// extension (case-insensitive); unknown extensions get application/octet-stream.
func ContentType(key string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(key))]; ok {
		return ct
	}
	return "application/octet-stream"
}
