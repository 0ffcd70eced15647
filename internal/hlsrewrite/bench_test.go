package hlsrewrite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cfgate/cfgate/internal/hlsrewrite"
)

// BenchmarkRewrite: one rewritten playlist per playlist request of
// cookie-less playback (BENCHMARKS.md). The query is a real one's size: a
// custom policy, an ECDSA signature and a key pair id (about 330 bytes).
func BenchmarkRewrite(b *testing.B) {
	q := hlsrewrite.Target{
		Playlists: "https://d111111abcdef8.cloudfront.net/api/play/intro-to-hls/",
		Media:     "https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/",
		Query: "Policy=eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9kMTExMTExYWJjZGVmOC5jbG91ZGZyb250Lm5ldC9jb3Vyc2VzL2ludHJvLXRvLWhscy8qIiwiQ29uZGl0aW9uIjp7IkRhdGVMZXNzVGhhbiI6eyJBV1M6RXBvY2hUaW1lIjoxNzY0MzM1NjAwfX19XX0_" +
			"&Signature=MEUCIQDx8m6Qd3a1v7mQ2k5Zq1l0gk1kq5V6v5qE1n0vWb0s3wIgR2m3y7fQ0e6cF5p9zV4rM1k9xJ2lT8uA3bN7cD6eE0s_" +
			"&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=SHA256",
	}
	for _, tc := range []struct{ name, path string }{
		{"master", "fmp4/master.m3u8"},
		{"media-4-segments", "fmp4/360p/index.m3u8"},
	} {
		src, err := os.ReadFile(filepath.Join("..", "..", "distribution", "demo", "media", "courses", "intro-to-hls", filepath.FromSlash(tc.path)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := hlsrewrite.Rewrite(src, tc.path, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A 1-hour lecture in 2 s segments: 1,800 segment URIs.
	long := []byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"init_1.mp4\"\n")
	for i := range 1800 {
		long = append(long, "#EXTINF:2.000000,\nseg"...)
		long = append(long, []byte{byte('0' + i/1000), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)}...)
		long = append(long, ".m4s\n"...)
	}
	long = append(long, "#EXT-X-ENDLIST\n"...)
	b.Run("media-1800-segments", func(b *testing.B) {
		b.SetBytes(int64(len(long)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := hlsrewrite.Rewrite(long, "fmp4/360p/index.m3u8", q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
