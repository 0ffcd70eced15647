package api

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/materials"
)

// fileJSON is one file in GET /api/courses/{id}/files.
type fileJSON struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	Title string `json:"title"` // "" when publish was given none
}

type filesBody struct {
	Files []fileJSON `json:"files"`
}

// files answers GET /api/courses/{courseId}/files: the course's
// downloadable files as its manifest lists them (sorted by name).
func (h *Handler) files(w http.ResponseWriter, r *http.Request, req *request, c *courseGrant) error {
	out := filesBody{Files: make([]fileJSON, 0, len(c.manifest.Files))}
	for _, f := range c.manifest.Files {
		out.Files = append(out.Files, fileJSON{Name: f.Name, Size: f.Size, Type: f.Type, Title: f.Title})
	}
	req.joinTouch()
	writeJSON(w, http.StatusOK, out)
	return nil
}

// validateFileParam refuses a malformed {name} before anything else: 404,
// as for a file the course does not have. The name is the raw, still-escaped
// segment, so an escape (%2F, %2E…) is malformed too.
func validateFileParam(req *request) error {
	name, _ := req.param("name")
	if materials.ValidateFileName(name) != nil {
		return fail(kindNotFound, "malformed_file_name", "no such file")
	}
	return nil
}

type linkBody struct {
	URL     string `json:"url"`
	Expires string `json:"expires"` // RFC 3339, UTC
}

// fileLink answers POST /api/courses/{courseId}/files/{name}/link: a
// CloudFront signed URL (canned policy) for exactly the object
// courses/<id>/files/<name>, valid for DownloadLinkTTL and never past the
// grant's or the session's end. It opens that one object for anyone who
// holds it until it expires, with no cookie: what a download manager or a
// link in an email needs.
func (h *Handler) fileLink(w http.ResponseWriter, r *http.Request, req *request, c *courseGrant) error {
	name, _ := req.param("name")
	if _, ok := c.manifest.File(name); !ok {
		return fail(kindNotFound, "unknown_file", "no such file")
	}
	ctx := r.Context()
	key, err := h.signingKey(ctx)
	if err != nil {
		return err
	}
	expires := c.now.Add(h.cfg.DownloadLinkTTL)
	if limit, _ := c.limit(); limit.Before(expires) {
		expires = limit
	}
	expires = time.Unix(expires.Unix(), 0).UTC() // whole seconds, rounded down
	if !expires.After(h.now()) {
		return c.ended()
	}
	// The edge checks the https form of the URL (it redirects http to https).
	resource := "https://" + h.issuer.Domain() + "/" + materials.FileKey(c.id, name)
	signed, err := cfsign.SignURL(key, resource, expires)
	if err != nil {
		return c.signError(err, "sign link to a file of")
	}
	if h.cfg.ViewerScheme != "https" {
		signed = h.cfg.ViewerScheme + strings.TrimPrefix(signed, "https")
	}
	req.joinTouch()
	h.log.LogAttrs(ctx, slog.LevelInfo, "download link signed",
		slog.String("user", req.user), slog.String("course", c.id), slog.String("file", name),
		slog.String("keyPairId", key.ID), slog.Time("expires", expires))
	writeJSON(w, http.StatusOK, linkBody{URL: signed, Expires: expires.Format(time.RFC3339)})
	return nil
}
