package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cfgate/cfgate/distribution/behavior"
	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/lambdahttp"
)

// server is the local distribution's http.Handler: for each request the first
// matching cache behavior of the template decides whether the verifier checks it
// and which origin answers.
type server struct {
	dist     *behavior.Distribution
	verifier *verifier.Verifier
	keys     verifier.Keys
	api      http.Handler // the login Lambda's handler behind an HTTP API v2 proxy
	bucket   *bucket
	logger   *slog.Logger
	now      func() time.Time
	// originSecret replaces a secretsmanager dynamic reference in an
	// origin custom header (the template's X-Cfgate-Origin-Verify): the
	// local stand-in for the stack's generated secret, known to the API.
	originSecret string
}

// newLambdaAPI wraps the API's http.Handler the way functions/login deploys it
// (lambdahttp.Handler), then lambda.NewHandler, whose Invoke takes and returns the
// raw event JSON — the decoding and encoding the Lambda runtime does — behind
// lambdahttp.Proxy, which plays API Gateway (HTTP API v2 events).
func newLambdaAPI(h http.Handler) http.Handler {
	return lambdahttp.Proxy(lambda.NewHandler(lambdahttp.Handler(h)).Invoke)
}

// statusWriter records the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// ServeHTTP implements http.Handler and logs one line per request: method, path
// (never the query, which may hold a URL signature), status, behavior and the
// verifier's decision. Cookie values never reach the log.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	b := s.dist.Match(r.URL.Path)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("behavior", b.PathPattern),
		slog.String("origin", b.Origin.Kind),
	}
	decisionAttrs := s.serve(sw, r, b)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	attrs = append(attrs, slog.Int("status", sw.status))
	attrs = append(attrs, decisionAttrs...)
	attrs = append(attrs, slog.Int64("bytes", sw.bytes), slog.Duration("dur", time.Since(start)))
	s.logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request, b behavior.Behavior) []slog.Attr {
	if !b.AllowsMethod(r.Method) {
		// CloudFront's answer for a method the behavior does not allow.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.")
		return []slog.Attr{slog.String("decision", "method-not-allowed")}
	}
	var attrs []slog.Attr
	if b.Signed {
		// CloudFront redirects http to https on these behaviors (ViewerProtocolPolicy
		// redirect-to-https), so a signed Resource always names https://: the viewer
		// URL the verifier sees is the https form of this plain-http request.
		d := s.verifier.Verify(verifier.FromHTTP(r, "https", s.now()), s.keys)
		if !d.Allowed {
			d.WriteError(w)
			return []slog.Attr{slog.String("decision", "deny"), slog.String("code", d.Code), slog.String("reason", d.Reason), slog.String("keyPairId", d.KeyPairID)}
		}
		attrs = []slog.Attr{slog.String("decision", "allow"), slog.String("source", d.Source), slog.String("policy", d.Policy), slog.String("keyPairId", d.KeyPairID)}
	} else {
		attrs = []slog.Attr{slog.String("decision", "unsigned")}
	}
	if b.ResponseHeaders != nil {
		w = &policyWriter{ResponseWriter: w, rh: b.ResponseHeaders}
	}
	switch b.Origin.Kind {
	case behavior.KindAPI:
		s.api.ServeHTTP(w, s.originRequest(r, b))
	case behavior.KindS3:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			break
		}
		key := strings.TrimPrefix(b.Origin.OriginPath, "/")
		p := r.URL.Path
		if p == "/" && b.PathPattern == behavior.DefaultPattern {
			p = "/index.html" // the distribution's DefaultRootObject
		}
		if key != "" && !strings.HasSuffix(key, "/") {
			key += "/"
		}
		s.bucket.serveObject(w, r, key+strings.TrimPrefix(p, "/"))
	default:
		http.Error(w, "Bad Gateway", http.StatusBadGateway)
		s.logger.Error("unknown origin kind", "origin", b.Origin.ID, "kind", b.Origin.Kind)
	}
	return attrs
}

// originRequest is the request as CloudFront sends it to a custom origin:
// the behavior's origin request policy picks the viewer headers (Cookie is
// always kept: the template's policies forward every cookie) and adds
// CloudFront-Viewer-Address from the TCP peer; the origin's custom headers
// are set last, replacing any viewer header of the same name.
func (s *server) originRequest(r *http.Request, b behavior.Behavior) *http.Request {
	out := r.Clone(r.Context())
	if p := b.OriginRequest; p != nil {
		if !p.AllViewerHeaders {
			kept := http.Header{}
			for _, name := range append([]string{"Cookie"}, p.Headers...) {
				if v, ok := r.Header[name]; ok {
					kept[name] = v
				}
			}
			if _, ok := kept["User-Agent"]; !ok {
				kept.Set("User-Agent", "Amazon CloudFront") // CloudFront's own, unless the policy forwards the viewer's
			}
			out.Header = kept
		}
		if p.ViewerAddress {
			out.Header.Del(behavior.ViewerAddressHeader)
			if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
				// CloudFront's form: address, colon, port; IPv6 without brackets.
				out.Header.Set(behavior.ViewerAddressHeader, ap.Addr().Unmap().String()+":"+strconv.Itoa(int(ap.Port())))
			}
		}
	}
	for _, h := range b.OriginCustomHeaders {
		v := h.Value
		if strings.HasPrefix(v, "{{resolve:secretsmanager:") {
			v = s.originSecret
		}
		out.Header.Set(h.Name, v)
	}
	return out
}

// policyWriter applies a response headers policy to the origin's response
// just before its header is written.
type policyWriter struct {
	http.ResponseWriter
	rh      *behavior.ResponseHeaders
	written bool
}

func (p *policyWriter) WriteHeader(code int) {
	if !p.written {
		p.written = true
		p.rh.Apply(p.Header())
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *policyWriter) Write(b []byte) (int, error) {
	if !p.written {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}
