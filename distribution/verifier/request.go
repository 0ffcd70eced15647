package verifier

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Request is what the verifier looks at in a viewer request.
type Request struct {
	// URL is absolute: scheme, host (as the viewer sent it), path and raw query.
	URL *url.URL
	// Cookies in header order.
	Cookies []*http.Cookie
	// SourceIP is the viewer's address.
	SourceIP netip.Addr
	// Now is the time of the request.
	Now time.Time
}

// FromHTTP builds a Request from an incoming request: the URL from scheme,
// r.Host and r.URL.RequestURI() (the raw query preserved exactly), the cookies
// in header order, and the source address from r.RemoteAddr.
func FromHTTP(r *http.Request, scheme string, now time.Time) Request {
	req := Request{Now: now, Cookies: r.Cookies()}
	u := &url.URL{Scheme: scheme, Host: r.Host}
	if r.URL != nil {
		u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
		u.RawQuery, u.ForceQuery = r.URL.RawQuery, r.URL.ForceQuery
		if r.URL.Opaque != "" {
			u.Opaque = r.URL.Opaque
		}
	}
	req.URL = u
	req.SourceIP = ParseRemoteAddr(r.RemoteAddr)
	return req
}

// ParseRemoteAddr returns the address in an http.Request.RemoteAddr
// ("ip:port" or a bare ip), IPv4-mapped IPv6 addresses unmapped, or the zero
// Addr when it does not parse.
func ParseRemoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// ParseCookieHeader parses a Cookie header value as net/http does for a
// request, keeping the order and duplicated names; malformed pairs are skipped.
func ParseCookieHeader(h string) []*http.Cookie {
	r := http.Request{Header: http.Header{"Cookie": {h}}}
	return r.Cookies()
}

// NewRequest builds a Request from an absolute URL, a raw Cookie header value,
// a source IP and a time, for tools (keys explain) that replay a request.
func NewRequest(rawURL, cookieHeader, sourceIP string, now time.Time) (Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Request{}, fmt.Errorf("request URL: %w", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return Request{}, fmt.Errorf("request URL %q is not absolute", rawURL)
	}
	req := Request{URL: u, Now: now}
	if cookieHeader != "" {
		req.Cookies = ParseCookieHeader(cookieHeader)
	}
	if sourceIP != "" {
		a, err := netip.ParseAddr(sourceIP)
		if err != nil {
			return Request{}, fmt.Errorf("source IP: %w", err)
		}
		req.SourceIP = a.Unmap()
	}
	return req, nil
}
