// Package template tests that template.yaml declares the system described in
// distribution/README.md:
// the behaviors and their order, the signed behavior's key group and
// cookie-free cache key, cookie forwarding on /api/*, a bucket readable only by
// this distribution, IAM limited to named resources, and the functions' build
// settings. It reads the template with goformation (after resolving
// intrinsics with distribution/behavior.Resolve) and runs cfn-lint on it.
package template

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/cfgate/cfgate/distribution/behavior"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

const (
	templatePath = "../../template.yaml"
	repoRoot     = "../.."

	cachingDisabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
	cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	securityHeaders  = "67f7725c-6f97-4210-82d7-5512b31e9d03"
)

// parsed is the template with intrinsics resolved for one set of parameters:
// typed (goformation) and generic (for properties goformation lacks).
type parsed struct {
	tpl *cloudformation.Template
	doc map[string]any
}

// goformation's schema lags CloudFormation's and it rejects unknown
// properties; these are removed before typed decoding and asserted from the
// generic document instead.
var newerThanGoformation = map[string][]string{
	"AWS::Serverless::Function": {"LoggingConfig"},
	// goformation types RouteSettings as one route's settings; SAM's is a map
	// from route key ("POST /api/login") to settings.
	"AWS::Serverless::HttpApi": {"RouteSettings"},
}

func load(t *testing.T, params map[string]string) parsed {
	t.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := behavior.Resolve(data, params)
	if err != nil {
		t.Fatal(err)
	}
	var doc, typed map[string]any
	if err := json.Unmarshal(resolved, &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(resolved, &typed); err != nil {
		t.Fatal(err)
	}
	for _, r := range typed["Resources"].(map[string]any) {
		r := r.(map[string]any)
		props, _ := r["Properties"].(map[string]any)
		for _, p := range newerThanGoformation[r["Type"].(string)] {
			delete(props, p)
		}
	}
	b, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	return parsed{tpl: tpl, doc: doc}
}

func (p parsed) props(t *testing.T, name string) map[string]any {
	t.Helper()
	r, ok := p.doc["Resources"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	props, _ := r["Properties"].(map[string]any)
	return props
}

func (p parsed) resourceType(name string) string {
	r, ok := p.tpl.Resources[name]
	if !ok {
		return ""
	}
	return r.AWSCloudFormationType()
}

func distribution(t *testing.T, p parsed) *cloudfront.Distribution_DistributionConfig {
	t.Helper()
	d, err := p.tpl.GetCloudFrontDistributionWithName("Distribution")
	if err != nil {
		t.Fatal(err)
	}
	return d.DistributionConfig
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestBehaviorOrder(t *testing.T) {
	cfg := distribution(t, load(t, nil))
	var got []string
	for _, cb := range cfg.CacheBehaviors {
		got = append(got, cb.PathPattern+"→"+cb.TargetOriginId)
	}
	got = append(got, "default→"+cfg.DefaultCacheBehavior.TargetOriginId)
	want := []string{"/api/*→api", "/courses/*→media", "default→site"}
	if !slices.Equal(got, want) {
		t.Errorf("behaviors = %v, want %v", got, want)
	}
	origins := map[string]cloudfront.Distribution_Origin{}
	for _, o := range cfg.Origins {
		origins[o.Id] = o
	}
	if o := origins["site"]; str(o.OriginPath) != "/site" {
		t.Errorf("site origin path = %s, want /site", str(o.OriginPath))
	}
	if o := origins["media"]; o.OriginPath != nil && *o.OriginPath != "" {
		t.Errorf("media origin path = %s, want none (keys are courses/<id>/…)", *o.OriginPath)
	}
	if got := str(cfg.HttpVersion); got != "http2and3" {
		t.Errorf("HttpVersion = %s", got)
	}
	policies := []string{cfg.DefaultCacheBehavior.ViewerProtocolPolicy}
	for _, cb := range cfg.CacheBehaviors {
		policies = append(policies, cb.ViewerProtocolPolicy)
	}
	for i, vp := range policies {
		if vp != "redirect-to-https" {
			t.Errorf("behavior %d ViewerProtocolPolicy = %s, want redirect-to-https", i, vp)
		}
	}
}

func TestSignedBehavior(t *testing.T) {
	cfg := distribution(t, load(t, nil))
	cb := cfg.CacheBehaviors[1]
	if cb.PathPattern != "/courses/*" {
		t.Fatalf("second behavior is %s", cb.PathPattern)
	}
	if want := []string{"{{Ref:KeyGroupId}}"}; !slices.Equal(cb.TrustedKeyGroups, want) {
		t.Errorf("TrustedKeyGroups = %v, want %v (the KeyGroupId parameter)", cb.TrustedKeyGroups, want)
	}
	if got := str(cb.CachePolicyId); got != cachingOptimized {
		t.Errorf("CachePolicyId = %s, want managed CachingOptimized (no cookies, no query strings in the key)", got)
	}
	if cb.OriginRequestPolicyId != nil || cb.ForwardedValues != nil {
		t.Error("/courses/* forwards something to S3 (OriginRequestPolicyId or legacy ForwardedValues): cookies must never reach S3")
	}
	if want := []string{"GET", "HEAD", "OPTIONS"}; !slices.Equal(cb.AllowedMethods, want) {
		t.Errorf("AllowedMethods = %v, want %v", cb.AllowedMethods, want)
	}
	if got := str(cb.ResponseHeadersPolicyId); got != "{{Ref:MediaHeadersPolicy}}" {
		t.Errorf("ResponseHeadersPolicyId = %s, want the MediaHeadersPolicy", got)
	}
	if pol, err := load(t, nil).tpl.GetCloudFrontResponseHeadersPolicyWithName("MediaHeadersPolicy"); err != nil || pol.ResponseHeadersPolicyConfig.CorsConfig != nil {
		t.Errorf("MediaHeadersPolicy without PlayerOrigins: %v, CORS %+v; want no CORS", err, pol)
	}
	if len(cb.TrustedSigners) != 0 {
		t.Error("legacy TrustedSigners used")
	}

	def := cfg.DefaultCacheBehavior
	if len(def.TrustedKeyGroups) != 0 || str(def.CachePolicyId) != cachingOptimized || def.OriginRequestPolicyId != nil || def.ForwardedValues != nil {
		t.Errorf("default behavior: want unsigned, CachingOptimized, nothing forwarded; got %+v", def)
	}
	if got := str(def.ResponseHeadersPolicyId); got != securityHeaders {
		t.Errorf("default behavior ResponseHeadersPolicyId = %s, want managed SecurityHeadersPolicy (no framing of the login page)", got)
	}

	t.Run("CORS with player origins", func(t *testing.T) {
		p := load(t, map[string]string{"PlayerOrigins": "https://a.example.com,https://b.example.com"})
		cb := distribution(t, p).CacheBehaviors[1]
		if got := str(cb.ResponseHeadersPolicyId); got != "{{Ref:MediaHeadersPolicy}}" {
			t.Fatalf("ResponseHeadersPolicyId = %s, want the MediaHeadersPolicy", got)
		}
		pol, err := p.tpl.GetCloudFrontResponseHeadersPolicyWithName("MediaHeadersPolicy")
		if err != nil {
			t.Fatal(err)
		}
		cors := pol.ResponseHeadersPolicyConfig.CorsConfig
		if cors == nil || !cors.AccessControlAllowCredentials {
			t.Fatal("CORS policy must allow credentials (the cookies)")
		}
		if got, want := cors.AccessControlAllowOrigins.Items, []string{"https://a.example.com", "https://b.example.com"}; !slices.Equal(got, want) {
			t.Errorf("origins = %v, want %v", got, want)
		}
	})
}

func TestAPIBehavior(t *testing.T) {
	p := load(t, nil)
	cfg := distribution(t, p)
	cb := cfg.CacheBehaviors[0]
	if got := str(cb.CachePolicyId); got != cachingDisabled {
		t.Errorf("CachePolicyId = %s, want managed CachingDisabled", got)
	}
	if got := str(cb.OriginRequestPolicyId); got != "{{Ref:ApiOriginRequestPolicy}}" {
		t.Errorf("OriginRequestPolicyId = %s, want the template's ApiOriginRequestPolicy (see TestAPIOriginRequestPolicy)", got)
	}
	for _, m := range []string{"GET", "POST", "OPTIONS", "DELETE"} {
		if !slices.Contains(cb.AllowedMethods, m) {
			t.Errorf("AllowedMethods lacks %s", m)
		}
	}
	for _, o := range cfg.Origins {
		if o.Id != "api" {
			continue
		}
		if o.CustomOriginConfig == nil || o.CustomOriginConfig.OriginProtocolPolicy != "https-only" {
			t.Error("api origin: want a custom origin, https-only")
		}
		if !strings.HasPrefix(o.DomainName, "${HttpApi}.execute-api.") || p.resourceType("HttpApi") != "AWS::Serverless::HttpApi" {
			t.Errorf("api origin domain %q does not point at the HttpApi", o.DomainName)
		}
	}
	api := p.props(t, "HttpApi")
	rs, _ := api["DefaultRouteSettings"].(map[string]any)
	if rs["ThrottlingBurstLimit"] == nil || rs["ThrottlingRateLimit"] == nil {
		t.Errorf("HttpApi DefaultRouteSettings lacks throttling: %v", rs)
	}
}

func TestCustomDomainAndLogs(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg := distribution(t, load(t, nil))
		if len(cfg.Aliases) != 0 || cfg.ViewerCertificate == nil || cfg.ViewerCertificate.CloudFrontDefaultCertificate == nil || !*cfg.ViewerCertificate.CloudFrontDefaultCertificate {
			t.Errorf("without DomainName: want no alias and the default certificate, got %v %+v", cfg.Aliases, cfg.ViewerCertificate)
		}
		if cfg.Logging != nil {
			t.Error("access logs on by default")
		}
	})
	t.Run("alternate domain", func(t *testing.T) {
		p := load(t, map[string]string{
			"DomainName": "video.example.com", "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
			"EnableAccessLogs": "true",
		})
		cfg := distribution(t, p)
		vc := cfg.ViewerCertificate
		if !slices.Equal(cfg.Aliases, []string{"video.example.com"}) || vc == nil ||
			str(vc.AcmCertificateArn) != "arn:aws:acm:us-east-1:123456789012:certificate/abc" ||
			str(vc.MinimumProtocolVersion) != "TLSv1.2_2025" || str(vc.SslSupportMethod) != "sni-only" {
			t.Errorf("aliases %v certificate %+v", cfg.Aliases, vc)
		}
		if cfg.Logging == nil || cfg.Logging.IncludeCookies == nil || *cfg.Logging.IncludeCookies {
			t.Errorf("logging %+v: want on, cookies excluded", cfg.Logging)
		}
		// Logs keep arriving while the distribution is deleted: a Delete policy
		// would fail the stack's deletion on a non-empty bucket.
		logs, err := p.tpl.GetS3BucketWithName("AccessLogsBucket")
		if err != nil {
			t.Fatal(err)
		}
		if dp := logs.AWSCloudFormationDeletionPolicy; dp != "Retain" {
			t.Errorf("AccessLogsBucket DeletionPolicy = %q, want Retain (docs/deploy.md, Teardown, deletes it after sam delete)", dp)
		}
	})
}

func TestBucketPrivateToThisDistribution(t *testing.T) {
	p := load(t, nil)
	b, err := p.tpl.GetS3BucketWithName("MediaBucket")
	if err != nil {
		t.Fatal(err)
	}
	pab := b.PublicAccessBlockConfiguration
	if pab == nil || pab.BlockPublicAcls == nil || !*pab.BlockPublicAcls || pab.BlockPublicPolicy == nil || !*pab.BlockPublicPolicy ||
		pab.IgnorePublicAcls == nil || !*pab.IgnorePublicAcls || pab.RestrictPublicBuckets == nil || !*pab.RestrictPublicBuckets {
		t.Errorf("public access block incomplete: %+v", pab)
	}
	if b.BucketEncryption == nil || len(b.BucketEncryption.ServerSideEncryptionConfiguration) == 0 {
		t.Error("no default encryption")
	}
	if b.WebsiteConfiguration != nil || b.AccessControl != nil {
		t.Error("website hosting or canned ACL on the media bucket")
	}

	bp, err := p.tpl.GetS3BucketPolicyWithName("MediaBucketPolicy")
	if err != nil {
		t.Fatal(err)
	}
	if bp.Bucket != "{{Ref:MediaBucket}}" {
		t.Errorf("policy on %s", bp.Bucket)
	}
	var allows, tlsDeny int
	for _, st := range statements(t, bp.PolicyDocument) {
		switch st["Effect"] {
		case "Allow":
			allows++
			if want := map[string]any{"Service": "cloudfront.amazonaws.com"}; !jsonEqual(st["Principal"], want) {
				t.Errorf("Allow principal %v, want %v", st["Principal"], want)
			}
			if !jsonEqual(st["Action"], "s3:GetObject") {
				t.Errorf("Allow action %v, want s3:GetObject only", st["Action"])
			}
			want := map[string]any{"StringEquals": map[string]any{
				"AWS:SourceArn": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}}
			if !jsonEqual(st["Condition"], want) {
				t.Errorf("Allow condition %v, want SourceArn = this distribution", st["Condition"])
			}
			for _, r := range list(st["Resource"]) {
				if !strings.HasPrefix(r, "${MediaBucket.Arn}/") {
					t.Errorf("Allow resource %s outside the media bucket", r)
				}
				// The distribution serves the player and the courses only,
				// never the manifests the login function reads.
				if r != "${MediaBucket.Arn}/site/*" && r != "${MediaBucket.Arn}/courses/*" {
					t.Errorf("Allow resource %s: CloudFront may read site/* and courses/* only", r)
				}
			}
		case "Deny":
			cond, _ := json.Marshal(st["Condition"])
			if string(cond) == `{"Bool":{"aws:SecureTransport":"false"}}` && jsonEqual(st["Principal"], "*") &&
				slices.Contains(list(st["Resource"]), "{{GetAtt:MediaBucket.Arn}}") && slices.Contains(list(st["Resource"]), "${MediaBucket.Arn}/*") {
				tlsDeny++
			}
		}
	}
	if allows != 1 || tlsDeny != 1 {
		t.Errorf("bucket policy: %d Allow (want 1, CloudFront only), %d TLS-only Deny (want 1)", allows, tlsDeny)
	}

	oac, err := p.tpl.GetCloudFrontOriginAccessControlWithName("OriginAccessControl")
	if err != nil {
		t.Fatal(err)
	}
	c := oac.OriginAccessControlConfig
	if c.OriginAccessControlOriginType != "s3" || c.SigningBehavior != "always" || c.SigningProtocol != "sigv4" {
		t.Errorf("OAC %+v", c)
	}
	for _, o := range distribution(t, p).Origins {
		if o.Id == "api" {
			continue
		}
		if str(o.OriginAccessControlId) != "{{GetAtt:OriginAccessControl.Id}}" || o.DomainName != "{{GetAtt:MediaBucket.RegionalDomainName}}" {
			t.Errorf("origin %s: OAC %s domain %s", o.Id, str(o.OriginAccessControlId), o.DomainName)
		}
	}
}

// cloudFrontKeyActions may have Resource "*": IAM accepts nothing narrower.
var cloudFrontKeyActions = []string{ // no resource-level permissions in CloudFront
	"cloudfront:GetKeyGroup", "cloudfront:UpdateKeyGroup", "cloudfront:CreatePublicKey",
	"cloudfront:GetPublicKey", "cloudfront:DeletePublicKey", "cloudfront:ListPublicKeys",
}

func TestIAMNamesSpecificResources(t *testing.T) {
	p := load(t, map[string]string{"EnableScheduledRotation": "true"})
	logGroups := map[string]bool{}
	for name, r := range p.tpl.Resources {
		if r.AWSCloudFormationType() == "AWS::Logs::LogGroup" {
			logGroups[name] = true
		}
	}
	roles := p.tpl.GetAllIAMRoleResources()
	if len(roles) < 2 {
		t.Fatalf("want the login and rotate roles, got %d", len(roles))
	}
	for name, r := range p.tpl.Resources {
		switch r.AWSCloudFormationType() {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::Group":
			t.Errorf("%s: %s not expected (policies live in the roles)", name, r.AWSCloudFormationType())
		}
	}
	for name, fn := range p.tpl.GetAllServerlessFunctionResources() {
		if fn.Policies != nil || fn.Role == nil {
			t.Errorf("function %s: want an explicit Role and no SAM Policies (SAM adds AWSLambdaBasicExecutionRole, Resource *)", name)
		}
	}
	for name, role := range roles {
		if len(role.ManagedPolicyArns) != 0 {
			t.Errorf("role %s has managed policies %v", name, role.ManagedPolicyArns)
		}
		for _, pol := range role.Policies {
			for _, st := range statements(t, pol.PolicyDocument) {
				sid, _ := st["Sid"].(string)
				if st["NotResource"] != nil || st["NotAction"] != nil {
					t.Errorf("%s/%s: NotResource/NotAction", name, sid)
				}
				resources := list(st["Resource"])
				if len(resources) == 0 {
					t.Errorf("%s/%s: no Resource", name, sid)
				}
				for _, res := range resources {
					if !strings.Contains(res, "*") {
						continue
					}
					switch {
					case strings.Contains(sid, "Kms") && kmsScoped(st, res):
						// KMS keys are made at run time: scoped by the key group tag.
					case sid == "WriteOwnLogs" && isOwnLogStreams(res, logGroups):
						// Stream names are chosen by Lambda at run time.
					case sid == "CloudFrontKeyGroupNoResourceLevel" && res == "*" && name == "RotateRole":
						for _, a := range list(st["Action"]) {
							if !slices.Contains(cloudFrontKeyActions, a) {
								t.Errorf("%s/%s: action %s with Resource * (only CloudFront key actions may)", name, sid, a)
							}
						}
					case sid == "ReadCourseManifests" && name == "LoginRole" && res == "${MediaBucket.Arn}/manifests/*.json":
						// The course manifests publish writes: read only.
						if a := list(st["Action"]); !slices.Equal(a, []string{"s3:GetObject"}) {
							t.Errorf("%s/%s: actions %v, want only s3:GetObject", name, sid, a)
						}
					case sid == "CloudFrontKeyGroupNoResourceLevel" && res == "*" && name == "LoginRole":
						// The cold-start key-group check and the playlist
						// route's trusted keys: two read actions only.
						if a := list(st["Action"]); !slices.Equal(a, []string{"cloudfront:GetKeyGroup", "cloudfront:GetPublicKey"}) {
							t.Errorf("%s/%s: actions %v with Resource *, want only cloudfront:GetKeyGroup and cloudfront:GetPublicKey", name, sid, a)
						}
					case sid == "ReadPlaylists" && name == "LoginRole" && res == "${MediaBucket.Arn}/courses/*.m3u8":
						// Playlists only (the playlist route), never segments.
						if a := list(st["Action"]); !slices.Equal(a, []string{"s3:GetObject"}) {
							t.Errorf("%s/%s: actions %v, want only s3:GetObject", name, sid, a)
						}
					default:
						t.Errorf("%s/%s: wildcard resource %q", name, sid, res)
					}
				}
			}
		}
	}

	// The login function's grants, exactly.
	want := map[string][]string{
		"SignWithKmsSigningKey":             {"arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"},
		"WriteOwnLogs":                      {"arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LoginLogGroup}:log-stream:*"},
		"Table":                             {"{{GetAtt:Table.Arn}}"},
		"SigningKey":                        {"{{Ref:SigningKeySecretArn}}"},
		"OriginVerifySecret":                {"{{Ref:OriginVerifySecret}}"},
		"CloudFrontKeyGroupNoResourceLevel": {"*"},
		"ReadPlaylists":                     {"${MediaBucket.Arn}/courses/*.m3u8"},
		"DistributionDomain":                {"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/distribution-domain"},
		"ReadCourseManifests":               {"${MediaBucket.Arn}/manifests/*.json"},
	}
	got := map[string][]string{}
	for _, pol := range roles["LoginRole"].Policies {
		for _, st := range statements(t, pol.PolicyDocument) {
			got[st["Sid"].(string)] = list(st["Resource"])
		}
	}
	if !jsonEqual(got, want) {
		t.Errorf("login role resources:\n got %v\nwant %v", got, want)
	}
	// The table actions are exactly the calls internal/store/dynamo makes on the
	// login path (GetUser, GetSession, CreateSession, DeleteSession, GetCourse,
	// GetGrant, ListGrants, ListCourses, RecordFailure, ResetFailures, and
	// GetUserGrant's BatchGetItem): no ConditionCheckItem, no
	// TransactWriteItems (only the admin CLI's PutCourse uses it), no Scan or
	// batch writes.
	wantTable := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
	for _, pol := range roles["LoginRole"].Policies {
		for _, st := range statements(t, pol.PolicyDocument) {
			if st["Sid"] == "Table" && !slices.Equal(list(st["Action"]), wantTable) {
				t.Errorf("login role table actions = %v, want %v", list(st["Action"]), wantTable)
			}
		}
	}
	// The SSM statement names the parameter the template creates.
	ssm := p.props(t, "DistributionDomainParameter")
	if name := ssm["Name"].(string); !strings.HasSuffix(want["DistributionDomain"][0], ":parameter"+name) {
		t.Errorf("IAM names parameter %s, template creates %s", want["DistributionDomain"][0], name)
	}
}

// kmsScoped reports whether a KMS statement with a wildcard resource is
// limited to this deployment's signing keys: a condition on the key group
// tag (of the key, or of the request that creates it), or the alias prefix
// of the rotation function's keys.
func kmsScoped(st map[string]any, res string) bool {
	if res == "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/cfgate-rotation/*" {
		return true
	}
	cond, _ := st["Condition"].(map[string]any)
	eq, _ := cond["StringEquals"].(map[string]any)
	for _, k := range []string{"aws:ResourceTag/cfgate:key-group-id", "aws:RequestTag/cfgate:key-group-id"} {
		if v, ok := eq[k]; ok && fmt.Sprint(v) == "{{Ref:KeyGroupId}}" {
			return true
		}
	}
	return false
}

// TestKMSSigningPermissions: the login function may only kms:Sign a SHA-256
// digest with keys tagged with this key group; it never reads public keys or
// manages keys. The rotation function may make and retire such keys.
func TestKMSSigningPermissions(t *testing.T) {
	p := load(t, map[string]string{"EnableScheduledRotation": "true"})
	roles := p.tpl.GetAllIAMRoleResources()
	var loginKMS, rotateKMS []string
	for name, role := range roles {
		for _, pol := range role.Policies {
			for _, st := range statements(t, pol.PolicyDocument) {
				for _, a := range list(st["Action"]) {
					if !strings.HasPrefix(a, "kms:") {
						continue
					}
					switch name {
					case "LoginRole":
						loginKMS = append(loginKMS, a)
						cond, _ := st["Condition"].(map[string]any)
						eq, _ := cond["StringEquals"].(map[string]any)
						if fmt.Sprint(eq["aws:ResourceTag/cfgate:key-group-id"]) != "{{Ref:KeyGroupId}}" || fmt.Sprint(eq["kms:MessageType"]) != "DIGEST" {
							t.Errorf("login kms statement conditions = %v", cond)
						}
					case "RotateRole":
						rotateKMS = append(rotateKMS, a)
					}
				}
			}
		}
	}
	if !slices.Equal(loginKMS, []string{"kms:Sign"}) {
		t.Errorf("login role KMS actions = %v, want only kms:Sign", loginKMS)
	}
	for _, a := range []string{"kms:CreateKey", "kms:CreateAlias", "kms:DescribeKey", "kms:GetPublicKey", "kms:Sign", "kms:ScheduleKeyDeletion", "kms:TagResource"} {
		if !slices.Contains(rotateKMS, a) {
			t.Errorf("rotate role lacks %s (the KMS calls of internal/keyops)", a)
		}
	}
}

func isOwnLogStreams(res string, logGroups map[string]bool) bool {
	const prefix = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${"
	const suffix = "}:log-stream:*"
	if !strings.HasPrefix(res, prefix) || !strings.HasSuffix(res, suffix) {
		return false
	}
	return logGroups[strings.TrimSuffix(strings.TrimPrefix(res, prefix), suffix)]
}

func TestFunctions(t *testing.T) {
	p := load(t, map[string]string{"EnableScheduledRotation": "true"})
	for _, tc := range []struct{ name, codeURI string }{
		{"LoginFunction", "functions/login"},
		{"RotateFunction", "functions/rotate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn, err := p.tpl.GetServerlessFunctionWithName(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := str(fn.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime = %s", got)
			}
			if !slices.Equal(fn.Architectures, []string{"arm64"}) {
				t.Errorf("Architectures = %v", fn.Architectures)
			}
			if got := str(fn.Handler); got != "bootstrap" {
				t.Errorf("Handler = %s", got)
			}
			if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "go1.x" {
				t.Errorf("Metadata.BuildMethod = %v", got)
			}
			if fn.CodeUri == nil || str(fn.CodeUri.String) != tc.codeURI {
				t.Fatalf("CodeUri = %+v, want %s", fn.CodeUri, tc.codeURI)
			}
			// The go1.x builder runs `go build` in CodeUri: it must hold package main.
			list := exec.Command("go", "list", "-f", "{{.Name}}", "./"+tc.codeURI)
			list.Dir = repoRoot
			if out, err := list.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "main" {
				t.Errorf("%s is not a main package: %v %s", tc.codeURI, err, out)
			}
			lc, _ := p.props(t, tc.name)["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" {
				t.Errorf("LoggingConfig = %v, want LogFormat JSON", lc)
			}
			lg, ok := lc["LogGroup"].(string)
			if !ok || !strings.HasPrefix(lg, "{{Ref:") {
				t.Fatalf("LoggingConfig.LogGroup = %v, want a log group of the template", lc["LogGroup"])
			}
			group, err := p.tpl.GetLogsLogGroupWithName(strings.TrimSuffix(strings.TrimPrefix(lg, "{{Ref:"), "}}"))
			if err != nil {
				t.Fatal(err)
			}
			if group.RetentionInDays == nil || *group.RetentionInDays <= 0 {
				t.Error("log group without retention")
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		env := func(p parsed) map[string]string {
			fn, err := p.tpl.GetServerlessFunctionWithName("LoginFunction")
			if err != nil {
				t.Fatal(err)
			}
			return fn.Environment.Variables
		}
		e := env(p)
		for _, k := range []string{"TABLE_NAME", "SIGNING_KEY_SECRET_ID", "COOKIE_TTL", "PLAYER_ORIGINS", "SESSION_TTL", "COOKIE_SAMESITE"} {
			if _, ok := e[k]; !ok {
				t.Errorf("login env lacks %s", k)
			}
		}
		if e["DISTRIBUTION_DOMAIN_PARAMETER"] != "/${AWS::StackName}/distribution-domain" || e["DISTRIBUTION_DOMAIN"] != "" {
			t.Errorf("without DomainName: DISTRIBUTION_DOMAIN_PARAMETER=%q DISTRIBUTION_DOMAIN=%q", e["DISTRIBUTION_DOMAIN_PARAMETER"], e["DISTRIBUTION_DOMAIN"])
		}
		e = env(load(t, map[string]string{"DomainName": "video.example.com", "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}))
		if e["DISTRIBUTION_DOMAIN"] != "video.example.com" || e["DISTRIBUTION_DOMAIN_PARAMETER"] != "" {
			t.Errorf("with DomainName: DISTRIBUTION_DOMAIN=%q DISTRIBUTION_DOMAIN_PARAMETER=%q", e["DISTRIBUTION_DOMAIN"], e["DISTRIBUTION_DOMAIN_PARAMETER"])
		}
		rot, err := p.tpl.GetServerlessFunctionWithName("RotateFunction")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"KEY_GROUP_ID", "KEY_ALGORITHM", "GRACE_PERIOD", "PROPAGATION_WAIT"} {
			if _, ok := rot.Environment.Variables[k]; !ok {
				t.Errorf("rotate env lacks %s", k)
			}
		}
	})
	t.Run("rotation waits for propagation within one invocation", func(t *testing.T) {
		rot, err := p.tpl.GetServerlessFunctionWithName("RotateFunction")
		if err != nil {
			t.Fatal(err)
		}
		// testSecret waits for CloudFront to propagate the new key: Lambda's maximum.
		if got := rot.Timeout; got == nil || *got != 900 {
			t.Errorf("RotateFunction Timeout = %s, want 900", jsonString(got))
		}
		env := rot.Environment.Variables
		// Defaults: grace 265m = 3 × key cache TTL 5m (stale-key serving) +
		// playback URL validity 4h (the longest-lived thing signed) + expiry
		// bucket 5m + margin 5m; propagation wait 10m.
		if env["GRACE_PERIOD"] != "265m" || env["PROPAGATION_WAIT"] != "10m" {
			t.Errorf("GRACE_PERIOD=%q PROPAGATION_WAIT=%q, want 265m and 10m by default", env["GRACE_PERIOD"], env["PROPAGATION_WAIT"])
		}
		login, err := p.tpl.GetServerlessFunctionWithName("LoginFunction")
		if err != nil {
			t.Fatal(err)
		}
		le := login.Environment.Variables
		ld := func(k string) time.Duration {
			d, err := time.ParseDuration(le[k])
			if err != nil {
				t.Fatalf("login %s=%q: %v", k, le[k], err)
			}
			return d
		}
		need := 3*ld("KEY_CACHE_TTL") + max(max(ld("COOKIE_TTL"), ld("PLAYBACK_TTL"))+ld("COOKIE_BUCKET"), ld("DOWNLOAD_LINK_TTL")) + 5*time.Minute
		if grace, err := time.ParseDuration(env["GRACE_PERIOD"]); err != nil || grace < need {
			t.Errorf("GRACE_PERIOD %s (%v) < 3×KEY_CACHE_TTL + max(max(COOKIE_TTL, PLAYBACK_TTL) + COOKIE_BUCKET, DOWNLOAD_LINK_TTL) + 5m margin = %s", env["GRACE_PERIOD"], err, need)
		}
		p := load(t, map[string]string{"EnableScheduledRotation": "true", "RotationGracePeriod": "50m", "RotationPropagationWait": "3m"})
		rot, err = p.tpl.GetServerlessFunctionWithName("RotateFunction")
		if err != nil {
			t.Fatal(err)
		}
		if env := rot.Environment.Variables; env["GRACE_PERIOD"] != "50m" || env["PROPAGATION_WAIT"] != "3m" {
			t.Errorf("parameters not passed: GRACE_PERIOD=%q PROPAGATION_WAIT=%q", env["GRACE_PERIOD"], env["PROPAGATION_WAIT"])
		}

		// The wait must end well before the 900 s timeout: the parameter's pattern.
		param := p.doc["Parameters"].(map[string]any)["RotationPropagationWait"].(map[string]any)
		re, err := regexp.Compile(param["AllowedPattern"].(string))
		if err != nil {
			t.Fatal(err)
		}
		// Accepted values must be what functions/rotate accepts, and the wait
		// plus the 2 minutes internal/keyops asks for must fit the timeout.
		for _, v := range []string{"1m", "10m", "13m", "1s", "90s", "600s", "779s", "780s"} {
			if !re.MatchString(v) {
				t.Errorf("RotationPropagationWait refuses %q", v)
				continue
			}
			cfg, err := keyops.RotationConfigFromEnv(func(k string) string {
				return map[string]string{"PROPAGATION_WAIT": v}[k]
			})
			if err != nil {
				t.Errorf("RotationPropagationWait accepts %q, the rotation function does not: %v", v, err)
			} else if cfg.Propagation+2*time.Minute > 900*time.Second {
				t.Errorf("RotationPropagationWait %q + 2m exceeds the 900 s timeout", v)
			}
		}
		for _, v := range []string{"", "0m", "0s", "00m", "14m", "15m", "20m", "781s", "800s", "900s", "1h", "10", "10m30s", "-1m"} {
			if re.MatchString(v) {
				t.Errorf("RotationPropagationWait accepts %q (must be positive and fit the 900 s timeout)", v)
			}
		}
		grace := regexp.MustCompile(p.doc["Parameters"].(map[string]any)["RotationGracePeriod"].(map[string]any)["AllowedPattern"].(string))
		for v, ok := range map[string]bool{"35m": true, "1h": true, "90s": true, "0m": false, "": false, "35": false, "1h30m": false} {
			if grace.MatchString(v) != ok {
				t.Errorf("RotationGracePeriod pattern on %q: match %v, want %v", v, !ok, ok)
			}
		}
		// The defaults, as the rotation function reads them.
		cfg, err := keyops.RotationConfigFromEnv(func(k string) string { return env[k] })
		if err != nil || cfg.Grace != keyops.DefaultGrace().Total() || cfg.Propagation != 10*time.Minute {
			t.Errorf("rotation function reads the defaults as grace %v propagation %v (%v), want %s 10m", cfg.Grace, cfg.Propagation, err, keyops.DefaultGrace().Total())
		}
	})
	t.Run("rotation off by default", func(t *testing.T) {
		p := load(t, nil)
		for _, name := range []string{"RotateFunction", "RotateRole", "RotateLogGroup", "RotatePermission", "SigningKeyRotationSchedule"} {
			r, ok := p.doc["Resources"].(map[string]any)[name].(map[string]any)
			if !ok {
				t.Errorf("no %s", name)
				continue
			}
			if c := r["Condition"]; c != "ScheduledRotation" {
				t.Errorf("%s condition = %q, want ScheduledRotation", name, c)
			}
		}
		if def := p.doc["Parameters"].(map[string]any)["EnableScheduledRotation"].(map[string]any)["Default"]; def != "false" {
			t.Errorf("EnableScheduledRotation default = %v", def)
		}
	})
}

func TestTable(t *testing.T) {
	tb, err := load(t, nil).tpl.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	if str(tb.BillingMode) != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %s", str(tb.BillingMode))
	}
	if pitr := tb.PointInTimeRecoverySpecification; pitr == nil || pitr.PointInTimeRecoveryEnabled == nil || !*pitr.PointInTimeRecoveryEnabled {
		t.Error("PITR off")
	}
	if ttl := tb.TimeToLiveSpecification; ttl == nil || !ttl.Enabled || str(ttl.AttributeName) != "ttl" {
		t.Errorf("TTL %+v, want ttl enabled", ttl)
	}
	// Encryption at rest is always on; SSEEnabled false means the AWS owned
	// key (no KMS charges), true with KMS a customer key on request.
	if sse := tb.SSESpecification; sse == nil || sse.SSEEnabled || sse.KMSMasterKeyId != nil {
		t.Errorf("SSE %+v: want the AWS owned key by default", sse)
	}
	const key = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	cmk, err := load(t, map[string]string{"TableKmsKeyArn": key}).tpl.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	if sse := cmk.SSESpecification; sse == nil || !sse.SSEEnabled || str(sse.SSEType) != "KMS" || str(sse.KMSMasterKeyId) != key {
		t.Errorf("SSE with TableKmsKeyArn: %+v, want KMS with that key", sse)
	}
	var keys []string
	for _, k := range tb.KeySchema {
		keys = append(keys, k.AttributeName+":"+k.KeyType)
	}
	if !slices.Equal(keys, []string{"PK:HASH", "SK:RANGE"}) {
		t.Errorf("KeySchema = %v", keys)
	}
}

func TestAlarms(t *testing.T) {
	const email = "ops@example.com"
	p := load(t, map[string]string{"EnableScheduledRotation": "true", "AlarmEmail": email})
	for _, tc := range []struct {
		name, metric string
		dims         map[string]string
		condition    string
	}{
		{"LoginErrorsAlarm", "AWS/Lambda Errors", map[string]string{"FunctionName": "{{Ref:LoginFunction}}"}, "Alarms"},
		{"LoginThrottlesAlarm", "AWS/Lambda Throttles", map[string]string{"FunctionName": "{{Ref:LoginFunction}}"}, "Alarms"},
		// CloudFront metrics exist only in us-east-1, with Region=Global.
		{"Distribution5xxAlarm", "AWS/CloudFront 5xxErrorRate", map[string]string{"DistributionId": "{{Ref:Distribution}}", "Region": "Global"}, "DistributionAlarms"},
		// Every /courses/* answer a 403 (a key CloudFront does not trust).
		{"Distribution4xxAlarm", "AWS/CloudFront 4xxErrorRate", map[string]string{"DistributionId": "{{Ref:Distribution}}", "Region": "Global"}, "DistributionAlarms"},
		// A signing outage is a 503 answered normally: Lambda's Errors stays at
		// zero, the HTTP API's 5xx (HTTP APIs: "5xx", not REST's "5XXError";
		// ApiId alone sums every stage) does not.
		{"Api5xxAlarm", "AWS/ApiGateway 5xx", map[string]string{"ApiId": "{{Ref:HttpApi}}"}, "Alarms"},
		{"RotateErrorsAlarm", "AWS/Lambda Errors", map[string]string{"FunctionName": "{{Ref:RotateFunction}}"}, "RotateAlarms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := p.tpl.GetCloudWatchAlarmWithName(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := str(a.Namespace) + " " + str(a.MetricName); got != tc.metric {
				t.Errorf("watches %s, want %s", got, tc.metric)
			}
			dims := map[string]string{}
			for _, d := range a.Dimensions {
				dims[d.Name] = d.Value
			}
			if !jsonEqual(dims, tc.dims) {
				t.Errorf("dimensions %v, want %v", dims, tc.dims)
			}
			if a.AWSCloudFormationCondition != tc.condition {
				t.Errorf("condition = %q, want %q", a.AWSCloudFormationCondition, tc.condition)
			}
			if a.Threshold == nil || *a.Threshold < 1 || !strings.HasPrefix(a.ComparisonOperator, "GreaterThan") {
				t.Errorf("threshold %s %s: want an upper bound of at least 1", jsonString(a.Threshold), a.ComparisonOperator)
			}
			if str(a.TreatMissingData) != "notBreaching" {
				t.Errorf("TreatMissingData = %s, want notBreaching (no traffic is not an outage)", str(a.TreatMissingData))
			}
			if !slices.Equal(a.AlarmActions, []string{"{{Ref:AlarmTopic}}"}) {
				t.Errorf("AlarmActions %v, want the stack's topic (AlarmEmail set)", a.AlarmActions)
			}
		})
	}
	t.Run("AlarmEmail makes a subscribed topic", func(t *testing.T) {
		topic, err := p.tpl.GetSNSTopicWithName("AlarmTopic")
		if err != nil {
			t.Fatal(err)
		}
		if len(topic.Subscription) != 1 || topic.Subscription[0].Protocol != "email" || topic.Subscription[0].Endpoint != email {
			t.Errorf("subscriptions %+v, want one email to %s", topic.Subscription, email)
		}
	})
	t.Run("no alarms without someone to notify", func(t *testing.T) {
		data, err := os.ReadFile(templatePath)
		if err != nil {
			t.Fatal(err)
		}
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			conds, err := behavior.Conditions(data, map[string]string{behavior.PseudoRegion: region, "EnableScheduledRotation": "true"})
			if err != nil {
				t.Fatal(err)
			}
			for name, a := range load(t, nil).tpl.GetAllCloudWatchAlarmResources() {
				if c := a.AWSCloudFormationCondition; c == "" || conds[c] {
					t.Errorf("%s: %s: created without AlarmEmail or AlarmTopicArn (condition %q)", region, name, c)
				}
			}
			if conds["HasAlarmEmail"] {
				t.Errorf("%s: AlarmTopic created without AlarmEmail", region)
			}
		}
		withTopic, err := behavior.Conditions(data, map[string]string{behavior.PseudoRegion: "eu-west-1", "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:ops"})
		if err != nil {
			t.Fatal(err)
		}
		if !withTopic["Alarms"] || withTopic["DistributionAlarms"] {
			t.Errorf("eu-west-1 with a topic: Alarms %v (want true), DistributionAlarms %v (want false: CloudFront metrics live in us-east-1)", withTopic["Alarms"], withTopic["DistributionAlarms"])
		}
	})
	t.Run("actions go to AlarmTopicArn", func(t *testing.T) {
		const topic = "arn:aws:sns:eu-west-1:123456789012:ops"
		p := load(t, map[string]string{"AlarmTopicArn": topic})
		for name, a := range p.tpl.GetAllCloudWatchAlarmResources() {
			if !slices.Equal(a.AlarmActions, []string{topic}) {
				t.Errorf("%s: AlarmActions = %v, want [%s]", name, a.AlarmActions, topic)
			}
		}
	})
	t.Run("HttpApi is the API behind /api/*", func(t *testing.T) {
		// The alarm's ApiId must be the API CloudFront uses as origin.
		for _, o := range distribution(t, p).Origins {
			if o.Id == "api" && !strings.HasPrefix(o.DomainName, "${HttpApi}.") {
				t.Errorf("api origin %s is not the HttpApi the 5xx alarm watches", o.DomainName)
			}
		}
	})
}

func TestParametersAndOutputs(t *testing.T) {
	p := load(t, nil)
	params := p.doc["Parameters"].(map[string]any)
	for _, name := range []string{"KeyGroupId", "SigningKeySecretArn", "CookieTtl", "DomainName", "CertificateArn", "PlayerOrigins", "EnableScheduledRotation"} {
		if _, ok := params[name]; !ok {
			t.Errorf("parameter %s missing", name)
		}
	}
	for _, name := range []string{"DomainName", "CertificateArn", "PlayerOrigins"} {
		if d := params[name].(map[string]any)["Default"]; d != "" {
			t.Errorf("parameter %s should be optional (Default \"\"), got %v", name, d)
		}
	}
	outputs := p.doc["Outputs"].(map[string]any)
	for _, name := range []string{"DistributionDomainName", "DistributionId", "MediaBucketName", "TableName", "ApiEndpoint"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
}

func TestCfnLint(t *testing.T) {
	needs.Tool(t, "cfn-lint")
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Fatalf("cfn-lint is required (pip install cfn-lint): %v", err)
	}
	t.Run("template.yaml", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command("cfn-lint", "template.yaml")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cfn-lint template.yaml: %v\n%s", err, out)
		}
	})
	t.Run("a broken copy fails", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(templatePath)
		if err != nil {
			t.Fatal(err)
		}
		broken := strings.Replace(string(b), "HttpVersion: http2and3", "HttpVersion: http9", 1)
		path := filepath.Join(t.TempDir(), "template.yaml")
		if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cfn-lint", path).CombinedOutput(); err == nil {
			t.Errorf("cfn-lint accepted HttpVersion http9:\n%s", out)
		}
	})
}

// statements returns a policy document's statements as generic maps.
func statements(t *testing.T, doc any) []map[string]any {
	t.Helper()
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("policy document %T", doc)
	}
	var out []map[string]any
	switch s := m["Statement"].(type) {
	case []any:
		for _, x := range s {
			out = append(out, x.(map[string]any))
		}
	case map[string]any:
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatal("policy without statements")
	}
	return out
}

// list returns a string-or-list policy element as a list.
func list(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
