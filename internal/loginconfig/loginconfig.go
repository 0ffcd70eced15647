// Package loginconfig reads the login Lambda's configuration from its
// environment, once, into a typed Config, and fails loudly with every problem
// listed when a variable is missing or malformed.
//
// The variables are documented in the README (section "Login function
// configuration") and set by template.yaml.
package loginconfig

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
)

// Defaults for the optional variables: those of the packages that use them.
const (
	DefaultCookieTTL        = cfsign.DefaultLifetime
	DefaultCookieBucket     = cfsign.DefaultBucket
	DefaultKeyCacheTTL      = keysource.DefaultTTL
	DefaultSessionTTL       = api.DefaultSessionTTL
	DefaultLockoutThreshold = api.DefaultLockoutThreshold
	DefaultLockoutWindow    = api.DefaultLockoutWindow

	DefaultLockoutAccountThreshold = api.DefaultLockoutAccountThreshold

	DefaultDownloadLinkTTL = api.DefaultDownloadLinkTTL

	DefaultMaxSessions = api.DefaultMaxSessions
	DefaultPlaybackTTL = api.DefaultPlaybackTTL
	MaxMaxSessions     = api.MaxMaxSessions
)

// Config is the login function's configuration.
type Config struct {
	// TableName is the DynamoDB table of the store (TABLE_NAME, required).
	TableName string
	// SigningKeySecretID names the Secrets Manager secret holding the
	// signing key (SIGNING_KEY_SECRET_ID, required; name or ARN).
	SigningKeySecretID string
	// OriginVerifySecretID names the Secrets Manager secret whose current
	// (or previous) value every request must carry in X-Cfgate-Origin-Verify,
	// the header CloudFront adds on /api/* (ORIGIN_VERIFY_SECRET_ID,
	// required; name or ARN).
	OriginVerifySecretID string
	// KeyGroupID is the CloudFront key group that /courses/* trusts
	// (KEY_GROUP_ID, required): at cold start the function checks that its
	// signing key is in it (internal/keygroup).
	KeyGroupID string
	// DistributionDomain is the distribution's domain (DISTRIBUTION_DOMAIN).
	// Exactly one of DistributionDomain and DistributionDomainParameter is set.
	DistributionDomain string
	// DistributionDomainParameter names an SSM String parameter that holds
	// the domain (DISTRIBUTION_DOMAIN_PARAMETER), read once at cold start.
	DistributionDomainParameter string
	// CookieTTL is the CloudFront cookies' lifetime (COOKIE_TTL, default 10m).
	CookieTTL time.Duration
	// CookieBucket rounds cookie expiry up to a multiple of itself
	// (COOKIE_BUCKET, default 5m, whole seconds), so signatures can be shared
	// and cached.
	CookieBucket time.Duration
	// PlaybackTTL is how long a cookie-less playback URL is valid
	// (PLAYBACK_TTL, default 4h: a course's evening), capped at the grant's
	// and the session's end like the cookies.
	PlaybackTTL time.Duration
	// KeyCacheTTL is how long the signing key is used before Secrets Manager
	// is asked again (KEY_CACHE_TTL, default 5m).
	KeyCacheTTL time.Duration
	// SessionTTL is the login session's lifetime (SESSION_TTL, default 12h).
	SessionTTL time.Duration
	// PlayerOrigins are further origins allowed to call the API
	// (PLAYER_ORIGINS, comma-separated scheme://host[:port], default none).
	PlayerOrigins []string
	// CookieSameSite is the CloudFront cookies' SameSite attribute
	// (COOKIE_SAMESITE: Lax, Strict or None; default Lax).
	CookieSameSite http.SameSite
	// CookieDomain is the CloudFront cookies' Domain attribute (COOKIE_DOMAIN,
	// default none: host-only cookies).
	CookieDomain string
	// LockoutThreshold is the number of failed logins of an account from one
	// viewer address within LockoutWindow after which that address gets 429
	// for that account (LOCKOUT_THRESHOLD, default 10).
	LockoutThreshold int
	// LockoutAccountThreshold is the number of failed logins of an account
	// from all addresses within LockoutWindow after which the account
	// answers 429 everywhere for the rest of the window
	// (LOCKOUT_ACCOUNT_THRESHOLD, default 100, at least LOCKOUT_THRESHOLD).
	LockoutAccountThreshold int
	// LockoutWindow is the failed-login counting window (LOCKOUT_WINDOW,
	// default 15m).
	LockoutWindow time.Duration
	// MaxSessions is how many devices (active sessions) one account may
	// use at once; a login past it revokes the oldest (MAX_SESSIONS,
	// 1..100, default 3).
	MaxSessions int
	// MediaBucket is the media bucket (MEDIA_BUCKET, default none), whose
	// course manifests (manifests/<id>.json) the function reads to list a
	// course's files. Without it no course has files.
	MediaBucket string
	// DownloadLinkTTL is the validity of a download link (DOWNLOAD_LINK_TTL,
	// default 5m), capped at the grant's and the session's end.
	DownloadLinkTTL time.Duration
	// LogLevel is the minimum level logged (LOG_LEVEL: debug, info, warn,
	// error; default info).
	LogLevel slog.Level
	// SSMEndpoint overrides the SSM endpoint for the domain parameter
	// (AWS_ENDPOINT_URL_SSM, the SDK's service-specific endpoint variable;
	// AWS_ENDPOINT_URL applies to every service).
	SSMEndpoint string
	// KMSEndpoint overrides the KMS endpoint of kms:Sign when the secret
	// names a KMS key (AWS_ENDPOINT_URL_KMS; internal/kmssign).
	KMSEndpoint string
	// CloudFrontEndpoint overrides the CloudFront endpoint of the key-group
	// check (AWS_ENDPOINT_URL_CLOUDFRONT, likewise).
	CloudFrontEndpoint string
	// SecretsManagerEndpoint overrides the Secrets Manager endpoint of the
	// signing-key and origin secrets (AWS_ENDPOINT_URL_SECRETS_MANAGER, the
	// SDK's name for it; internal/smsecret).
	SecretsManagerEndpoint string
	// DynamoDBEndpoint overrides the DynamoDB endpoint of the store
	// (AWS_ENDPOINT_URL_DYNAMODB).
	DynamoDBEndpoint string
}

// Error lists every problem found in the environment.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

// FromEnv reads the configuration through getenv (os.Getenv in main). It
// returns an *Error listing every problem when anything is missing or
// malformed.
func FromEnv(getenv func(string) string) (Config, error) {
	var (
		c    Config
		errs []string
	)
	problem := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }

	required := func(name string) string {
		v := get(name)
		if v == "" {
			problem("%s is required", name)
		}
		return v
	}
	duration := func(name string, def time.Duration) time.Duration {
		v := get(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			problem("%s=%q is not a Go duration (for example 10m or 1h30m)", name, v)
			return def
		}
		if d <= 0 {
			problem("%s=%q must be positive", name, v)
			return def
		}
		return d
	}

	c.TableName = required("TABLE_NAME")
	c.SigningKeySecretID = required("SIGNING_KEY_SECRET_ID")
	c.OriginVerifySecretID = required("ORIGIN_VERIFY_SECRET_ID")
	c.KeyGroupID = required("KEY_GROUP_ID")

	c.DistributionDomain = get("DISTRIBUTION_DOMAIN")
	c.DistributionDomainParameter = get("DISTRIBUTION_DOMAIN_PARAMETER")
	switch {
	case c.DistributionDomain == "" && c.DistributionDomainParameter == "":
		problem("one of DISTRIBUTION_DOMAIN and DISTRIBUTION_DOMAIN_PARAMETER is required")
	case c.DistributionDomain != "" && c.DistributionDomainParameter != "":
		problem("set only one of DISTRIBUTION_DOMAIN and DISTRIBUTION_DOMAIN_PARAMETER")
	case c.DistributionDomain != "":
		c.DistributionDomain = strings.ToLower(c.DistributionDomain)
		if err := cfsign.ValidateDomain(c.DistributionDomain); err != nil {
			problem("DISTRIBUTION_DOMAIN=%q: %v", c.DistributionDomain, err)
		}
	}

	c.CookieTTL = duration("COOKIE_TTL", DefaultCookieTTL)
	c.CookieBucket = duration("COOKIE_BUCKET", DefaultCookieBucket)
	if c.CookieBucket%time.Second != 0 {
		problem("COOKIE_BUCKET=%q must be a whole number of seconds (policy times are epoch seconds)", get("COOKIE_BUCKET"))
	}
	c.KeyCacheTTL = duration("KEY_CACHE_TTL", DefaultKeyCacheTTL)
	c.PlaybackTTL = duration("PLAYBACK_TTL", DefaultPlaybackTTL)
	if c.PlaybackTTL < time.Minute {
		problem("PLAYBACK_TTL=%q must be at least 1m", get("PLAYBACK_TTL"))
	}
	c.SessionTTL = duration("SESSION_TTL", DefaultSessionTTL)
	c.LockoutWindow = duration("LOCKOUT_WINDOW", DefaultLockoutWindow)

	if v := get("PLAYER_ORIGINS"); v != "" {
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			norm, err := ParseOrigin(o)
			if err != nil {
				problem("PLAYER_ORIGINS: %v", err)
				continue
			}
			c.PlayerOrigins = append(c.PlayerOrigins, norm)
		}
	}

	switch v := get("COOKIE_SAMESITE"); strings.ToLower(v) {
	case "", "lax":
		c.CookieSameSite = http.SameSiteLaxMode
	case "strict":
		c.CookieSameSite = http.SameSiteStrictMode
	case "none":
		c.CookieSameSite = http.SameSiteNoneMode
	default:
		problem("COOKIE_SAMESITE=%q must be Lax, Strict or None", v)
	}

	if v := get("COOKIE_DOMAIN"); v != "" {
		c.CookieDomain = strings.ToLower(strings.TrimPrefix(v, "."))
		if err := cfsign.ValidateDomain(c.CookieDomain); err != nil {
			problem("COOKIE_DOMAIN=%q: %v", v, err)
		} else if strings.Contains(c.CookieDomain, ":") {
			problem("COOKIE_DOMAIN=%q must be a host name without a port", v)
		} else if d := c.DistributionDomain; d != "" && d != c.CookieDomain && !strings.HasSuffix(d, "."+c.CookieDomain) {
			problem("COOKIE_DOMAIN=%q does not cover DISTRIBUTION_DOMAIN=%q (browsers would drop the cookies)", v, d)
		}
	}

	positive := func(name string, def int) int {
		v := get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			problem("%s=%q is not an integer", name, v)
		case n < 1:
			problem("%s=%q must be at least 1", name, v)
		default:
			return n
		}
		return def
	}
	c.LockoutThreshold = positive("LOCKOUT_THRESHOLD", DefaultLockoutThreshold)
	c.LockoutAccountThreshold = positive("LOCKOUT_ACCOUNT_THRESHOLD", max(DefaultLockoutAccountThreshold, c.LockoutThreshold))
	if c.LockoutAccountThreshold < c.LockoutThreshold {
		problem("LOCKOUT_ACCOUNT_THRESHOLD=%d must be at least LOCKOUT_THRESHOLD=%d", c.LockoutAccountThreshold, c.LockoutThreshold)
	}

	c.MaxSessions = positive("MAX_SESSIONS", DefaultMaxSessions)
	if c.MaxSessions > MaxMaxSessions {
		problem("MAX_SESSIONS=%d must be at most %d", c.MaxSessions, MaxMaxSessions)
	}

	c.DownloadLinkTTL = duration("DOWNLOAD_LINK_TTL", DefaultDownloadLinkTTL)
	if c.DownloadLinkTTL%time.Second != 0 {
		problem("DOWNLOAD_LINK_TTL=%q must be a whole number of seconds (a link's Expires is epoch seconds)", get("DOWNLOAD_LINK_TTL"))
	}
	if c.MediaBucket = get("MEDIA_BUCKET"); c.MediaBucket != "" && !bucketName.MatchString(c.MediaBucket) {
		problem("MEDIA_BUCKET=%q is not an S3 bucket name", c.MediaBucket)
	}

	c.LogLevel = slog.LevelInfo
	if v := get("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			problem("LOG_LEVEL=%q must be debug, info, warn or error", v)
		}
	}

	c.SSMEndpoint = get("AWS_ENDPOINT_URL_SSM")
	c.KMSEndpoint = get("AWS_ENDPOINT_URL_KMS")
	c.CloudFrontEndpoint = get("AWS_ENDPOINT_URL_CLOUDFRONT")
	c.SecretsManagerEndpoint = get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
	c.DynamoDBEndpoint = get("AWS_ENDPOINT_URL_DYNAMODB")

	if len(errs) > 0 {
		return Config{}, &Error{Problems: errs}
	}
	return c, nil
}

// bucketName is an S3 bucket name (general purpose buckets).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseOrigin checks that s is a browser origin, scheme://host[:port] with
// scheme http or https and nothing after the authority, and returns it in
// the lower-case form browsers send in the Origin header.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("origin %q: %w", s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("origin %q: scheme must be http or https", s)
	case u.Opaque != "" || u.Host == "":
		return "", fmt.Errorf("origin %q: want scheme://host[:port]", s)
	case u.User != nil:
		return "", fmt.Errorf("origin %q: must not contain user info", s)
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", fmt.Errorf("origin %q: must not have a path, query or fragment (an Origin header never does)", s)
	case strings.ContainsAny(u.Host, "*?"):
		return "", fmt.Errorf("origin %q: wildcards are not supported", s)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("origin %q: missing host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("origin %q: bad port", s)
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			return "", fmt.Errorf("origin %q: drop the default port (browsers omit it)", s)
		}
		host = net.JoinHostPort(host, p)
	} else if strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("origin %q: empty port", s)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

// AllowedOrigins is the complete list of origins allowed to call the API:
// the distribution's own https origin, then the player origins.
func (c Config) AllowedOrigins(domain string) []string {
	out := make([]string, 0, 1+len(c.PlayerOrigins))
	out = append(out, "https://"+domain)
	for _, o := range c.PlayerOrigins {
		if o != out[0] {
			out = append(out, o)
		}
	}
	return out
}

// GetParameterAPI is the SSM call ResolveDomain needs; *ssmparam.Client has
// it (the full service/ssm client is not linked into the Lambda: see
// internal/ssmparam).
type GetParameterAPI interface {
	GetParameterValue(ctx context.Context, name string) (string, error)
}

// ErrNoDomain reports that the distribution domain could not be resolved.
var ErrNoDomain = errors.New("distribution domain unavailable")

// ResolveDomain returns the distribution's domain: DistributionDomain when
// set, otherwise the value of the SSM parameter DistributionDomainParameter
// (read once, at cold start), validated like DISTRIBUTION_DOMAIN.
func (c Config) ResolveDomain(ctx context.Context, client GetParameterAPI) (string, error) {
	if c.DistributionDomain != "" {
		return c.DistributionDomain, nil
	}
	if c.DistributionDomainParameter == "" {
		return "", fmt.Errorf("%w: neither DISTRIBUTION_DOMAIN nor DISTRIBUTION_DOMAIN_PARAMETER is set", ErrNoDomain)
	}
	if client == nil {
		return "", fmt.Errorf("%w: no SSM client for parameter %q", ErrNoDomain, c.DistributionDomainParameter)
	}
	value, err := client.GetParameterValue(ctx, c.DistributionDomainParameter)
	if err != nil {
		return "", fmt.Errorf("%w: read SSM parameter %q: %w", ErrNoDomain, c.DistributionDomainParameter, err)
	}
	d := strings.ToLower(strings.TrimSpace(value))
	if err := cfsign.ValidateDomain(d); err != nil {
		return "", fmt.Errorf("%w: SSM parameter %q holds %q: %w", ErrNoDomain, c.DistributionDomainParameter, d, err)
	}
	if c.CookieDomain != "" && d != c.CookieDomain && !strings.HasSuffix(d, "."+c.CookieDomain) {
		return "", fmt.Errorf("%w: COOKIE_DOMAIN %q does not cover domain %q from SSM parameter %q", ErrNoDomain, c.CookieDomain, d, c.DistributionDomainParameter)
	}
	return d, nil
}
