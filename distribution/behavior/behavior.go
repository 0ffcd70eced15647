// Package behavior reads the CloudFront distribution declared in cfgate's
// template.yaml (behaviors, their order, their origins, which are signed) and
// matches request paths against it the way CloudFront does, so that the local
// distribution behaves like the deployed one and a template change changes both.
//
// See https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern
package behavior

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
)

// Origin kinds.
const (
	// KindAPI is a custom origin that points at the HTTP API (the login function).
	KindAPI = "api"
	// KindS3 is an S3 origin (S3OriginConfig and/or Origin Access Control).
	KindS3 = "s3"
)

// DefaultPattern is the path pattern of the default cache behavior.
const DefaultPattern = "*"

// Origin is one origin of the distribution.
type Origin struct {
	ID         string
	Kind       string // KindAPI or KindS3
	OriginPath string // e.g. "/site", or "" for none
}

// Behavior is one cache behavior, or the default one (PathPattern "*").
type Behavior struct {
	PathPattern    string
	TargetOriginID string
	Origin         Origin
	// Signed is true when the behavior has a non-empty TrustedKeyGroups:
	// CloudFront then requires a valid signed URL or signed cookies.
	Signed bool
	// AllowedMethods as declared; CloudFront's default (GET, HEAD) when absent.
	AllowedMethods []string
	// OriginCustomHeaders are the target origin's OriginCustomHeaders, which
	// CloudFront sets on every origin request (replacing a viewer's header
	// of the same name). A value may be a dynamic reference
	// ("{{resolve:secretsmanager:…}}"), which the local distribution
	// replaces by its own value.
	OriginCustomHeaders []Header
	// OriginRequest is the behavior's origin request policy (nil: none).
	OriginRequest *OriginRequestPolicy
	// ResponseHeaders is the behavior's response headers policy (nil: none).
	ResponseHeaders *ResponseHeaders
	// Compress is the behavior's Compress setting.
	Compress bool
}

// AllowsMethod reports whether the behavior accepts the HTTP method.
func (b Behavior) AllowsMethod(method string) bool {
	return slices.Contains(b.AllowedMethods, method)
}

// Distribution is the distribution of a template.
type Distribution struct {
	// Behaviors in CloudFront's evaluation order, the default behavior last.
	Behaviors []Behavior
}

// Match returns the behavior CloudFront uses for the request path: the first
// whose pattern matches (the default behavior matches everything). It returns
// the zero Behavior only for an empty Distribution.
func (d *Distribution) Match(path string) Behavior {
	for _, b := range d.Behaviors {
		if MatchPattern(b.PathPattern, path) {
			return b
		}
	}
	return Behavior{}
}

// MatchPattern reports whether a CloudFront path pattern matches a request
// path. '*' matches any run of characters, '/' included; '?' matches exactly
// one character (byte: CloudFront sees the percent-encoded path); everything
// else matches itself, case-sensitively. A leading '/' is optional in a
// pattern, as in CloudFront ("images/*.jpg" equals "/images/*.jpg").
func MatchPattern(pattern, path string) bool {
	if !strings.HasPrefix(pattern, "/") {
		pattern = "/" + pattern
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// Iterative glob with single-star backtracking: O(len(pattern)*len(path))
	// in the worst case, no recursion, no allocation.
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && pattern[p] == '*': // before the literal case: '*' in a path is a character
			star, mark = p, s
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			p++
			s++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Load reads the template at templatePath and returns its CloudFront
// distribution, with parameters at their defaults. See LoadWithParameters.
func Load(templatePath string) (*Distribution, error) {
	return LoadWithParameters(templatePath, nil)
}

// LoadWithParameters is Load with parameter values overriding the defaults
// (as `sam deploy --parameter-overrides` would). Conditions (Fn::If) are
// evaluated from them. The template must declare exactly one
// AWS::CloudFront::Distribution whose condition, if any, is true.
func LoadWithParameters(templatePath string, params map[string]string) (*Distribution, error) {
	data, err := os.ReadFile(templatePath)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	d, err := Parse(data, params)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", templatePath, err)
	}
	return d, nil
}

// Parse is LoadWithParameters on template bytes (YAML or JSON).
func Parse(data []byte, params map[string]string) (*Distribution, error) {
	tpl, ev, err := parseTemplate(data, params)
	if err != nil {
		return nil, err
	}
	return distribution(tpl, ev)
}

func distribution(tpl *cloudformation.Template, ev *evaluator) (*Distribution, error) {
	var names []string
	for name, dist := range tpl.GetAllCloudFrontDistributionResources() {
		if c := dist.AWSCloudFormationCondition; c != "" {
			on, err := ev.condition(c)
			if err != nil {
				return nil, fmt.Errorf("distribution %s: %w", name, err)
			}
			if !on {
				continue
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) != 1 {
		return nil, fmt.Errorf("want exactly one AWS::CloudFront::Distribution, found %d %v", len(names), names)
	}
	name := names[0]
	dist := tpl.Resources[name].(*cloudfront.Distribution)
	cfg := dist.DistributionConfig
	if cfg == nil || cfg.DefaultCacheBehavior == nil {
		return nil, fmt.Errorf("distribution %s: no DefaultCacheBehavior", name)
	}

	origins := map[string]Origin{}
	originHeaders := map[string][]Header{}
	for i, o := range cfg.Origins {
		if o.Id == "" {
			return nil, fmt.Errorf("distribution %s: origin %d has no Id", name, i)
		}
		kind, err := originKind(ev, o)
		if err != nil {
			return nil, fmt.Errorf("distribution %s: origin %q: %w", name, o.Id, err)
		}
		org := Origin{ID: o.Id, Kind: kind}
		if o.OriginPath != nil {
			org.OriginPath = *o.OriginPath
		}
		origins[o.Id] = org
		for _, h := range o.OriginCustomHeaders {
			originHeaders[o.Id] = append(originHeaders[o.Id], Header{Name: http.CanonicalHeaderKey(h.HeaderName), Value: h.HeaderValue})
		}
	}

	var out Distribution
	add := func(pattern, target string, keyGroups, methods []string, orp, rhp *string, compress *bool) error {
		if pattern == "" {
			return errors.New("cache behavior without PathPattern")
		}
		org, ok := origins[target]
		if !ok {
			return fmt.Errorf("behavior %q: TargetOriginId %q names no origin", pattern, target)
		}
		if len(methods) == 0 {
			methods = []string{"GET", "HEAD"}
		}
		or, err := originRequestPolicy(tpl, orp)
		if err != nil {
			return fmt.Errorf("behavior %q: %w", pattern, err)
		}
		rh, err := responseHeaders(tpl, rhp)
		if err != nil {
			return fmt.Errorf("behavior %q: %w", pattern, err)
		}
		out.Behaviors = append(out.Behaviors, Behavior{
			PathPattern:         pattern,
			TargetOriginID:      target,
			Origin:              org,
			Signed:              slices.ContainsFunc(keyGroups, func(s string) bool { return s != "" }),
			AllowedMethods:      slices.Clone(methods),
			OriginCustomHeaders: slices.Clone(originHeaders[target]),
			OriginRequest:       or,
			ResponseHeaders:     rh,
			Compress:            compress != nil && *compress,
		})
		return nil
	}
	for _, cb := range cfg.CacheBehaviors {
		if err := add(cb.PathPattern, cb.TargetOriginId, cb.TrustedKeyGroups, cb.AllowedMethods, cb.OriginRequestPolicyId, cb.ResponseHeadersPolicyId, cb.Compress); err != nil {
			return nil, fmt.Errorf("distribution %s: %w", name, err)
		}
	}
	def := cfg.DefaultCacheBehavior
	if err := add(DefaultPattern, def.TargetOriginId, def.TrustedKeyGroups, def.AllowedMethods, def.OriginRequestPolicyId, def.ResponseHeadersPolicyId, def.Compress); err != nil {
		return nil, fmt.Errorf("distribution %s: %w", name, err)
	}
	return &out, nil
}

// originKind decides api or s3 from the origin itself: an S3 origin has
// S3OriginConfig or an Origin Access Control; the API origin is a custom
// origin whose domain names an HTTP API of the template (or an execute-api host).
func originKind(ev *evaluator, o cloudfront.Distribution_Origin) (string, error) {
	if o.S3OriginConfig != nil || o.OriginAccessControlId != nil {
		if o.CustomOriginConfig != nil {
			return "", errors.New("both S3 and custom origin settings")
		}
		return KindS3, nil
	}
	if o.CustomOriginConfig == nil {
		return "", errors.New("neither S3OriginConfig, OriginAccessControlId nor CustomOriginConfig")
	}
	if strings.Contains(o.DomainName, ".execute-api.") {
		for _, ref := range referencedNames(o.DomainName) {
			switch ev.types[ref] {
			case "AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api", "AWS::Serverless::Api", "AWS::ApiGateway::RestApi":
				return KindAPI, nil
			}
		}
		if !strings.Contains(o.DomainName, "${") && !strings.Contains(o.DomainName, "{{") {
			return KindAPI, nil // a literal execute-api host
		}
	}
	return "", fmt.Errorf("custom origin %q is not the template's HTTP API (only api and s3 origins are emulated)", o.DomainName)
}
