package loginconfig

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cfgate/cfgate/internal/ssmparam"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func base() map[string]string {
	return map[string]string{
		"TABLE_NAME":              "cfgate",
		"SIGNING_KEY_SECRET_ID":   "cfgate/signing-key",
		"ORIGIN_VERIFY_SECRET_ID": "cfgate/origin-verify",
		"KEY_GROUP_ID":            "kg-1",
		"DISTRIBUTION_DOMAIN":     "d111111abcdef8.cloudfront.net",
	}
}

func with(kv ...string) map[string]string {
	m := base()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		TableName:               "cfgate",
		SigningKeySecretID:      "cfgate/signing-key",
		OriginVerifySecretID:    "cfgate/origin-verify",
		KeyGroupID:              "kg-1",
		DistributionDomain:      "d111111abcdef8.cloudfront.net",
		CookieTTL:               10 * time.Minute,
		CookieBucket:            5 * time.Minute,
		PlaybackTTL:             4 * time.Hour,
		KeyCacheTTL:             5 * time.Minute,
		SessionTTL:              12 * time.Hour,
		CookieSameSite:          http.SameSiteLaxMode,
		LockoutThreshold:        10,
		LockoutAccountThreshold: 100,
		LockoutWindow:           15 * time.Minute,
		MaxSessions:             3,
		DownloadLinkTTL:         5 * time.Minute,
		LogLevel:                slog.LevelInfo,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestFromEnvAllSet(t *testing.T) {
	c, err := FromEnv(env(with(
		"DISTRIBUTION_DOMAIN", "Video.Example.COM",
		"COOKIE_TTL", "15m",
		"COOKIE_BUCKET", "1m",
		"PLAYBACK_TTL", "90m",
		"KEY_CACHE_TTL", "30s",
		"SESSION_TTL", "1h30m",
		"PLAYER_ORIGINS", " https://Player.example.com , http://localhost:8080,,https://[::1]:8443 ",
		"COOKIE_SAMESITE", "none",
		"COOKIE_DOMAIN", ".example.com",
		"LOCKOUT_THRESHOLD", "5",
		"LOCKOUT_ACCOUNT_THRESHOLD", "50",
		"LOCKOUT_WINDOW", "1h",
		"MAX_SESSIONS", "100",
		"MEDIA_BUCKET", "cfgate-mediabucket-1a2b3c",
		"DOWNLOAD_LINK_TTL", "90s",
		"LOG_LEVEL", "DEBUG",
	)))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		TableName:               "cfgate",
		SigningKeySecretID:      "cfgate/signing-key",
		OriginVerifySecretID:    "cfgate/origin-verify",
		KeyGroupID:              "kg-1",
		DistributionDomain:      "video.example.com",
		CookieTTL:               15 * time.Minute,
		CookieBucket:            time.Minute,
		PlaybackTTL:             90 * time.Minute,
		KeyCacheTTL:             30 * time.Second,
		SessionTTL:              90 * time.Minute,
		PlayerOrigins:           []string{"https://player.example.com", "http://localhost:8080", "https://[::1]:8443"},
		CookieSameSite:          http.SameSiteNoneMode,
		CookieDomain:            "example.com",
		LockoutThreshold:        5,
		LockoutAccountThreshold: 50,
		LockoutWindow:           time.Hour,
		MaxSessions:             100,
		MediaBucket:             "cfgate-mediabucket-1a2b3c",
		DownloadLinkTTL:         90 * time.Second,
		LogLevel:                slog.LevelDebug,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv:\n got %+v\nwant %+v", c, want)
	}
	if got, want := c.AllowedOrigins(c.DistributionDomain), []string{"https://video.example.com", "https://player.example.com", "http://localhost:8080", "https://[::1]:8443"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AllowedOrigins = %q, want %q", got, want)
	}
}

func TestFromEnvProblems(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings, one per expected problem, in order
	}{
		{"empty environment", map[string]string{}, []string{"TABLE_NAME is required", "SIGNING_KEY_SECRET_ID is required", "ORIGIN_VERIFY_SECRET_ID is required", "KEY_GROUP_ID is required", "one of DISTRIBUTION_DOMAIN and DISTRIBUTION_DOMAIN_PARAMETER is required"}},
		{"both domain sources", with("DISTRIBUTION_DOMAIN_PARAMETER", "/cfgate/domain"), []string{"set only one of DISTRIBUTION_DOMAIN and DISTRIBUTION_DOMAIN_PARAMETER"}},
		{"domain with scheme", with("DISTRIBUTION_DOMAIN", "https://d1.cloudfront.net"), []string{"DISTRIBUTION_DOMAIN="}},
		{"domain with path", with("DISTRIBUTION_DOMAIN", "d1.cloudfront.net/x"), []string{"DISTRIBUTION_DOMAIN="}},
		{"domain wildcard", with("DISTRIBUTION_DOMAIN", "*.example.com"), []string{"DISTRIBUTION_DOMAIN="}},
		{"bad duration", with("COOKIE_TTL", "10"), []string{"COOKIE_TTL=\"10\" is not a Go duration"}},
		{"negative duration", with("SESSION_TTL", "-1h"), []string{"SESSION_TTL=\"-1h\" must be positive"}},
		{"zero duration", with("KEY_CACHE_TTL", "0s"), []string{"KEY_CACHE_TTL=\"0s\" must be positive"}},
		{"short playback ttl", with("PLAYBACK_TTL", "30s"), []string{"PLAYBACK_TTL=\"30s\" must be at least 1m"}},
		{"fractional bucket", with("COOKIE_BUCKET", "1500ms"), []string{"COOKIE_BUCKET=\"1500ms\" must be a whole number of seconds"}},
		{"bad bucket and window", with("COOKIE_BUCKET", "5 minutes", "LOCKOUT_WINDOW", "x"), []string{"COOKIE_BUCKET=", "LOCKOUT_WINDOW="}},
		{"origin with path", with("PLAYER_ORIGINS", "https://player.example.com/"), []string{"must not have a path"}},
		{"origin with long path", with("PLAYER_ORIGINS", "https://player.example.com/app"), []string{"must not have a path"}},
		{"origin with query", with("PLAYER_ORIGINS", "https://player.example.com?x=1"), []string{"must not have a path, query or fragment"}},
		{"origin without scheme", with("PLAYER_ORIGINS", "player.example.com"), []string{"scheme must be http or https"}},
		{"origin ftp", with("PLAYER_ORIGINS", "ftp://player.example.com"), []string{"scheme must be http or https"}},
		{"origin wildcard", with("PLAYER_ORIGINS", "https://*.example.com"), []string{"wildcards"}},
		{"origin user info", with("PLAYER_ORIGINS", "https://u:p@player.example.com"), []string{"user info"}},
		{"origin bad port", with("PLAYER_ORIGINS", "https://player.example.com:99999"), []string{"bad port"}},
		{"origin default port", with("PLAYER_ORIGINS", "https://player.example.com:443"), []string{"default port"}},
		{"origin null", with("PLAYER_ORIGINS", "null"), []string{"scheme must be http or https"}},
		{"two bad origins", with("PLAYER_ORIGINS", "https://ok.example.com,https://a.example.com/p,b.example.com"), []string{"https://a.example.com/p", "b.example.com"}},
		{"bad samesite", with("COOKIE_SAMESITE", "sometimes"), []string{"COOKIE_SAMESITE=\"sometimes\" must be Lax, Strict or None"}},
		{"cookie domain with port", with("COOKIE_DOMAIN", "example.com:443", "DISTRIBUTION_DOMAIN", "video.example.com"), []string{"without a port"}},
		{"cookie domain not covering", with("COOKIE_DOMAIN", "other.com"), []string{"does not cover DISTRIBUTION_DOMAIN"}},
		{"cookie domain suffix trick", with("DISTRIBUTION_DOMAIN", "evilexample.com", "COOKIE_DOMAIN", "example.com"), []string{"does not cover"}},
		{"lockout not a number", with("LOCKOUT_THRESHOLD", "ten"), []string{"LOCKOUT_THRESHOLD=\"ten\" is not an integer"}},
		{"lockout zero", with("LOCKOUT_THRESHOLD", "0"), []string{"LOCKOUT_THRESHOLD=\"0\" must be at least 1"}},
		{"account threshold below source threshold", with("LOCKOUT_THRESHOLD", "20", "LOCKOUT_ACCOUNT_THRESHOLD", "10"), []string{"LOCKOUT_ACCOUNT_THRESHOLD=10 must be at least LOCKOUT_THRESHOLD=20"}},
		{"account threshold not a number", with("LOCKOUT_ACCOUNT_THRESHOLD", "many"), []string{"LOCKOUT_ACCOUNT_THRESHOLD=\"many\" is not an integer"}},
		{"max sessions zero", with("MAX_SESSIONS", "0"), []string{"MAX_SESSIONS=\"0\" must be at least 1"}},
		{"max sessions too many", with("MAX_SESSIONS", "101"), []string{"MAX_SESSIONS=101 must be at most 100"}},
		{"max sessions not a number", with("MAX_SESSIONS", "3 devices"), []string{"MAX_SESSIONS=\"3 devices\" is not an integer"}},
		{"bad log level", with("LOG_LEVEL", "loud"), []string{"LOG_LEVEL=\"loud\""}},
		{"bad bucket name", with("MEDIA_BUCKET", "s3://Media"), []string{"MEDIA_BUCKET=\"s3://Media\" is not an S3 bucket name"}},
		{"download link ttl zero", with("DOWNLOAD_LINK_TTL", "0s"), []string{"DOWNLOAD_LINK_TTL=\"0s\" must be positive"}},
		{"download link ttl fraction", with("DOWNLOAD_LINK_TTL", "1500ms"), []string{"DOWNLOAD_LINK_TTL=\"1500ms\" must be a whole number of seconds"}},
		{"everything wrong at once", map[string]string{
			"COOKIE_TTL": "x", "PLAYER_ORIGINS": "https://a/b", "COOKIE_SAMESITE": "x", "LOCKOUT_THRESHOLD": "x", "LOG_LEVEL": "x",
		}, []string{"TABLE_NAME", "SIGNING_KEY_SECRET_ID", "ORIGIN_VERIFY_SECRET_ID", "KEY_GROUP_ID", "DISTRIBUTION_DOMAIN", "COOKIE_TTL", "PLAYER_ORIGINS", "COOKIE_SAMESITE", "LOCKOUT_THRESHOLD", "LOG_LEVEL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromEnv(env(tt.env))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("FromEnv = %+v, %v; want *Error", c, err)
			}
			if got, want := len(cerr.Problems), len(tt.want); got != want {
				t.Fatalf("got %d problems %q, want %d", got, cerr.Problems, want)
			}
			for i, w := range tt.want {
				if !strings.Contains(cerr.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, cerr.Problems[i], w)
				}
				if !strings.Contains(err.Error(), cerr.Problems[i]) {
					t.Errorf("Error() = %q lacks problem %q", err.Error(), cerr.Problems[i])
				}
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("config returned with an error: %+v", c)
			}
		})
	}
}

func TestDomainParameterOnly(t *testing.T) {
	c, err := FromEnv(env(with("DISTRIBUTION_DOMAIN", "<unset>", "DISTRIBUTION_DOMAIN_PARAMETER", "/cfgate/domain")))
	if err != nil {
		t.Fatal(err)
	}
	if c.DistributionDomain != "" || c.DistributionDomainParameter != "/cfgate/domain" {
		t.Errorf("got domain %q parameter %q", c.DistributionDomain, c.DistributionDomainParameter)
	}
}

func TestParseOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://a.example.com", "https://a.example.com"},
		{"HTTPS://A.Example.com", "https://a.example.com"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"https://[::1]", "https://[::1]"},
		{"https://[::1]:8443", "https://[::1]:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOrigin(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "https://", "https://a.example.com#x", "https://a.example.com:", "mailto:x@y", "https://a.example.com/?"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if got, err := ParseOrigin(bad); err == nil {
				t.Errorf("ParseOrigin(%q) = %q, nil; want an error", bad, got)
			}
		})
	}
}

func TestResolveDomainSSM(t *testing.T) {
	srv := motoserver.Shared(t)
	client := ssm.NewFromConfig(srv.Config(t))
	ctx := context.Background()
	put := func(name, value string) {
		t.Helper()
		if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
		}); err != nil {
			t.Fatalf("PutParameter: %v", err)
		}
	}
	good := "/" + motoserver.Unique(t, "domain")
	put(good, "D111111ABCDEF8.cloudfront.net\n")
	bad := "/" + motoserver.Unique(t, "domain")
	put(bad, "https://d1.cloudfront.net/")

	tests := []struct {
		name    string
		cfg     Config
		want    string
		wantErr string
	}{
		{"from env, no SSM call", Config{DistributionDomain: "video.example.com"}, "video.example.com", ""},
		{"from SSM", Config{DistributionDomainParameter: good}, "d111111abcdef8.cloudfront.net", ""},
		{"missing parameter", Config{DistributionDomainParameter: "/" + motoserver.Unique(t, "missing")}, "", "ParameterNotFound"},
		{"malformed value", Config{DistributionDomainParameter: bad}, "", "holds"},
		{"cookie domain not covering", Config{DistributionDomainParameter: good, CookieDomain: "example.com"}, "", "does not cover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c GetParameterAPI = ssmparam.New(srv.Config(t), "")
			if tt.cfg.DistributionDomain != "" {
				c = nil // must not be used
			}
			got, err := tt.cfg.ResolveDomain(ctx, c)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("ResolveDomain = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrNoDomain) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ResolveDomain = %q, %v; want ErrNoDomain containing %q", got, err, tt.wantErr)
			}
		})
	}
}
