package publish

import (
	"path"
	"strings"

	"github.com/cfgate/cfgate/internal/mediatype"
)

// ContentType returns the Content-Type to store for an object key, chosen by
// extension (case-insensitive, see internal/mediatype); unknown extensions get
// application/octet-stream.
func ContentType(key string) string { return mediatype.ContentType(key) }

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
