package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/materials"
	"github.com/cfgate/cfgate/internal/password"
	"github.com/cfgate/cfgate/internal/store"
)

// Defaults of the optional Config fields.
const (
	DefaultSessionTTL       = 12 * time.Hour
	DefaultLockoutThreshold = 10
	DefaultLockoutWindow    = 15 * time.Minute
	// DefaultLockoutAccountThreshold is the account-wide threshold: failures
	// of one account from all sources together within the window.
	DefaultLockoutAccountThreshold = 100
	DefaultMaxBodyBytes            = 16 << 10
	// DefaultMaxSessions is how many devices (active sessions) one account
	// may use at once; a login past it revokes the oldest.
	DefaultMaxSessions = 3
	// MaxMaxSessions is the largest MaxSessions accepted.
	MaxMaxSessions = 100
	// DefaultDownloadLinkTTL is the validity of a download link
	// (Config.DownloadLinkTTL); its home is cfsign, beside the cookies'
	// lifetime, because the key rotation's grace covers it too.
	DefaultDownloadLinkTTL = cfsign.DefaultDownloadLinkTTL
	// DefaultPlaybackTTL is the validity of a cookie-less playback URL
	// (Config.PlaybackTTL): long enough to watch a course in one sitting.
	// Its home is cfsign too.
	DefaultPlaybackTTL = cfsign.DefaultPlaybackTTL
	// TouchInterval is how stale a session's LastSeen may get: /access and
	// /session update it when it is at least this old.
	TouchInterval = 5 * time.Minute
)

// SessionCookie is the name of the login session cookie.
const SessionCookie = "cfgate_session"

// KeyProvider gives the current signing key. keysource.Static and
// keysource.SecretsManager implement it. An error means no usable key: the
// handler answers 503 and sets no cookie.
type KeyProvider interface {
	Key(ctx context.Context) (*cfsign.Key, error)
}

// PasswordVerifier checks passwords. The default is internal/password;
// tests inject one that counts calls.
type PasswordVerifier interface {
	// Verify reports whether pw matches the stored hash.
	Verify(hash, pw string) (bool, error)
	// DummyVerify does the work of Verify for an unknown user and fails.
	DummyVerify(pw string) bool
}

// Rehasher is implemented by a PasswordVerifier that can tell a stored hash
// made with other parameters than its current ones, and hash anew: after a
// successful login such a hash is replaced.
type Rehasher interface {
	NeedsRehash(hash string) bool
	Hash(pw string) (string, error)
}

// argon2Verifier is the default: internal/password, with a failed login
// always costing at least a Default hash's work (password.VerifyLogin), and
// a stored hash with other parameters replaced after a successful login.
type argon2Verifier struct{ KeepHashes }

func (argon2Verifier) NeedsRehash(hash string) bool   { return password.NeedsRehash(hash) }
func (argon2Verifier) Hash(pw string) (string, error) { return password.Hash(pw) }

// KeepHashes is the default verifier without the rehash after a successful
// login: a stored hash is kept whatever its parameters. It is for the local
// distribution's load tests (-rehash=false), whose viewers carry a cheap
// hash so that logins measure the path rather than argon2id; the login
// function always uses the default.
type KeepHashes struct{}

// Verify implements PasswordVerifier (password.VerifyLogin).
func (KeepHashes) Verify(hash, pw string) (bool, error) { return password.VerifyLogin(hash, pw) }

// DummyVerify implements PasswordVerifier (password.DummyVerify).
func (KeepHashes) DummyVerify(pw string) bool { return password.DummyVerify(pw) }

// Config configures a Handler. The distribution domain and the CloudFront
// cookie attributes belong to the cfsign.Issuer given to New.
type Config struct {
	// AllowedOrigins is the complete list of origins (scheme://host[:port])
	// allowed to call the API: the distribution's own origin plus the player
	// origins. A request whose Origin header is not in it gets 403; an
	// allowed origin gets CORS headers (with credentials) and preflights.
	AllowedOrigins []string
	// InsecureCookies omits Secure on the session cookie (local plain-http
	// distribution only).
	InsecureCookies bool
	// SessionTTL is the lifetime of a login session (default 12h).
	SessionTTL time.Duration
	// LockoutThreshold is the number of failed logins of an account from one
	// source (viewer address; IPv6 by /64) within LockoutWindow from which
	// every login of that account from that source answers 429 (default 10).
	LockoutThreshold int
	// LockoutAccountThreshold is the number of failed logins of an account
	// from all sources together within LockoutWindow from which every login
	// of it answers 429, from any source, for the rest of the window
	// (default 100). It must not be below LockoutThreshold.
	LockoutAccountThreshold int
	// LockoutWindow is the failure counting window (default 15m).
	LockoutWindow time.Duration
	// MaxSessions is how many active sessions (devices) one account may
	// have at once, 1..MaxMaxSessions (default DefaultMaxSessions). A login
	// that would pass it revokes the account's oldest sessions.
	MaxSessions int
	// OriginVerifier, when set, makes every request prove that it came
	// through the distribution (header OriginVerifyHeader): any other
	// request answers 403 before the store is touched, and only a proven
	// request's CloudFront-Viewer-Address is trusted as the viewer's address.
	// Without it (tests, tools) the address is the connection's.
	OriginVerifier OriginVerifier
	// MaxBodyBytes bounds request bodies (default 16 KiB; larger is 413).
	MaxBodyBytes int64
	// CatalogueTTL is how long the handler answers from the catalogue it
	// last read from the store (default DefaultCatalogueTTL): a course added
	// is offered and signed for at most this long after it is stored.
	CatalogueTTL time.Duration
	// Objects reads the media bucket's course manifests (materials):
	// materials.S3Reader in the login function, materials.DirObjects of
	// the origin folder in the local distribution. Each course's manifest
	// is kept in memory for CatalogueTTL, like the catalogue. Nil: no
	// course has materials (its files list is empty).
	Objects materials.Objects
	// ViewerScheme is the scheme of the URLs the API hands out (download
	// links): "https" (default; what CloudFront serves) or "http" (the local
	// plain-http distribution). Signatures always cover the https form,
	// which is what the edge checks (it redirects http to https).
	ViewerScheme string
	// PlaybackTTL is how long a cookie-less playback URL is valid (default
	// DefaultPlaybackTTL), capped at the grant's and the session's end.
	PlaybackTTL time.Duration
	// TrustedKeys are the public keys CloudFront trusts on /courses/*, which
	// the playlist route (GET /api/play/…) checks a playback URL's
	// signature against: the key group's keys in the login function
	// (internal/keygroup), the local distribution's trusted keys locally.
	// Nil: the playlist route answers 503.
	TrustedKeys TrustedKeys
	// DownloadLinkTTL is how long a download link is valid
	// (default DefaultDownloadLinkTTL), capped at the grant's and the
	// session's end.
	DownloadLinkTTL time.Duration
	// Catalogue, when not nil, is the catalogue as just read from the store
	// (store.ListCourses), which the handler starts with instead of reading
	// it on the first request: the login function reads it during init,
	// together with its other AWS calls.
	Catalogue []store.Course
	// Metrics receives one Embedded Metric Format line per access decision
	// and login outcome (default os.Stdout, which Lambda ships to CloudWatch).
	Metrics io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Passwords verifies passwords (default internal/password, argon2id).
	Passwords PasswordVerifier
	// PasswordConcurrency bounds the password verifications that run at
	// once (default GOMAXPROCS): memory stays bounded under a login storm.
	PasswordConcurrency int
	// PasswordWait is how long a login waits for a free slot before 503
	// with Retry-After (default DefaultPasswordWait; the request's own
	// deadline, if sooner, wins).
	PasswordWait time.Duration
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	origins map[string]bool
	store   store.Store
	cat     *catalogue
	mans    *manifests
	keys    KeyProvider
	issuer  *cfsign.Issuer
	log     *slog.Logger
	now     func() time.Time
	pw      PasswordVerifier
	pwSlots passwordSlots
	// verifier checks playback URLs as CloudFront does (playlist route).
	verifier *verifier.Verifier

	metricsMu sync.Mutex
	metrics   io.Writer
}

// New returns a Handler. st, keys and issuer are required; logger may be nil
// (no logs).
func New(cfg Config, st store.Store, keys KeyProvider, issuer *cfsign.Issuer, logger *slog.Logger) (*Handler, error) {
	if st == nil || keys == nil || issuer == nil {
		return nil, errors.New("api: store, key provider and issuer are required")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.LockoutThreshold == 0 {
		cfg.LockoutThreshold = DefaultLockoutThreshold
	}
	if cfg.LockoutWindow == 0 {
		cfg.LockoutWindow = DefaultLockoutWindow
	}
	if cfg.LockoutAccountThreshold == 0 {
		cfg.LockoutAccountThreshold = max(DefaultLockoutAccountThreshold, cfg.LockoutThreshold)
	}
	if cfg.LockoutAccountThreshold < cfg.LockoutThreshold {
		return nil, fmt.Errorf("api: LockoutAccountThreshold (%d) is below LockoutThreshold (%d)", cfg.LockoutAccountThreshold, cfg.LockoutThreshold)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CatalogueTTL == 0 {
		cfg.CatalogueTTL = DefaultCatalogueTTL
	}
	if cfg.ViewerScheme == "" {
		cfg.ViewerScheme = "https"
	}
	if cfg.ViewerScheme != "https" && cfg.ViewerScheme != "http" {
		return nil, fmt.Errorf("api: ViewerScheme %q: want https or http", cfg.ViewerScheme)
	}
	if cfg.PlaybackTTL == 0 {
		cfg.PlaybackTTL = DefaultPlaybackTTL
	}
	if cfg.PlaybackTTL < time.Second {
		return nil, fmt.Errorf("api: PlaybackTTL (%v) must be at least 1s", cfg.PlaybackTTL)
	}
	if cfg.DownloadLinkTTL == 0 {
		cfg.DownloadLinkTTL = DefaultDownloadLinkTTL
	}
	if cfg.DownloadLinkTTL < time.Second {
		return nil, fmt.Errorf("api: DownloadLinkTTL (%v) must be at least 1s", cfg.DownloadLinkTTL)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessions < 1 || cfg.MaxSessions > MaxMaxSessions {
		return nil, fmt.Errorf("api: MaxSessions (%d) must be between 1 and %d", cfg.MaxSessions, MaxMaxSessions)
	}
	if cfg.SessionTTL < time.Second || cfg.LockoutThreshold < 1 || cfg.LockoutWindow <= 0 || cfg.MaxBodyBytes < 1 || cfg.CatalogueTTL < 0 {
		return nil, fmt.Errorf("api: SessionTTL (%v), LockoutThreshold (%d), LockoutWindow (%v), MaxBodyBytes (%d) and CatalogueTTL (%v) must be positive",
			cfg.SessionTTL, cfg.LockoutThreshold, cfg.LockoutWindow, cfg.MaxBodyBytes, cfg.CatalogueTTL)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Passwords == nil {
		cfg.Passwords = argon2Verifier{}
	}
	if cfg.PasswordWait == 0 {
		cfg.PasswordWait = DefaultPasswordWait
	}
	if cfg.PasswordConcurrency < 0 || cfg.PasswordWait < 0 {
		return nil, fmt.Errorf("api: PasswordConcurrency (%d) and PasswordWait (%v) must not be negative", cfg.PasswordConcurrency, cfg.PasswordWait)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	origins := make(map[string]bool, len(cfg.AllowedOrigins))
	for _, o := range cfg.AllowedOrigins {
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("api: allowed origin %q: %w", o, err)
		}
		origins[n] = true
	}
	cat := &catalogue{st: st, ttl: cfg.CatalogueTTL}
	if cfg.Catalogue != nil {
		cat.set(cfg.Catalogue, cfg.Now())
	}
	return &Handler{
		cfg:     cfg,
		origins: origins,
		store:   st,
		cat:     cat,
		mans:    newManifests(cfg.Objects, cfg.CatalogueTTL),
		keys:    keys,
		issuer:  issuer,
		log:     logger,
		now:     cfg.Now,
		pw:      cfg.Passwords,
		pwSlots: newPasswordSlots(cfg.PasswordConcurrency),

		verifier: verifier.New(verifier.Options{}),
		metrics:  cfg.Metrics,
	}, nil
}

// normalizeOrigin checks that o is scheme://host[:port] (http or https, no
// path, query, fragment or user info) and returns it in lower case, which is
// how browsers serialise the Origin header.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("want scheme://host[:port] with scheme http or https")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Add("Vary", "Origin")

	// First of all, before routing and before the store: did the request
	// come through the distribution?
	fromDist, err := h.verifyOrigin(r)
	if err != nil {
		h.writeError(w, r, nil, err)
		return
	}

	req := &request{}
	g, params := match(r.URL.EscapedPath(), req.paramBuf[:0])
	if g == nil {
		h.writeError(w, r, nil, fail(kindNotFound, "no_route", ""))
		return
	}
	origin := r.Header.Get("Origin")
	originOK := origin == "" || h.origins[origin]
	if originOK && origin != "" {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.options(w, r, g.methods, origin, originOK)
		return
	}
	rt := g.pick(r.Method)
	if rt == nil {
		hdr.Set("Allow", g.methods+", OPTIONS")
		h.writeError(w, r, nil, fail(kindMethod, "method_not_allowed", ""))
		return
	}

	req.params, req.source = params, viewerSource(r, fromDist)
	req.courseID, _ = req.param("id")
	err = h.check(w, r, rt, req, originOK)
	if err == nil {
		err = rt.serve(h, w, r, req)
		req.joinTouch()
	}
	if rt.metric != "" {
		h.emit(rt.metric, req, err)
	}
	if err != nil {
		h.writeError(w, r, req, err)
	}
}

// options answers a CORS preflight (or a plain OPTIONS).
func (h *Handler) options(w http.ResponseWriter, r *http.Request, methods, origin string, originOK bool) {
	if !originOK {
		h.writeError(w, r, nil, fail(kindForbidden, "origin_not_allowed", "origin not allowed"))
		return
	}
	hdr := w.Header()
	hdr.Set("Allow", methods+", OPTIONS")
	if origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		hdr.Set("Access-Control-Allow-Methods", methods)
		hdr.Set("Access-Control-Allow-Headers", "Content-Type")
		hdr.Set("Access-Control-Max-Age", "600")
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
	}
	w.WriteHeader(http.StatusNoContent)
}

// check applies the rules common to every route: origin, content type, body
// size and shape. The body is read into req.body.
func (h *Handler) check(w http.ResponseWriter, r *http.Request, rt *route, req *request, originOK bool) error {
	if !originOK {
		return fail(kindForbidden, "origin_not_allowed", "origin not allowed")
	}
	max := h.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return fail(kindTooLarge, "body_too_large", "")
	}
	if (rt.body || r.ContentLength != 0) && !isJSON(r.Header.Get("Content-Type")) {
		return fail(kindMediaType, "content_type", "")
	}
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return fail(kindTooLarge, "body_too_large", "")
		case err != nil:
			return fail(kindInvalid, "body_unreadable", "")
		}
		req.body = b
	}
	if len(req.body) > 0 && !isJSON(r.Header.Get("Content-Type")) {
		return fail(kindMediaType, "content_type", "")
	}
	if !rt.body && !rt.optionalBody && len(req.body) > 0 {
		// Routes without parameters accept an empty JSON object at most.
		if err := decodeStrict(req.body, &struct{}{}); err != nil {
			return err
		}
	}
	return nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// decodeStrict decodes exactly one JSON value into v: unknown fields,
// trailing data and type mismatches are 400.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(kindInvalid, "malformed_json", "malformed JSON body")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(kindInvalid, "malformed_json", "malformed JSON body")
	}
	return nil
}

// writeError logs err (with its internal cause) and writes the JSON error.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, req *request, err error) {
	status, msg, reason := classify(err)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", logPath(r)),
		slog.Int("status", status),
		slog.String("reason", reason),
	}
	if req != nil && req.user != "" {
		attrs = append(attrs, slog.String("user", req.user))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.log.LogAttrs(r.Context(), level, "request failed", attrs...)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, status, errorBody{Error: msg})
}

// logPath is the request path bounded in length (it is attacker-chosen).
func logPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if len(p) > 128 {
		p = p[:128] + "…"
	}
	return p
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are marshalled; they cannot fail.
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// userHash is the pseudonym of an email in logs and metrics: the first 16
// hex digits of its SHA-256.
func userHash(email string) string { return store.UserHash(email) }
