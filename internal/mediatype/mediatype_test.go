package mediatype

import (
	"strings"
	"testing"
)

func TestCourseAllowlist(t *testing.T) {
	allowed := map[string]CourseObject{
		"courses/a/ts/master.m3u8":        {ContentType: "application/vnd.apple.mpegurl"},
		"courses/a/ts/180p/seg000.ts":     {ContentType: "video/mp2t"},
		"courses/a/fmp4/180p/seg000.m4s":  {ContentType: "video/mp4"},
		"courses/a/fmp4/180p/init_0.mp4":  {ContentType: "video/mp4"},
		"courses/a/audio/lesson1.MP3":     {ContentType: "audio/mpeg"},
		"courses/a/ts/subs/en.vtt":        {ContentType: "text/vtt"},
		"courses/a/ts/key.bin":            {ContentType: "application/octet-stream"},
		"courses/a/cover.png":             {ContentType: "image/png"},
		"courses/a/files/ebook.pdf":       {ContentType: "application/pdf", Disposition: `attachment; filename="ebook.pdf"`},
		"courses/a/files/book.epub":       {ContentType: "application/epub+zip", Disposition: `attachment; filename="book.epub"`},
		"courses/a/files/workbook_v2.zip": {ContentType: "application/zip", Disposition: `attachment; filename="workbook_v2.zip"`},
		"courses/a/files/lesson1.mp3":     {ContentType: "audio/mpeg", Disposition: `attachment; filename="lesson1.mp3"`},
		"courses/a/files/diagram.png":     {ContentType: "image/png", Disposition: `attachment; filename="diagram.png"`},
		"courses/a/files/sub/diagram.png": {ContentType: "image/png"},
		"courses/a/ts/files/seg.ts":       {ContentType: "video/mp2t"},
	}
	for key, want := range allowed {
		got, ok := Course(key)
		if !ok || got != want {
			t.Errorf("Course(%q) = %+v, %v; want %+v, true", key, got, ok, want)
		}
	}
	for _, key := range []string{
		"courses/a/notes.html", "courses/a/notes.HTM", "courses/a/x.svg", "courses/a/app.js", "courses/a/app.mjs",
		"courses/a/style.css", "courses/a/data.json", "courses/a/feed.xml", "courses/a/readme.txt",
		"courses/a/page.xhtml", "courses/a/noext", "courses/a/evil.pdf.html",
	} {
		if got, ok := Course(key); ok {
			t.Errorf("Course(%q) = %+v, true; want refused", key, got)
		}
	}
	for _, e := range CourseExts() {
		if o, ok := Course("courses/a/x" + e); !ok || contentTypes[e] == "" || o.ContentType != contentTypes[e] {
			t.Errorf("course type %s has no Content-Type of its own (%+v)", e, o)
		}
	}
	exts := strings.Join(CourseExts(), " ")
	for _, e := range []string{".m3u8", ".pdf", ".zip"} {
		if !strings.Contains(exts, e) {
			t.Errorf("CourseExts() = %s, missing %s", exts, e)
		}
	}
	if strings.Contains(exts, ".svg") || strings.Contains(exts, ".html") {
		t.Errorf("CourseExts() = %s lists a renderable type", exts)
	}
}

func TestAttachment(t *testing.T) {
	tests := map[string]string{
		"ebook.pdf":              `attachment; filename="ebook.pdf"`,
		"a_b-c.1.zip":            `attachment; filename="a_b-c.1.zip"`,
		`x".pdf`:                 "attachment",
		"my book.pdf":            "attachment",
		"über.pdf":               "attachment",
		"a\r\nSet-Cookie: x.pdf": "attachment",
		"":                       "attachment",
		strings.Repeat("a", 129): "attachment",
	}
	for name, want := range tests {
		if got := Attachment(name); got != want {
			t.Errorf("Attachment(%q) = %q, want %q", name, got, want)
		}
	}
}
