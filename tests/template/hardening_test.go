package template

import (
	"slices"
	"strings"
	"testing"
)

// TestOriginVerifySecret: the API origin carries X-Cfgate-Origin-Verify from
// a secret that the template generates, by dynamic reference only (never a
// literal), pinned to a version when OriginSecretVersion is set; the login
// function is told the secret and may read it.
func TestOriginVerifySecret(t *testing.T) {
	p := load(t, nil)
	sec, err := p.tpl.GetSecretsManagerSecretWithName("OriginVerifySecret")
	if err != nil {
		t.Fatal(err)
	}
	g := sec.GenerateSecretString
	if g == nil || g.PasswordLength == nil || *g.PasswordLength < 32 || sec.SecretString != nil {
		t.Fatalf("OriginVerifySecret: want a generated value of at least 32 characters and no literal, got %+v", sec)
	}
	header := func(p parsed) string {
		t.Helper()
		for _, o := range distribution(t, p).Origins {
			if o.Id != "api" {
				continue
			}
			for _, h := range o.OriginCustomHeaders {
				if h.HeaderName == "X-Cfgate-Origin-Verify" {
					return h.HeaderValue
				}
			}
		}
		t.Fatal("the api origin has no X-Cfgate-Origin-Verify custom header")
		return ""
	}
	if got, want := header(p), "{{resolve:secretsmanager:${OriginVerifySecret}}}"; got != want {
		t.Errorf("header value = %q, want %q", got, want)
	}
	const version = "a1b2c3d4-e5f6-4a5b-8c7d-9e8f7a6b5c4d"
	pinned := load(t, map[string]string{"OriginSecretVersion": version})
	if got, want := header(pinned), "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString:::"+version+"}}"; got != want {
		t.Errorf("pinned header value = %q, want %q", got, want)
	}
	for _, o := range distribution(t, p).Origins {
		if o.Id != "api" && len(o.OriginCustomHeaders) > 0 {
			t.Errorf("origin %s carries custom headers (the secret must only go to the API)", o.Id)
		}
	}

	env := p.props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["ORIGIN_VERIFY_SECRET_ID"] != "{{Ref:OriginVerifySecret}}" {
		t.Errorf("ORIGIN_VERIFY_SECRET_ID = %v", env["ORIGIN_VERIFY_SECRET_ID"])
	}
	role, err := p.tpl.GetIAMRoleWithName("LoginRole")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pol := range role.Policies {
		for _, st := range statements(t, pol.PolicyDocument) {
			if slices.Contains(list(st["Resource"]), "{{Ref:OriginVerifySecret}}") && slices.Equal(list(st["Action"]), []string{"secretsmanager:GetSecretValue"}) {
				found = true
			}
		}
	}
	if !found {
		t.Error("LoginRole cannot read OriginVerifySecret (GetSecretValue on exactly it)")
	}
}

// TestAPIOriginRequestPolicy: the /api/* policy carries what the API reads
// and CloudFront-Viewer-Address, never the viewer's Host (API Gateway would
// refuse it), and every cookie and query string.
func TestAPIOriginRequestPolicy(t *testing.T) {
	p := load(t, nil)
	pol, err := p.tpl.GetCloudFrontOriginRequestPolicyWithName("ApiOriginRequestPolicy")
	if err != nil {
		t.Fatal(err)
	}
	c := pol.OriginRequestPolicyConfig
	if c.HeadersConfig.HeaderBehavior != "whitelist" {
		t.Fatalf("HeaderBehavior = %s, want whitelist (allViewer* would forward Host)", c.HeadersConfig.HeaderBehavior)
	}
	for _, h := range []string{"CloudFront-Viewer-Address", "Origin", "Content-Type", "Access-Control-Request-Method"} {
		if !slices.Contains(c.HeadersConfig.Headers, h) {
			t.Errorf("headers %v lack %s", c.HeadersConfig.Headers, h)
		}
	}
	for _, h := range c.HeadersConfig.Headers {
		if strings.EqualFold(h, "Host") || strings.EqualFold(h, "X-Cfgate-Origin-Verify") {
			t.Errorf("viewer header %s forwarded", h)
		}
	}
	if c.CookiesConfig.CookieBehavior != "all" || c.QueryStringsConfig.QueryStringBehavior != "all" {
		t.Errorf("cookies %s, query %s; want all, all", c.CookiesConfig.CookieBehavior, c.QueryStringsConfig.QueryStringBehavior)
	}
}

// TestMediaHeaders: /courses/* answers carry nosniff and a CSP under which
// nothing runs.
func TestMediaHeaders(t *testing.T) {
	for _, params := range []map[string]string{nil, {"PlayerOrigins": "https://a.example.com"}} {
		p := load(t, params)
		pol, err := p.tpl.GetCloudFrontResponseHeadersPolicyWithName("MediaHeadersPolicy")
		if err != nil {
			t.Fatal(err)
		}
		sh := pol.ResponseHeadersPolicyConfig.SecurityHeadersConfig
		if sh == nil || sh.ContentTypeOptions == nil || sh.ContentSecurityPolicy == nil {
			t.Fatalf("security headers %+v: want ContentTypeOptions and ContentSecurityPolicy", sh)
		}
		if got := sh.ContentSecurityPolicy.ContentSecurityPolicy; got != "default-src 'none'; sandbox" {
			t.Errorf("CSP = %q", got)
		}
		if !sh.ContentTypeOptions.Override || !sh.ContentSecurityPolicy.Override {
			t.Error("the media headers must override what the bucket sends")
		}
	}
}

// TestCompressOnlyWhereCachePolicyAllows: a behavior compresses only if its
// cache policy enables gzip or brotli (CachingDisabled does not).
func TestCompressOnlyWhereCachePolicyAllows(t *testing.T) {
	cfg := distribution(t, load(t, nil))
	check := func(pattern string, compress *bool, cachePolicy *string) {
		on := compress != nil && *compress
		if want := str(cachePolicy) == cachingOptimized; on != want {
			t.Errorf("%s: Compress %v with cache policy %s, want %v", pattern, on, str(cachePolicy), want)
		}
	}
	for _, cb := range cfg.CacheBehaviors {
		check(cb.PathPattern, cb.Compress, cb.CachePolicyId)
	}
	check("default", cfg.DefaultCacheBehavior.Compress, cfg.DefaultCacheBehavior.CachePolicyId)
}
