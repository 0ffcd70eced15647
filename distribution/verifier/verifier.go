package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Names of the signed URL parameters and of the signed cookies.
const (
	ParamExpires       = "Expires"
	ParamPolicy        = "Policy"
	ParamSignature     = "Signature"
	ParamKeyPairID     = "Key-Pair-Id"
	ParamHashAlgorithm = "Hash-Algorithm"

	CookieExpires       = "CloudFront-Expires"
	CookiePolicy        = "CloudFront-Policy"
	CookieSignature     = "CloudFront-Signature"
	CookieKeyPairID     = "CloudFront-Key-Pair-Id"
	CookieHashAlgorithm = "CloudFront-Hash-Algorithm"
)

// DefaultCacheSize is the cache size used when Options.CacheSize is 0.
const DefaultCacheSize = 4096

// Options configure a Verifier.
type Options struct {
	// CacheSize bounds the cache of verified signatures: 0 means
	// DefaultCacheSize, a negative value disables the cache.
	CacheSize int
}

// Verifier decides on signed requests. It is safe for concurrent use.
type Verifier struct {
	cache *verifiedCache
}

// New returns a Verifier.
func New(opts Options) *Verifier {
	n := opts.CacheSize
	if n == 0 {
		n = DefaultCacheSize
	}
	return &Verifier{cache: newVerifiedCache(n)}
}

// CacheLen returns the number of cached verified signatures.
func (v *Verifier) CacheLen() int { return v.cache.len() }

// signed is the signing material found in a request.
type signed struct {
	source                      string
	keyID, sig, policy, expires string
	hasKeyID, hasSig            bool
	hasPolicy, hasExpires       bool
	hashAlg                     string
	hasHash                     bool
}

// Verify decides on req as CloudFront does for a cache behavior whose trusted
// key groups hold keys.
func (v *Verifier) Verify(req Request, keys Keys) Decision {
	u := req.URL
	if u == nil || u.Opaque != "" || u.Scheme == "" || u.Host == "" {
		return deny(CodeAccessDenied, "request URL is not absolute")
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	hasQuery := u.ForceQuery || u.RawQuery != ""

	s, kept, nkept := fromQuery(u.RawQuery)
	var t target
	if s.source == "url" {
		t = newTarget(u.Scheme, u.Host, path, kept, nkept > 0)
	} else {
		s = fromCookies(req)
		t = newTarget(u.Scheme, u.Host, path, u.RawQuery, hasQuery)
	}
	d := v.decide(&s, &t, req, keys)
	d.Source = s.source
	if s.keyID != "" {
		d.KeyPairID = safeID(s.keyID)
	}
	return d
}

func (v *Verifier) decide(s *signed, t *target, req Request, keys Keys) Decision {
	if s.source == "" {
		return deny(CodeMissingKey, "no signed URL parameters and no CloudFront cookies")
	}
	if s.keyID == "" {
		return deny(CodeMissingKey, "missing or empty "+s.name(ParamKeyPairID, CookieKeyPairID))
	}
	var pub crypto.PublicKey
	ok := false
	if keys != nil {
		pub, ok = keys.Lookup(s.keyID)
	}
	if !ok {
		return deny(CodeInvalidKey, fmt.Sprintf("key pair id %s is not in the behavior's trusted key groups", safeID(s.keyID)))
	}
	hash := crypto.SHA1
	if s.hasHash {
		switch s.hashAlg {
		case "SHA1":
		case "SHA256":
			hash = crypto.SHA256
		default:
			return deny(CodeAccessDenied, fmt.Sprintf("%s is neither SHA1 nor SHA256", s.name(ParamHashAlgorithm, CookieHashAlgorithm)))
		}
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return deny(CodeAccessDenied, fmt.Sprintf("key %s is nil", safeID(s.keyID)))
		}
	case *ecdsa.PublicKey:
		if k == nil {
			return deny(CodeAccessDenied, fmt.Sprintf("key %s is nil", safeID(s.keyID)))
		}
		if hash != crypto.SHA256 {
			return deny(CodeAccessDenied, fmt.Sprintf("key %s is ECDSA, which needs %s=SHA256", safeID(s.keyID), s.name(ParamHashAlgorithm, CookieHashAlgorithm)))
		}
	default:
		return deny(CodeAccessDenied, fmt.Sprintf("key %s has unsupported type %T", safeID(s.keyID), pub))
	}

	kind := "custom"
	if !s.hasPolicy {
		if !s.hasExpires {
			d := deny(CodeMalformedPolicy, fmt.Sprintf("neither %s nor %s", s.name(ParamPolicy, CookiePolicy), s.name(ParamExpires, CookieExpires)))
			return d
		}
		kind = "canned"
	}
	withKind := func(d Decision) Decision { d.Policy = kind; return d }

	// The material the signature covers, as a cache key.
	ck := cacheKey{keyID: s.keyID, pub: pub, hash: hash, sig: s.sig}
	if kind == "canned" {
		if !isDigits(s.expires) {
			return withKind(deny(CodeMalformedPolicy, fmt.Sprintf("%s is not a decimal integer", s.name(ParamExpires, CookieExpires))))
		}
		ck.canned = true
		ck.policy = cannedPolicy(t.s, s.expires)
	} else {
		ck.policy = s.policy
	}

	pol, hit := v.cache.get(&ck)
	if !hit {
		var d Decision
		pol, d = verifySignature(s, &ck, pub, hash)
		if pol == nil {
			return withKind(d)
		}
		v.cache.put(&ck, pol)
	}
	return withKind(checkConditions(pol, kind, t, req))
}

// verifySignature decodes and checks the signature and the policy; it returns
// the parsed policy, or nil and the denial.
func verifySignature(s *signed, ck *cacheKey, pub crypto.PublicKey, hash crypto.Hash) (*Policy, Decision) {
	if s.sig == "" {
		return nil, deny(CodeAccessDenied, "missing or empty "+s.name(ParamSignature, CookieSignature))
	}
	sig, err := Decode(s.sig)
	if err != nil {
		return nil, deny(CodeMalformedSignature, fmt.Sprintf("%s: %v", s.name(ParamSignature, CookieSignature), err))
	}
	var msg []byte
	var pol *Policy
	if ck.canned {
		exp, err := strconv.ParseInt(s.expires, 10, 64)
		if err != nil {
			return nil, deny(CodeMalformedPolicy, fmt.Sprintf("%s out of range", s.name(ParamExpires, CookieExpires)))
		}
		msg = []byte(ck.policy)
		pol = &Policy{DateLessThan: exp}
	} else {
		msg, err = Decode(s.policy)
		if err != nil {
			return nil, deny(CodeMalformedPolicy, fmt.Sprintf("%s: %v", s.name(ParamPolicy, CookiePolicy), err))
		}
		pol, err = ParsePolicy(msg)
		if err != nil {
			return nil, deny(CodeMalformedPolicy, fmt.Sprintf("%s: %v", s.name(ParamPolicy, CookiePolicy), err))
		}
	}
	var digest []byte
	if hash == crypto.SHA256 {
		h := sha256.Sum256(msg)
		digest = h[:]
	} else {
		h := sha1.Sum(msg)
		digest = h[:]
	}
	valid := false
	alg := "RSA"
	switch k := pub.(type) {
	case *rsa.PublicKey:
		valid = rsa.VerifyPKCS1v15(k, hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		alg = "ECDSA"
		valid = ecdsa.VerifyASN1(k, digest, sig)
	}
	if !valid {
		return nil, deny(CodeAccessDenied, fmt.Sprintf("signature does not verify with key %s (%s-%s) over the %s policy",
			safeID(s.keyID), alg, hashName(hash), map[bool]string{true: "canned", false: "custom"}[ck.canned]))
	}
	return pol, Decision{}
}

func checkConditions(p *Policy, kind string, t *target, req Request) Decision {
	now := req.Now
	if dlt := time.Unix(p.DateLessThan, 0); !now.Before(dlt) {
		return deny(CodeAccessDenied, fmt.Sprintf("expired at %s, now %s", fmtTime(dlt), fmtTime(now)))
	}
	if p.HasDateGreaterThan {
		if dgt := time.Unix(p.DateGreaterThan, 0); !now.After(dgt) {
			return deny(CodeAccessDenied, fmt.Sprintf("not valid until after %s, now %s", fmtTime(dgt), fmtTime(now)))
		}
	}
	if p.SourceIP.IsValid() {
		src := req.SourceIP.Unmap()
		if !src.IsValid() {
			return deny(CodeAccessDenied, fmt.Sprintf("policy requires source IP in %s, request has no source IP", p.SourceIP))
		}
		if !src.Is4() || !p.SourceIP.Contains(src) {
			return deny(CodeAccessDenied, fmt.Sprintf("source IP %s is outside %s", src, p.SourceIP))
		}
	}
	// A canned policy was rebuilt from this very URL.
	if kind == "custom" && p.HasResource && !matchTarget(p.Resource, t) {
		return deny(CodeAccessDenied, fmt.Sprintf("resource %s does not match %s", truncateN(p.Resource, 512), truncateN(t.s, 512)))
	}
	return Decision{Allowed: true}
}

// fromQuery extracts the signed URL parameters (first occurrence of each) and
// returns the raw query without them, order preserved, and how many pairs it
// keeps ("a?&Expires=…" was signed as "a?": one empty pair kept).
func fromQuery(raw string) (s signed, kept string, nkept int) {
	if raw == "" {
		return s, "", 0
	}
	var b strings.Builder
	rest := raw
	for {
		pair, tail, more := strings.Cut(rest, "&")
		key, val, _ := strings.Cut(pair, "=")
		isParam := true
		switch key {
		case ParamKeyPairID:
			if !s.hasKeyID {
				s.keyID, s.hasKeyID = unescape(val), true
			}
		case ParamSignature:
			if !s.hasSig {
				s.sig, s.hasSig = unescape(val), true
			}
		case ParamPolicy:
			if !s.hasPolicy {
				s.policy, s.hasPolicy = unescape(val), true
			}
		case ParamExpires:
			if !s.hasExpires {
				s.expires, s.hasExpires = unescape(val), true
			}
		case ParamHashAlgorithm:
			if !s.hasHash {
				s.hashAlg, s.hasHash = unescape(val), true
			}
		default:
			isParam = false
		}
		if isParam {
			s.source = "url"
		} else {
			if nkept > 0 {
				b.WriteByte('&')
			}
			b.WriteString(pair)
			nkept++
		}
		if !more {
			break
		}
		rest = tail
	}
	return s, b.String(), nkept
}

func fromCookies(req Request) signed {
	var s signed
	var seen [5]bool
	for _, c := range req.Cookies {
		if c == nil {
			continue
		}
		i := -1
		switch c.Name {
		case CookieKeyPairID:
			i = 0
		case CookieSignature:
			i = 1
		case CookiePolicy:
			i = 2
		case CookieExpires:
			i = 3
		case CookieHashAlgorithm:
			i = 4
		}
		if i < 0 || seen[i] {
			continue // not ours, or a duplicate: the first wins
		}
		seen[i] = true
		s.source = "cookie"
		switch i {
		case 0:
			s.keyID = c.Value
		case 1:
			s.sig = c.Value
		case 2:
			s.policy, s.hasPolicy = c.Value, true
		case 3:
			s.expires, s.hasExpires = c.Value, true
		case 4:
			s.hashAlg, s.hasHash = c.Value, true
		}
	}
	return s
}

func (s *signed) name(param, cookie string) string {
	if s.source == "cookie" {
		return cookie
	}
	return param
}

func unescape(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return v
	}
	return u
}

func isDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hashName(h crypto.Hash) string {
	if h == crypto.SHA256 {
		return "SHA256"
	}
	return "SHA1"
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// safeID returns a key pair id fit for a log line.
func safeID(id string) string {
	if isIDShape(id) {
		return id
	}
	return strconv.Quote(truncate(id))
}

// isIDShape is keyFileID without the regexp (it is on the hot path).
func isIDShape(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func truncate(s string) string { return truncateN(s, 64) }

func truncateN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
