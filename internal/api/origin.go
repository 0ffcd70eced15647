package api

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// OriginVerifyHeader is the header CloudFront adds to every /api/* origin
// request (an origin custom header, its value from a Secrets Manager secret
// of the stack). A request without a current value did not come through the
// distribution: the handler answers 403 before anything else.
const OriginVerifyHeader = "X-Cfgate-Origin-Verify"

// ViewerAddressHeader is the CloudFront header that carries the viewer's IP
// address and source port ("198.51.100.10:46532", "2001:db8::1:46532"). The
// /api/* behavior's origin request policy must name it (the managed
// AllViewerExceptHostHeader policy does not carry CloudFront headers).
const ViewerAddressHeader = "CloudFront-Viewer-Address"

// OriginVerifier decides whether a request came through the distribution.
// internal/originverify implements it over Secrets Manager (current and
// previous values, so the secret can be rotated without a failed request).
type OriginVerifier interface {
	// Verify reports whether value is a value the distribution may send. An
	// error means the check itself is unavailable (the handler answers 503).
	Verify(ctx context.Context, value string) (bool, error)
}

// verifyOrigin applies Config.OriginVerifier. It reports whether the request
// proved that it came through the distribution (always false without a
// verifier), or the error to answer.
func (h *Handler) verifyOrigin(r *http.Request) (bool, error) {
	if h.cfg.OriginVerifier == nil {
		return false, nil
	}
	values := r.Header.Values(OriginVerifyHeader)
	if len(values) != 1 || values[0] == "" {
		return false, fail(kindForbidden, "origin_not_verified", "")
	}
	ok, err := h.cfg.OriginVerifier.Verify(r.Context(), values[0])
	switch {
	case err != nil:
		return false, &apiError{kind: kindUnavailable, reason: "origin_check_unavailable", err: err}
	case !ok:
		return false, fail(kindForbidden, "origin_not_verified", "")
	}
	return true, nil
}

// viewerSource is the lockout source of a request: the viewer's address,
// from CloudFront-Viewer-Address only when the request proved that it came
// through the distribution (a viewer cannot choose it then: CloudFront sets
// it), otherwise from the connection (RemoteAddr; behind API Gateway, its
// sourceIp). An IPv6 address counts as its /64, the block one subscriber
// usually holds, so that walking through a /64 does not reset the count.
// "unknown" when no address can be read.
func viewerSource(r *http.Request, fromDistribution bool) string {
	if fromDistribution {
		if vs := r.Header.Values(ViewerAddressHeader); len(vs) == 1 {
			if a, ok := parseViewerAddress(vs[0]); ok {
				return sourceOf(a)
			}
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return sourceOf(ap.Addr())
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return sourceOf(a)
		}
	}
	return "unknown"
}

// parseViewerAddress reads CloudFront-Viewer-Address: the address, a colon
// and the port, IPv6 without brackets (the last colon separates the port);
// bracketed IPv6 is accepted too.
func parseViewerAddress(v string) (netip.Addr, bool) {
	v = strings.TrimSpace(v)
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr(), true
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(v[:i])
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// sourceOf is the counter name of an address: an IPv4 address (IPv4-mapped
// IPv6 unmapped) as itself, an IPv6 address as its /64.
func sourceOf(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
