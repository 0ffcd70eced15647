package template

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/distribution/behavior"
	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/loginconfig"
	"github.com/cfgate/cfgate/internal/testutil/needs"
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
// (User-Agent: the devices of sessions list) and CloudFront-Viewer-Address,
// never the viewer's Host (API Gateway would
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
	for _, h := range []string{"CloudFront-Viewer-Address", "Origin", "Content-Type", "Access-Control-Request-Method", "User-Agent"} {
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

// TestWebACL: in us-east-1 the stack creates a CLOUDFRONT web ACL with a
// per-IP rate rule on POST /api/login and a looser one on /api/*, and
// attaches it; elsewhere it attaches WebAclArn or nothing.
func TestWebACL(t *testing.T) {
	p := load(t, nil)
	acl, err := p.tpl.GetWAFv2WebACLWithName("WebAcl")
	if err != nil {
		t.Fatal(err)
	}
	if acl.Scope != "CLOUDFRONT" || acl.AWSCloudFormationCondition != "CreateWebAclHere" {
		t.Fatalf("web ACL scope %s condition %s", acl.Scope, acl.AWSCloudFormationCondition)
	}
	limits := map[string]int{}
	for _, r := range acl.Rules {
		rb := r.Statement.RateBasedStatement
		if rb == nil || rb.AggregateKeyType != "IP" || rb.ScopeDownStatement == nil || r.Action == nil || r.Action.Block == nil {
			t.Fatalf("rule %s: want a blocking per-IP rate rule with a scope-down statement", r.Name)
		}
		sd := rb.ScopeDownStatement
		switch {
		case sd.AndStatement != nil:
			var parts []string
			for _, st := range sd.AndStatement.Statements {
				if bm := st.ByteMatchStatement; bm != nil {
					parts = append(parts, bm.PositionalConstraint+" "+str(bm.SearchString))
				}
			}
			if !slices.Equal(parts, []string{"EXACTLY /api/login", "EXACTLY POST"}) {
				t.Errorf("rule %s matches %v, want POST /api/login", r.Name, parts)
			}
			limits["login"] = rb.Limit
		case sd.ByteMatchStatement != nil:
			if got := sd.ByteMatchStatement.PositionalConstraint + " " + str(sd.ByteMatchStatement.SearchString); got != "STARTS_WITH /api/" {
				t.Errorf("rule %s matches %s, want /api/*", r.Name, got)
			}
			limits["api"] = rb.Limit
		}
	}
	if limits["login"] == 0 || limits["api"] == 0 || limits["login"] >= limits["api"] {
		t.Errorf("limits %v: want both rules, login tighter than /api/*", limits)
	}
	webACLID := func(params map[string]string) string {
		return str(distribution(t, load(t, params)).WebACLId)
	}
	if got := webACLID(nil); got != "{{GetAtt:WebAcl.Arn}}" {
		t.Errorf("us-east-1: WebACLId = %s, want the stack's web ACL", got)
	}
	if got := webACLID(map[string]string{behavior.PseudoRegion: "eu-west-1"}); got != "<nil>" {
		t.Errorf("eu-west-1 without WebAclArn: WebACLId = %s, want none", got)
	}
	if got := webACLID(map[string]string{"CreateWebAcl": "false"}); got != "<nil>" {
		t.Errorf("CreateWebAcl=false: WebACLId = %s, want none", got)
	}
	const arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/shared/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	if got := webACLID(map[string]string{behavior.PseudoRegion: "eu-west-1", "WebAclArn": arn}); got != arn {
		t.Errorf("eu-west-1 with WebAclArn: WebACLId = %s, want it", got)
	}
	if !regexp.MustCompile(paramPattern(t, p, "WebAclArn")).MatchString(arn) ||
		regexp.MustCompile(paramPattern(t, p, "WebAclArn")).MatchString(strings.Replace(arn, "us-east-1", "eu-west-1", 1)) {
		t.Error("WebAclArn's pattern must accept a CLOUDFRONT (us-east-1 global) ACL and refuse a regional one")
	}
}

// TestLoginRouteThrottling: POST /api/login is a route of its own with its
// own throttling, apart from the default route settings.
func TestLoginRouteThrottling(t *testing.T) {
	p := load(t, nil)
	rs, _ := p.props(t, "HttpApi")["RouteSettings"].(map[string]any)
	login, _ := rs["POST /api/login"].(map[string]any)
	if login["ThrottlingBurstLimit"] == nil || login["ThrottlingRateLimit"] == nil {
		t.Fatalf("RouteSettings %v: want throttling for POST /api/login", rs)
	}
	events, _ := p.props(t, "LoginFunction")["Events"].(map[string]any)
	found := false
	for _, e := range events {
		props, _ := e.(map[string]any)["Properties"].(map[string]any)
		if props["Path"] == "/api/login" && props["Method"] == "POST" {
			found = true
		}
	}
	if !found {
		t.Error("no POST /api/login route: RouteSettings would throttle nothing")
	}
}

// supportedRegions is the Rules section's list.
func supportedRegions(t *testing.T, p parsed) []string {
	t.Helper()
	rule, _ := p.doc["Rules"].(map[string]any)["SupportedRegion"].(map[string]any)
	asserts, _ := rule["Assertions"].([]any)
	if len(asserts) != 1 {
		t.Fatalf("SupportedRegion rule: %v", rule)
	}
	// Resolved, Fn::Contains [regions, Ref AWS::Region] reads as its arguments.
	contains, _ := asserts[0].(map[string]any)["Assert"].([]any)
	if len(contains) != 2 || contains[1] != "{{Ref:AWS::Region}}" {
		t.Fatalf("SupportedRegion assert: %v, want Fn::Contains [regions, Ref AWS::Region]", contains)
	}
	return list(contains[0])
}

// TestSupportedRegions: the Rules section refuses regions outside the list,
// the Deploy section names every listed region, and cfn-lint passes over
// each of them.
func TestSupportedRegions(t *testing.T) {
	regions := supportedRegions(t, load(t, nil))
	if len(regions) < 10 || !slices.Contains(regions, "us-east-1") {
		t.Fatalf("regions %v", regions)
	}
	for _, r := range regions {
		if !regexp.MustCompile(`^(us|ca|sa|eu|ap)-[a-z]+-[0-9]$`).MatchString(r) {
			t.Errorf("region %q is not one of the aws partition's", r)
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "`"+strings.Join(regions, "`, `")+"`") {
		t.Errorf("docs/deploy.md does not list the supported regions as `%s`", strings.Join(regions, "`, `"))
	}
	needs.Tool(t, "cfn-lint")
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Fatalf("cfn-lint is required: %v", err)
	}
	cmd := exec.Command("cfn-lint", append(append([]string{"--regions"}, regions...), "--", "template.yaml")...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cfn-lint --regions %v: %v\n%s", regions, err, out)
	}
}

func paramPattern(t *testing.T, p parsed, name string) string {
	t.Helper()
	pat, _ := p.doc["Parameters"].(map[string]any)[name].(map[string]any)["AllowedPattern"].(string)
	if pat == "" {
		t.Fatalf("parameter %s has no AllowedPattern", name)
	}
	return pat
}

// TestParameterPatternsMatchCode: what a duration parameter's pattern
// accepts, the function accepts (no 0m that passes CloudFormation and stops
// the function at init), and the secret ARN pattern wants the full ARN.
func TestParameterPatternsMatchCode(t *testing.T) {
	p := load(t, nil)
	for param, envVar := range map[string]string{"CookieTtl": "COOKIE_TTL", "SessionTtl": "SESSION_TTL", "DownloadLinkTtl": "DOWNLOAD_LINK_TTL", "RotationGracePeriod": "GRACE_PERIOD"} {
		re := regexp.MustCompile(paramPattern(t, p, param))
		for _, v := range []string{"0m", "0s", "00h", "-5m", "5", "1.5h", "10m30s", "", "9999999h"} {
			if re.MatchString(v) {
				t.Errorf("%s pattern accepts %q", param, v)
			}
		}
		for _, v := range []string{"1s", "10m", "35m", "12h", "999999h"} {
			if !re.MatchString(v) {
				t.Errorf("%s pattern refuses %q", param, v)
				continue
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Errorf("%s=%q passes the pattern but %s would refuse it (%v)", param, v, envVar, err)
			}
		}
	}
	re := regexp.MustCompile(paramPattern(t, p, "SigningKeySecretArn"))
	full := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cfgate/signing-key-AbC123"
	partial := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cfgate/signing-key"
	if !re.MatchString(full) || re.MatchString(partial) {
		t.Errorf("SigningKeySecretArn pattern: full %v (want true), partial %v (want false)", re.MatchString(full), re.MatchString(partial))
	}
}

// TestNamesFitAnyStackName: names with length limits never grow with the
// stack name (up to 128 characters): they are a fixed prefix and the stack
// id's UUID.
func TestNamesFitAnyStackName(t *testing.T) {
	p := load(t, nil)
	for _, tc := range []struct {
		resource, path string
		limit          int
	}{
		{"OriginAccessControl", "OriginAccessControlConfig.Name", 64},
		{"ApiOriginRequestPolicy", "OriginRequestPolicyConfig.Name", 128},
		{"ApiOriginRequestPolicy", "OriginRequestPolicyConfig.Comment", 128},
		{"MediaHeadersPolicy", "ResponseHeadersPolicyConfig.Name", 128},
		{"MediaHeadersPolicy", "ResponseHeadersPolicyConfig.Comment", 128},
		{"WebAcl", "Name", 128},
		{"Distribution", "DistributionConfig.Comment", 128},
	} {
		var v any = p.props(t, tc.resource)
		for _, k := range strings.Split(tc.path, ".") {
			v = v.(map[string]any)[k]
		}
		raw := jsonString(v)
		// A 128-character stack name, a 36-character UUID.
		n := len(strings.NewReplacer(`"`, "", "{{Ref:AWS::StackName}}", strings.Repeat("s", 128), "${AWS::StackName}", strings.Repeat("s", 128)).Replace(raw))
		if strings.Contains(raw, "Fn::Join") || strings.Contains(raw, "Fn::Select") {
			n = uuidJoinLength(t, v)
		}
		if n > tc.limit {
			t.Errorf("%s %s = %s: %d characters with a 128-character stack name, limit %d", tc.resource, tc.path, raw, n, tc.limit)
		}
	}
}

// uuidJoinLength is the length of Fn::Join [sep, [literal, Fn::Select [2,
// Fn::Split ["/", AWS::StackId]]]]: the literal, the separator and a UUID.
func uuidJoinLength(t *testing.T, v any) int {
	t.Helper()
	j, _ := v.(map[string]any)["Fn::Join"].([]any)
	if len(j) != 2 {
		t.Fatalf("unexpected name expression %s", jsonString(v))
	}
	sep, _ := j[0].(string)
	parts, _ := j[1].([]any)
	n := 0
	for i, part := range parts {
		if i > 0 {
			n += len(sep)
		}
		switch part := part.(type) {
		case string:
			n += len(part)
		default:
			if !strings.Contains(jsonString(part), "AWS::StackId") {
				t.Fatalf("name part %s is neither a literal nor the stack id's UUID", jsonString(part))
			}
			n += 36
		}
	}
	return n
}

// TestDefaultsMatchGoConstants ties the template's defaults to the Go
// constants that hold them (one home per default): a change on one side
// without the other fails here.
func TestDefaultsMatchGoConstants(t *testing.T) {
	p := load(t, nil)
	param := func(name string) string {
		v, _ := p.doc["Parameters"].(map[string]any)[name].(map[string]any)["Default"].(string)
		return v
	}
	login := p.props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)
	rot := load(t, map[string]string{"EnableScheduledRotation": "true"}).props(t, "RotateFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)
	dur := func(what, v string) time.Duration {
		t.Helper()
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s = %q: %v", what, v, err)
		}
		return d
	}
	for _, tc := range []struct {
		what string
		got  time.Duration
		want time.Duration
	}{
		{"CookieTtl default", dur("CookieTtl", param("CookieTtl")), cfsign.DefaultLifetime},
		{"COOKIE_BUCKET", dur("COOKIE_BUCKET", login["COOKIE_BUCKET"].(string)), cfsign.DefaultBucket},
		{"KEY_CACHE_TTL", dur("KEY_CACHE_TTL", login["KEY_CACHE_TTL"].(string)), keysource.DefaultTTL},
		{"RotationGracePeriod default", dur("RotationGracePeriod", param("RotationGracePeriod")), keyops.DefaultGrace().Total()},
		{"RotationPropagationWait default", dur("RotationPropagationWait", param("RotationPropagationWait")), keyops.DefaultPropagation},
		{"SessionTtl default", dur("SessionTtl", param("SessionTtl")), api.DefaultSessionTTL},
		{"DownloadLinkTtl default", dur("DownloadLinkTtl", param("DownloadLinkTtl")), api.DefaultDownloadLinkTTL},
		{"PlaybackTtl default", dur("PlaybackTtl", param("PlaybackTtl")), api.DefaultPlaybackTTL},
		{"LOCKOUT_WINDOW", dur("LOCKOUT_WINDOW", login["LOCKOUT_WINDOW"].(string)), api.DefaultLockoutWindow},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %s, Go default %s", tc.what, tc.got, tc.want)
		}
	}
	if login["LOCKOUT_THRESHOLD"] != strconv.Itoa(api.DefaultLockoutThreshold) || login["LOCKOUT_ACCOUNT_THRESHOLD"] != strconv.Itoa(api.DefaultLockoutAccountThreshold) {
		t.Errorf("LOCKOUT_THRESHOLD %v, LOCKOUT_ACCOUNT_THRESHOLD %v; Go defaults %d, %d", login["LOCKOUT_THRESHOLD"], login["LOCKOUT_ACCOUNT_THRESHOLD"], api.DefaultLockoutThreshold, api.DefaultLockoutAccountThreshold)
	}
	// MaxSessions: the parameter's default is the Go default, it reaches
	// MAX_SESSIONS, and its pattern accepts exactly what the function does.
	if got := param("MaxSessions"); got != strconv.Itoa(api.DefaultMaxSessions) {
		t.Errorf("MaxSessions default %q, Go default %d", got, api.DefaultMaxSessions)
	}
	if got := load(t, map[string]string{"MaxSessions": "7"}).props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)["MAX_SESSIONS"]; got != "7" {
		t.Errorf("LoginFunction MAX_SESSIONS = %v with MaxSessions 7, want the parameter", got)
	}
	if got := load(t, map[string]string{"DownloadLinkTtl": "90s"}).props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)["DOWNLOAD_LINK_TTL"]; got != "90s" {
		t.Errorf("LoginFunction DOWNLOAD_LINK_TTL = %v with DownloadLinkTtl 90s, want the parameter", got)
	}
	if got := load(t, map[string]string{"PlaybackTtl": "90m"}).props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)["PLAYBACK_TTL"]; got != "90m" {
		t.Errorf("LoginFunction PLAYBACK_TTL = %v with PlaybackTtl 90m, want the parameter", got)
	}
	// PLAYBACK_TTL must be at least 1m: the pattern takes minutes and hours only.
	re := regexp.MustCompile(paramPattern(t, load(t, nil), "PlaybackTtl"))
	for v, ok := range map[string]bool{"1m": true, "4h": true, "999999h": true, "30s": false, "0m": false, "4": false, "1h30m": false} {
		if re.MatchString(v) != ok {
			t.Errorf("PlaybackTtl pattern on %q: %v, want %v", v, !ok, ok)
		}
	}
	if got := login["MEDIA_BUCKET"]; got != "{{Ref:MediaBucket}}" {
		t.Errorf("LoginFunction MEDIA_BUCKET = %v, want the media bucket", got)
	}
	pattern, _ := p.doc["Parameters"].(map[string]any)["MaxSessions"].(map[string]any)["AllowedPattern"].(string)
	re, err := regexp.Compile(pattern)
	if err != nil || pattern == "" {
		t.Fatalf("MaxSessions AllowedPattern %q: %v", pattern, err)
	}
	accepts := func(v string) bool {
		env := map[string]string{
			"TABLE_NAME": "t", "SIGNING_KEY_SECRET_ID": "s", "ORIGIN_VERIFY_SECRET_ID": "o", "KEY_GROUP_ID": "k",
			"DISTRIBUTION_DOMAIN": "d111111abcdef8.cloudfront.net", "MAX_SESSIONS": v,
		}
		_, err := loginconfig.FromEnv(func(k string) string { return env[k] })
		return err == nil
	}
	// Every whole number: the same verdict from both.
	for n := -2; n <= 1001; n++ {
		v := strconv.Itoa(n)
		if accepts(v) != re.MatchString(v) {
			t.Errorf("MAX_SESSIONS=%s: the function accepts it: %v, the parameter's pattern: %v", v, accepts(v), re.MatchString(v))
		}
	}
	// Other spellings: the pattern may be stricter, never looser.
	for _, v := range []string{"03", "+3", " 3", "3 ", "3.0", "0x3", "", "x"} {
		if re.MatchString(v) && !accepts(v) {
			t.Errorf("MAX_SESSIONS=%q passes the parameter's pattern but the function refuses it", v)
		}
	}
	// The rotation function sees the login function's settings, so its grace
	// (recorded at promote, waited for by finish) covers the deployed
	// cookies, playback URLs and download links.
	for _, k := range []string{"COOKIE_TTL", "COOKIE_BUCKET", "KEY_CACHE_TTL", "PLAYBACK_TTL", "DOWNLOAD_LINK_TTL"} {
		if !jsonEqual(rot[k], login[k]) {
			t.Errorf("RotateFunction %s = %v, LoginFunction's = %v", k, rot[k], login[k])
		}
	}
	// Each parameter reaches both functions, and the rotation function's
	// grace follows it: a longer playback URL or download link lengthens it.
	for _, tc := range []struct{ param, env, value string }{
		{"PlaybackTtl", "PLAYBACK_TTL", "9h"},
		{"DownloadLinkTtl", "DOWNLOAD_LINK_TTL", "12h"},
		{"CookieTtl", "COOKIE_TTL", "7h"},
	} {
		q := load(t, map[string]string{"EnableScheduledRotation": "true", tc.param: tc.value})
		env := map[string]string{}
		for k, v := range q.props(t, "RotateFunction")["Environment"].(map[string]any)["Variables"].(map[string]any) {
			s, _ := v.(string)
			env[k] = s
		}
		lv := q.props(t, "LoginFunction")["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env[tc.env] != tc.value || lv[tc.env] != tc.value {
			t.Errorf("%s %s: RotateFunction %s = %q, LoginFunction's = %v, want the parameter", tc.param, tc.value, tc.env, env[tc.env], lv[tc.env])
			continue
		}
		cfg, err := keyops.RotationConfigFromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("%s %s: the rotation function refuses the template's environment: %v", tc.param, tc.value, err)
			continue
		}
		if d, _ := time.ParseDuration(tc.value); cfg.Grace <= d || cfg.Grace <= keyops.DefaultGrace().Total() {
			t.Errorf("%s %s: rotation grace %s, want more than %s and than the default grace", tc.param, tc.value, cfg.Grace, d)
		}
	}
	if login["COOKIE_TTL"] != "{{Ref:CookieTtl}}" && login["COOKIE_TTL"] != param("CookieTtl") {
		t.Errorf("LoginFunction COOKIE_TTL = %v, want the CookieTtl parameter", login["COOKIE_TTL"])
	}
}
