package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/hlsrewrite"
	"github.com/cfgate/cfgate/internal/materials"
)

// MaxPlaylistBytes bounds a playlist read from the bucket by the playlist
// route (a 10-hour lecture in 2 s segments is about 400 KB).
const MaxPlaylistBytes = 4 << 20

// PlaylistContentType is the playlist route's Content-Type (RFC 8216).
const PlaylistContentType = "application/vnd.apple.mpegurl"

// TrustedKeys gives the public keys that CloudFront trusts on /courses/*.
type TrustedKeys interface {
	// Trusted returns the trusted keys. When keyPairID is not among the
	// keys last read, an implementation that reads them from elsewhere (the
	// key group) reads them again first, at most so often (a rotation adds a
	// key). An error means no keys could be read at all: the playlist route
	// fails closed with 503.
	Trusted(ctx context.Context, keyPairID string) (verifier.Keys, error)
}

// StaticTrustedKeys are keys that need no reading: the local
// distribution's trusted keys (verifier.DirKeys re-reads its folders itself).
type StaticTrustedKeys struct{ Keys verifier.Keys }

// Trusted implements TrustedKeys.
func (s StaticTrustedKeys) Trusted(context.Context, string) (verifier.Keys, error) {
	if s.Keys == nil {
		return nil, errors.New("no trusted keys")
	}
	return s.Keys, nil
}

type playbackRequest struct {
	Playlist *string `json:"playlist"`
}

type playbackBody struct {
	URL     string `json:"url"`
	Expires string `json:"expires"` // RFC 3339, UTC
}

// playbackPlaylist decodes the optional body: the playlist asked for, ""
// for the course's default.
func playbackPlaylist(req *request) (string, error) {
	if len(req.body) == 0 {
		return "", nil
	}
	var b playbackRequest
	if err := decodeStrict(req.body, &b); err != nil {
		return "", err
	}
	if b.Playlist == nil {
		return "", nil
	}
	if materials.ValidatePlaylistPath(*b.Playlist) != nil {
		return "", fail(kindNotFound, "unknown_playlist", "no such playlist")
	}
	return *b.Playlist, nil
}

// validatePlayback checks the body before any store call.
func validatePlayback(req *request) error {
	_, err := playbackPlaylist(req)
	return err
}

// playback answers POST /api/courses/{id}/playback: a URL from which a
// client without cookies plays the course, through the playlist route
// (docs/playback.md). Its query is the course policy (Resource
// https://<domain>/courses/<id>/*) signed for PlaybackTTL, capped at the
// grant's and the session's end, from the cookie issuer (whose cache makes
// the playback starts of a course within one expiry bucket share one
// signature).
func (h *Handler) playback(w http.ResponseWriter, r *http.Request, req *request, c *courseGrant) error {
	ctx, id := r.Context(), c.id
	pl, err := playbackPlaylist(req)
	if err != nil {
		return err
	}
	switch {
	case pl == "" && len(c.manifest.Playlists) == 0:
		return fail(kindNotFound, "no_playlist", "no such playlist")
	case pl == "":
		pl = c.manifest.Playlists[0]
	case !slices.Contains(c.manifest.Playlists, pl):
		return fail(kindNotFound, "unknown_playlist", "no such playlist")
	}
	key, err := h.signingKey(ctx)
	if err != nil {
		return err
	}
	limit, _ := c.limit()
	cc, err := h.issuer.IssueFor(key, id, h.cfg.PlaybackTTL, cfsign.Conditions{NotAfter: limit})
	if err != nil {
		return c.signError(err, "sign playback URL for")
	}
	req.joinTouch()
	u := h.playBase(id) + pl + "?" + cc.URLParams()
	h.log.LogAttrs(ctx, slog.LevelInfo, "playback URL issued",
		slog.String("user", req.user), slog.String("course", id), slog.String("playlist", pl),
		slog.String("keyPairId", key.ID), slog.Time("expires", cc.Expires))
	writeJSON(w, http.StatusOK, playbackBody{URL: u, Expires: cc.Expires.UTC().Format(time.RFC3339)})
	return nil
}

// playBase is the viewer's URL of the playlist route of a course, with a
// trailing slash.
func (h *Handler) playBase(id string) string {
	return h.cfg.ViewerScheme + "://" + h.issuer.Domain() + "/api/play/" + id + "/"
}

// mediaBase is the viewer's URL of a course's folder on /courses/*.
func (h *Handler) mediaBase(id string) string {
	return h.cfg.ViewerScheme + "://" + h.issuer.Domain() + "/courses/" + id + "/"
}

// play answers GET /api/play/{course}/{path...}: no session, no cookie.
// The query must be a signature that CloudFront would accept for
// https://<domain>/courses/<course>/<path>; then the playlist is read from
// the bucket and returned with every URI rewritten to carry the same
// signature (internal/hlsrewrite). The query is never logged.
func (h *Handler) play(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	id, _ := req.param("course")
	p, _ := req.param("path")
	// Raw, still-escaped segments: an escape fails both checks.
	if cfsign.ValidateCourseID(id) != nil || materials.ValidatePlaylistPath(p) != nil {
		return fail(kindNotFound, "unknown_playlist", "")
	}
	req.courseID = id
	if h.cfg.TrustedKeys == nil {
		return unavailable("no_trusted_keys", errors.New("api: Config.TrustedKeys is not set"))
	}
	signing, params := signingParams(r.URL.RawQuery)
	keys, err := h.cfg.TrustedKeys.Trusted(ctx, signing)
	if err != nil {
		return unavailable("trusted_keys_unavailable", err)
	}
	// The URL CloudFront checks for the course's objects: the Resource is
	// https://<domain>/courses/<id>/* (CloudFront redirects http to https on
	// /courses/*, so that is the form the edge verifies).
	vr := verifier.Request{
		URL: &url.URL{Scheme: "https", Host: h.issuer.Domain(), Path: "/courses/" + id + "/" + p, RawQuery: r.URL.RawQuery},
		Now: h.now(),
		// IPv4: the viewer's address; IPv6 counts as its /64 here, which
		// no policy of this API's conditions on.
		SourceIP: sourceAddr(req.source),
	}
	if d := h.verifier.Verify(vr, keys); !d.Allowed {
		// CloudFront's answer: 403 with its code and message, nothing more.
		h.log.LogAttrs(ctx, slog.LevelInfo, "playlist refused",
			slog.String("path", logPath(r)), slog.Int("status", http.StatusForbidden),
			slog.String("code", d.Code), slog.String("reason", d.Reason), slog.String("keyPairId", d.KeyPairID))
		d.WriteError(w)
		return nil
	}
	if h.cfg.Objects == nil {
		return fail(kindNotFound, "unknown_playlist", "")
	}
	src, err := h.cfg.Objects.Get(ctx, "courses/"+id+"/"+p, MaxPlaylistBytes)
	if errors.Is(err, materials.ErrNotFound) {
		return fail(kindNotFound, "unknown_playlist", "")
	}
	if err != nil {
		return internal("bucket_error", err, "read playlist")
	}
	out, err := hlsrewrite.Rewrite(src, p, hlsrewrite.Target{Playlists: h.playBase(id), Media: h.mediaBase(id), Query: params})
	if err != nil {
		return &apiError{kind: kindBadGateway, reason: "playlist_refused", err: err}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", PlaylistContentType)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}

// signingParams returns the first Key-Pair-Id of a raw query (unescaped)
// and the query made of CloudFront's parameters only, each the first of its
// name as sent, in a fixed order: what the rewritten URIs carry.
func signingParams(raw string) (keyPairID, query string) {
	names := []string{verifier.ParamPolicy, verifier.ParamExpires, verifier.ParamSignature, verifier.ParamKeyPairID, verifier.ParamHashAlgorithm}
	vals := make([]string, len(names))
	seen := make([]bool, len(names))
	for kv := range strings.SplitSeq(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if i := slices.Index(names, k); i >= 0 && !seen[i] {
			seen[i], vals[i] = true, v
		}
	}
	var b strings.Builder
	for i, n := range names {
		if !seen[i] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(n + "=" + vals[i])
	}
	kid, err := url.QueryUnescape(vals[3])
	if err != nil {
		kid = vals[3]
	}
	return kid, b.String()
}

// sourceAddr parses the request's source (an IPv4 address, or an IPv6 /64).
func sourceAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
