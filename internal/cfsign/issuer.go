package cfsign

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Cookie names CloudFront reads.
const (
	CookiePolicy        = "CloudFront-Policy"
	CookieSignature     = "CloudFront-Signature"
	CookieKeyPairID     = "CloudFront-Key-Pair-Id"
	CookieHashAlgorithm = "CloudFront-Hash-Algorithm"
)

// CookieOptions are the attributes of the CloudFront cookies. Path is always
// /courses/<id>/ and HttpOnly is always set.
type CookieOptions struct {
	// SameSite defaults to Lax when zero (http.SameSiteDefaultMode counts as zero).
	SameSite http.SameSite
	// Domain is set only when an alternate domain needs it (a host name, no port).
	Domain string
	// Insecure omits Secure; only for a local distribution on plain http.
	Insecure bool
	// Persistent sets Expires to the policy's expiry; by default the cookies
	// are session cookies, as AWS recommends.
	Persistent bool
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Domain is the distribution's domain, host[:port] (see ValidateDomain).
	Domain string
	// Lifetime is the minimum validity of issued cookies (default 10m).
	Lifetime time.Duration
	// Bucket rounds expiry up to a multiple of it (default 5m, whole seconds),
	// so that viewers of a course in the same bucket share one signature.
	Bucket time.Duration
	// Cookie sets the cookie attributes.
	Cookie CookieOptions
	// CacheSize bounds the signature cache (default 4096 entries).
	CacheSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Issuer issues CloudFront cookie sets for courses on one domain, caching
// signatures per (key, algorithm, course, expiry bucket, conditions). It is
// safe for concurrent use.
type Issuer struct {
	domain   string
	lifetime time.Duration
	bucket   time.Duration
	cookie   CookieOptions
	now      func() time.Time
	cache    *sigCache
}

// Defaults of IssuerConfig's Lifetime and Bucket, which the login function's
// COOKIE_TTL and COOKIE_BUCKET, the local distribution's flags and the key
// rotation's grace period all start from.
const (
	DefaultLifetime = 10 * time.Minute
	DefaultBucket   = 5 * time.Minute
)

// Defaults of the lifetimes of the other things the login function signs
// with the signing key (its PLAYBACK_TTL and DOWNLOAD_LINK_TTL): kept here,
// beside the cookies', because the key rotation's grace period
// (internal/keyops) must outlast every one of them.
const (
	// DefaultPlaybackTTL is the validity of a cookie-less playback URL
	// (Issuer.IssueFor; expiry rounded up to the Bucket like a cookie's):
	// long enough to watch a course in one sitting.
	DefaultPlaybackTTL = 4 * time.Hour
	// DefaultDownloadLinkTTL is the validity of a download link (SignURL;
	// expiry rounded down to the second).
	DefaultDownloadLinkTTL = 5 * time.Minute
)

// NewIssuer checks cfg, fills in defaults and returns an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if err := ValidateDomain(cfg.Domain); err != nil {
		return nil, fmt.Errorf("%w (issuer Domain)", err)
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = DefaultLifetime
	}
	if cfg.Bucket == 0 {
		cfg.Bucket = DefaultBucket
	}
	if cfg.Lifetime < 0 {
		return nil, errors.New("cfsign: issuer: negative Lifetime")
	}
	if cfg.Bucket < time.Second || cfg.Bucket%time.Second != 0 {
		return nil, errors.New("cfsign: issuer: Bucket must be a positive whole number of seconds")
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 4096
	}
	if cfg.CacheSize < 0 {
		return nil, errors.New("cfsign: issuer: negative CacheSize")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch cfg.Cookie.SameSite {
	case 0, http.SameSiteDefaultMode:
		cfg.Cookie.SameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if cfg.Cookie.Insecure {
			return nil, errors.New("cfsign: issuer: SameSite=None needs Secure cookies (browsers drop it otherwise)")
		}
	default:
		return nil, fmt.Errorf("cfsign: issuer: unknown SameSite mode %d", cfg.Cookie.SameSite)
	}
	if cfg.Cookie.Domain != "" {
		if err := validateHost(cfg.Cookie.Domain); err != nil {
			return nil, fmt.Errorf("%w (issuer cookie Domain)", err)
		}
	}
	return &Issuer{
		domain:   cfg.Domain,
		lifetime: cfg.Lifetime,
		bucket:   cfg.Bucket,
		cookie:   cfg.Cookie,
		now:      cfg.Now,
		cache:    newSigCache(cfg.CacheSize),
	}, nil
}

// Domain returns the distribution domain the issuer signs for.
func (i *Issuer) Domain() string { return i.domain }

// Signatures is how many signatures the issuer has made (its cache's
// misses that signed), for tests and benchmarks.
func (i *Issuer) Signatures() uint64 { return i.cache.stats().Signs }

// CourseCookies is the cookie set granting one course until Expires.
type CourseCookies struct {
	CourseID string
	Expires  time.Time
	Cookies  []*http.Cookie

	// proto and rendered are the cached cookies and their Set-Cookie strings;
	// SetCookies reuses rendered[i] while Cookies[i] still equals proto[i].
	proto    []http.Cookie
	rendered []string
}

// SetCookies returns the cookies as Set-Cookie header values, ready for an
// API Gateway v2 / Lambda response's Cookies field. It reflects any change
// made to Cookies; unchanged cookies reuse strings rendered once per signature.
// A SHA-1 set ends with one more value that deletes CloudFront-Hash-Algorithm.
func (c CourseCookies) SetCookies() []string {
	extra := c.rendered[min(len(c.proto), len(c.rendered)):]
	out := make([]string, len(c.Cookies), len(c.Cookies)+len(extra))
	for i, ck := range c.Cookies {
		if i < len(c.proto) && ck != nil && cookieEqual(ck, &c.proto[i]) {
			out[i] = c.rendered[i]
		} else {
			out[i] = ck.String()
		}
	}
	// For SHA-1 sets: the deletion of a stale CloudFront-Hash-Algorithm
	// cookie (see Issuer.build); it is not part of Cookies.
	return append(out, extra...)
}

// cookieEqual compares every field of http.Cookie (a test checks the list is
// complete for the Go version in use).
func cookieEqual(a, b *http.Cookie) bool {
	return a.Name == b.Name && a.Value == b.Value && a.Quoted == b.Quoted &&
		a.Path == b.Path && a.Domain == b.Domain && a.Expires.Equal(b.Expires) &&
		a.Expires.IsZero() == b.Expires.IsZero() && a.RawExpires == b.RawExpires &&
		a.MaxAge == b.MaxAge && a.Secure == b.Secure && a.HttpOnly == b.HttpOnly &&
		a.SameSite == b.SameSite && a.Partitioned == b.Partitioned && a.Raw == b.Raw &&
		len(a.Unparsed) == 0 && len(b.Unparsed) == 0
}

// ErrNotAfterPassed is returned by Issue when Conditions.NotAfter caps the
// expiry at a time that is not in the future: there is nothing to grant.
var ErrNotAfterPassed = errors.New("cfsign: NotAfter is not in the future")

// cacheKey identifies a signature: everything that goes into the signed
// bytes plus the key material's fingerprint (the issuer's domain is fixed).
type cacheKey struct {
	fp        [sha256.Size]byte
	keyID     string
	alg       Algorithm
	courseID  string
	expires   int64
	notBefore int64 // 0 when absent (validated NotBefore is after 1970)
	hasNB     bool
	sourceIP  netip.Prefix
}

// signed is a cache entry: the cookie set and its Set-Cookie strings, both
// immutable once cached (everything in them is fixed by the cache key and
// the issuer's configuration).
type signed struct {
	cookies  []http.Cookie
	rendered []string
}

// Issue returns the cookie set for courseID signed with key: expiry is
// now+Lifetime rounded up to the Bucket; conditions are optional. The course id
// is validated. Signatures are cached, so concurrent and repeated requests for
// the same course and bucket sign once.
func (i *Issuer) Issue(key *Key, courseID string, c Conditions) (CourseCookies, error) {
	return i.issue(key, courseID, i.lifetime, c)
}

// Warm makes sure that the signature Issue would use now is in the cache,
// signing it on a miss, without building the caller a cookie set: for a
// caller that takes a signature off a later request's path.
func (i *Issuer) Warm(key *Key, courseID string, c Conditions) error {
	_, _, err := i.signedSet(key, courseID, i.lifetime, c)
	return err
}

// signedSet returns the cached cookie set for courseID signed with key (signing
// it on a miss) and its expiry.
func (i *Issuer) signedSet(key *Key, courseID string, lifetime time.Duration, c Conditions) (signed, time.Time, error) {
	if err := key.usable(); err != nil {
		return signed{}, time.Time{}, err
	}
	if err := ValidateCourseID(courseID); err != nil {
		return signed{}, time.Time{}, err
	}
	expires := i.expiry(lifetime)
	if !c.NotAfter.IsZero() && c.NotAfter.Before(expires) {
		capped := time.Unix(c.NotAfter.Unix(), 0).UTC()
		if !capped.After(i.now()) {
			return signed{}, time.Time{}, ErrNotAfterPassed
		}
		expires = capped
	}
	c, err := c.normalize(expires)
	if err != nil {
		return signed{}, time.Time{}, err
	}
	ck := cacheKey{fp: key.fp, keyID: key.id, alg: key.alg, courseID: courseID, expires: expires.Unix(), sourceIP: c.SourceIP}
	if !c.NotBefore.IsZero() {
		ck.hasNB, ck.notBefore = true, c.NotBefore.Unix()
	}
	s, err := i.cache.get(ck, func() (signed, error) {
		pol, sig, err := key.signSDKPolicy(newPolicy(courseResource(i.domain, courseID), expires, c))
		if err != nil {
			return signed{}, err
		}
		return i.build(key, courseID, expires, pol, sig), nil
	})
	if err != nil {
		return signed{}, time.Time{}, fmt.Errorf("%w (issuing course %s)", err, courseID)
	}
	return s, expires, nil
}

func (i *Issuer) issue(key *Key, courseID string, lifetime time.Duration, c Conditions) (CourseCookies, error) {
	s, expires, err := i.signedSet(key, courseID, lifetime, c)
	if err != nil {
		return CourseCookies{}, err
	}
	cookies := make([]http.Cookie, len(s.cookies))
	copy(cookies, s.cookies)
	out := make([]*http.Cookie, len(cookies))
	for n := range cookies {
		out[n] = &cookies[n]
	}
	return CourseCookies{CourseID: courseID, Expires: expires, Cookies: out, proto: s.cookies, rendered: s.rendered}, nil
}

// build makes the cookie set for a fresh signature.
func (i *Issuer) build(key *Key, courseID string, expires time.Time, policy, signature string) signed {
	names := []string{CookiePolicy, CookieSignature, CookieKeyPairID, CookieHashAlgorithm}
	values := []string{policy, signature, key.id, "SHA256"}
	n := 3
	if key.alg.HashName() == "SHA256" {
		n = 4
	}
	s := signed{cookies: make([]http.Cookie, n), rendered: make([]string, n)}
	// The attributes are the same for every cookie of the set: render them once
	// (a test checks the result equals http.Cookie.String for each cookie; the
	// values are base64, a key id and "SHA256", which String leaves unchanged).
	attrs := http.Cookie{Name: "x"}
	i.setAttrs(&attrs, courseID, expires)
	suffix := strings.TrimPrefix(attrs.String(), "x=")
	for j := range n {
		c := &s.cookies[j]
		*c = attrs
		c.Name, c.Value = names[j], values[j]
		s.rendered[j] = names[j] + "=" + values[j] + suffix
	}
	if n == 3 {
		// A SHA-1 set also deletes any CloudFront-Hash-Algorithm=SHA256 the
		// browser still holds from a SHA-256 key (before a rotation that
		// changed the algorithm): left in place, it would make CloudFront
		// check the new SHA-1 signature as SHA-256 and deny every request.
		del := http.Cookie{Name: CookieHashAlgorithm}
		i.setAttrs(&del, courseID, time.Time{})
		del.Expires, del.MaxAge = time.Time{}, -1
		s.rendered = append(s.rendered, del.String())
	}
	return s
}

func (i *Issuer) setAttrs(c *http.Cookie, courseID string, expires time.Time) {
	c.Path = coursePath(courseID)
	c.Domain = i.cookie.Domain
	c.Secure = !i.cookie.Insecure
	c.HttpOnly = true
	c.SameSite = i.cookie.SameSite
	if i.cookie.Persistent {
		c.Expires = expires
	}
}

// expiry returns now+lifetime rounded up to a multiple of Bucket (UTC).
func (i *Issuer) expiry(lifetime time.Duration) time.Time {
	t := i.now().Add(lifetime)
	b := int64(i.bucket / time.Second)
	s := t.Unix()
	if t.Nanosecond() != 0 {
		s++
	}
	if r := s % b; r != 0 {
		s += b - r
	}
	return time.Unix(s, 0).UTC()
}

// Expired returns cookies that delete the course's CloudFront cookies (same
// names, Path and Domain, Max-Age=0), for logout. It returns nil for an
// invalid course id.
func (i *Issuer) Expired(courseID string) []*http.Cookie {
	if ValidateCourseID(courseID) != nil {
		return nil
	}
	names := []string{CookiePolicy, CookieSignature, CookieKeyPairID, CookieHashAlgorithm}
	out := make([]*http.Cookie, len(names))
	for n, name := range names {
		c := &http.Cookie{Name: name}
		i.setAttrs(c, courseID, time.Time{})
		c.Expires = time.Time{}
		c.MaxAge = -1
		out[n] = c
	}
	return out
}
