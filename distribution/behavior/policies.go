package behavior

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
)

// ViewerAddressHeader is the CloudFront header with the viewer's address and
// source port, added to origin requests when the origin request policy names it.
const ViewerAddressHeader = "CloudFront-Viewer-Address"

// Managed policy ids that the local distribution knows
// (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html,
// .../using-managed-response-headers-policies.html).
const (
	managedAllViewer                 = "216adef6-5c7f-47e4-b989-5492eafa07d3"
	managedAllViewerAndCloudFront    = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
	managedAllViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
	managedSecurityHeadersPolicy     = "67f7725c-6f97-4210-82d7-5512b31e9d03"
)

// OriginRequestPolicy is what an origin request policy puts in the origin
// request, as far as the local distribution emulates it: viewer headers and
// CloudFront's viewer-address header. Cookies and query strings are always
// forwarded locally.
type OriginRequestPolicy struct {
	// AllViewerHeaders forwards every viewer header; otherwise only Headers.
	AllViewerHeaders bool
	// Headers are the viewer headers forwarded (canonical form) when
	// AllViewerHeaders is false.
	Headers []string
	// ViewerAddress: CloudFront sets CloudFront-Viewer-Address.
	ViewerAddress bool
}

// Header is a header name and value.
type Header struct {
	Name, Value string
	// Override (response headers): replace a header of the origin's
	// response of the same name; otherwise the origin's one is kept.
	Override bool
}

// ResponseHeaders is what a response headers policy adds to responses, as
// far as the local distribution emulates it (security and custom headers,
// removed headers; CORS is not emulated).
type ResponseHeaders struct {
	PolicyID string // the template's reference or the managed id
	Add      []Header
	Remove   []string
}

// Apply adds and removes headers on h, the response headers about to be sent.
func (rh *ResponseHeaders) Apply(h http.Header) {
	if rh == nil {
		return
	}
	for _, a := range rh.Add {
		if a.Override || h.Get(a.Name) == "" {
			h.Set(a.Name, a.Value)
		}
	}
	for _, r := range rh.Remove {
		h.Del(r)
	}
}

// originRequestPolicy resolves a behavior's OriginRequestPolicyId: nil when
// none, a managed policy by id, or the template's AWS::CloudFront::OriginRequestPolicy.
func originRequestPolicy(tpl *cloudformation.Template, id *string) (*OriginRequestPolicy, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	switch *id {
	case managedAllViewer, managedAllViewerExceptHostHeader:
		return &OriginRequestPolicy{AllViewerHeaders: true}, nil
	case managedAllViewerAndCloudFront:
		return &OriginRequestPolicy{AllViewerHeaders: true, ViewerAddress: true}, nil
	}
	for _, name := range referencedNames(*id) {
		p, ok := tpl.Resources[name].(*cloudfront.OriginRequestPolicy)
		if !ok || p.OriginRequestPolicyConfig == nil || p.OriginRequestPolicyConfig.HeadersConfig == nil {
			continue
		}
		hc := p.OriginRequestPolicyConfig.HeadersConfig
		out := &OriginRequestPolicy{}
		for _, h := range hc.Headers {
			if strings.EqualFold(h, ViewerAddressHeader) {
				out.ViewerAddress = true
				continue
			}
			out.Headers = append(out.Headers, http.CanonicalHeaderKey(h))
		}
		switch hc.HeaderBehavior {
		case "none":
			out.Headers = nil
		case "whitelist":
		case "allViewer", "allViewerAndWhitelistCloudFront":
			out.AllViewerHeaders = true
		default:
			return nil, fmt.Errorf("origin request policy %s: HeaderBehavior %q is not emulated", name, hc.HeaderBehavior)
		}
		slices.Sort(out.Headers)
		return out, nil
	}
	return nil, fmt.Errorf("origin request policy %q is neither a known managed policy nor an AWS::CloudFront::OriginRequestPolicy of the template", *id)
}

// responseHeaders resolves a behavior's ResponseHeadersPolicyId.
func responseHeaders(tpl *cloudformation.Template, id *string) (*ResponseHeaders, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	if *id == managedSecurityHeadersPolicy {
		// The managed SecurityHeadersPolicy's settings (none overrides).
		return &ResponseHeaders{PolicyID: *id, Add: []Header{
			{Name: "Referrer-Policy", Value: "strict-origin-when-cross-origin"},
			{Name: "Strict-Transport-Security", Value: "max-age=31536000"},
			{Name: "X-Content-Type-Options", Value: "nosniff"},
			{Name: "X-Frame-Options", Value: "SAMEORIGIN"},
			{Name: "X-Xss-Protection", Value: "1; mode=block"},
		}}, nil
	}
	for _, name := range referencedNames(*id) {
		p, ok := tpl.Resources[name].(*cloudfront.ResponseHeadersPolicy)
		if !ok || p.ResponseHeadersPolicyConfig == nil {
			continue
		}
		cfg := p.ResponseHeadersPolicyConfig
		out := &ResponseHeaders{PolicyID: name}
		if sh := cfg.SecurityHeadersConfig; sh != nil {
			if v := sh.ContentSecurityPolicy; v != nil {
				out.Add = append(out.Add, Header{Name: "Content-Security-Policy", Value: v.ContentSecurityPolicy, Override: v.Override})
			}
			if v := sh.ContentTypeOptions; v != nil {
				out.Add = append(out.Add, Header{Name: "X-Content-Type-Options", Value: "nosniff", Override: v.Override})
			}
			if v := sh.FrameOptions; v != nil {
				out.Add = append(out.Add, Header{Name: "X-Frame-Options", Value: v.FrameOption, Override: v.Override})
			}
			if v := sh.ReferrerPolicy; v != nil {
				out.Add = append(out.Add, Header{Name: "Referrer-Policy", Value: v.ReferrerPolicy, Override: v.Override})
			}
			if v := sh.StrictTransportSecurity; v != nil {
				val := "max-age=" + strconv.Itoa(v.AccessControlMaxAgeSec)
				if v.IncludeSubdomains != nil && *v.IncludeSubdomains {
					val += "; includeSubDomains"
				}
				if v.Preload != nil && *v.Preload {
					val += "; preload"
				}
				out.Add = append(out.Add, Header{Name: "Strict-Transport-Security", Value: val, Override: v.Override})
			}
			if v := sh.XSSProtection; v != nil {
				val := "0"
				if v.Protection {
					val = "1"
					if v.ModeBlock != nil && *v.ModeBlock {
						val += "; mode=block"
					}
				}
				out.Add = append(out.Add, Header{Name: "X-Xss-Protection", Value: val, Override: v.Override})
			}
		}
		if ch := cfg.CustomHeadersConfig; ch != nil {
			for _, h := range ch.Items {
				out.Add = append(out.Add, Header{Name: http.CanonicalHeaderKey(h.Header), Value: h.Value, Override: h.Override})
			}
		}
		if rh := cfg.RemoveHeadersConfig; rh != nil {
			for _, h := range rh.Items {
				out.Remove = append(out.Remove, http.CanonicalHeaderKey(h.Header))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("response headers policy %q is neither the managed SecurityHeadersPolicy nor an AWS::CloudFront::ResponseHeadersPolicy of the template", *id)
}
