// Package lambdahttp runs a plain http.Handler behind an API Gateway HTTP API
// (payload format 2.0), and the reverse: it turns an http.Request into the
// event API Gateway would send, so a local server can drive the same Lambda
// handler through its JSON path. See
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html.
package lambdahttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodyBytes is API Gateway's payload limit (10 MB); EventFromRequest
// refuses larger bodies with ErrBodyTooLarge.
const MaxBodyBytes = 10 << 20

// ErrBodyTooLarge is returned by EventFromRequest for bodies over MaxBodyBytes.
var ErrBodyTooLarge = errors.New("request body larger than API Gateway's 10 MB limit")

type eventKey struct{}

// EventFromContext returns the API Gateway event of a request served by Handler.
func EventFromContext(ctx context.Context) (*events.APIGatewayV2HTTPRequest, bool) {
	ev, ok := ctx.Value(eventKey{}).(*events.APIGatewayV2HTTPRequest)
	return ev, ok
}

// Handler adapts h to a Lambda handler for HTTP API v2 events. The response
// carries Set-Cookie values in Cookies (API Gateway ignores them in Headers),
// other headers in Headers (repeated values joined with ", "), and a body
// that is base64-encoded unless it is text.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := RequestFromEvent(ctx, ev)
		if err != nil {
			// API Gateway never sends such an event; answer as a server would.
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "application/json"},
				Body:       `{"error":"bad request"}`,
			}, nil
		}
		w := &responseWriter{header: http.Header{}}
		h.ServeHTTP(w, r)
		return w.response(r.Method), nil
	}
}

// RequestFromEvent builds the server-side http.Request for ev: method and
// path from the event, Host from requestContext.domainName, RemoteAddr
// "sourceIp:0" (host:port like net/http's), headers, the cookies array as one
// Cookie header, and the (base64-decoded) body. ctx becomes the request's
// context, carrying ev (see EventFromContext).
func RequestFromEvent(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, errors.New("event has no requestContext.http.method")
	}
	rawPath := ev.RawPath
	if rawPath == "" {
		rawPath = ev.RequestContext.HTTP.Path
	}
	if rawPath == "" || rawPath[0] != '/' {
		return nil, fmt.Errorf("event path %q is not absolute", rawPath)
	}
	if strings.IndexFunc(rawPath, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("event path %q contains spaces or control characters", rawPath)
	}
	u, err := url.ParseRequestURI(rawPath)
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Host != "" {
		return nil, fmt.Errorf("event path %q is malformed", rawPath)
	}
	u.RawQuery = ev.RawQueryString

	var body []byte
	if ev.IsBase64Encoded {
		body, err = base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("event body is not base64: %w", err)
		}
	} else {
		body = []byte(ev.Body)
	}

	r, err := http.NewRequestWithContext(context.WithValue(ctx, eventKey{}, &ev), method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("event method %q: %w", method, err)
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	if p := ev.RequestContext.HTTP.Protocol; p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			r.Proto, r.ProtoMajor, r.ProtoMinor = p, major, minor
		}
	}
	for k, v := range ev.Headers {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("event header %q is malformed", k)
		}
		r.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if len(ev.Cookies) > 0 {
		for _, c := range ev.Cookies {
			if strings.ContainsAny(c, "\r\n\x00") {
				return nil, errors.New("event cookie is malformed")
			}
		}
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.Host = ev.RequestContext.DomainName
	if r.Host == "" {
		r.Host = r.Header.Get("Host")
	}
	r.Header.Del("Host") // net/http moves Host out of the header map
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	r.Header.Del("Content-Length")
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		r.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	return r, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// responseWriter buffers the handler's response for the Lambda reply.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *responseWriter) response(method string) events.APIGatewayV2HTTPResponse {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	body := w.body.Bytes()
	if method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified {
		body = nil
	}
	if len(body) > 0 && w.header.Get("Content-Type") == "" {
		w.header.Set("Content-Type", http.DetectContentType(body)) // as net/http's server does
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status}
	for k, v := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, v...)
			continue
		}
		if len(v) == 0 {
			continue
		}
		if resp.Headers == nil {
			resp.Headers = make(map[string]string, len(w.header))
		}
		resp.Headers[k] = strings.Join(v, ", ")
	}
	resp.Body, resp.IsBase64Encoded = encodeBody(w.header.Get("Content-Type"), body)
	return resp
}

// encodeBody puts a body into an event or response as API Gateway does: as
// is when it is text, base64-encoded (and flagged so) otherwise.
func encodeBody(contentType string, body []byte) (string, bool) {
	switch {
	case len(body) == 0:
		return "", false
	case isText(contentType, body):
		return string(body), false
	default:
		return base64.StdEncoding.EncodeToString(body), true
	}
}

// isText reports whether a body of this content type can travel as a JSON
// string unencoded.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded",
		mt == "application/vnd.apple.mpegurl", mt == "application/x-mpegurl":
		return true
	}
	return false
}

// EventFromRequest builds the HTTP API v2 event API Gateway would send for
// r (a request received by a server): lower-case headers with repeated
// values joined by ",", the Cookie header split into the cookies array, the
// body base64-encoded unless it is text. Bodies over MaxBodyBytes give
// ErrBodyTooLarge.
func EventFromRequest(r *http.Request) (events.APIGatewayV2HTTPRequest, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("read request body: %w", err)
		}
		if len(b) > MaxBodyBytes {
			return events.APIGatewayV2HTTPRequest{}, ErrBodyTooLarge
		}
		body = b
	}
	now := time.Now().UTC()
	var id [8]byte
	_, _ = rand.Read(id[:])

	// An HTTP API delivers rawPath percent-decoded, cut at a decoded '?'
	// (live captures; REST APIs and function URLs keep the encoding): do the
	// same, so the local distribution routes /api/* exactly as AWS would.
	rawPath := r.URL.Path
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        rawPath,
		RawQueryString: r.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    hex.EncodeToString(id[:]),
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: strings.SplitN(r.Host, ".", 2)[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	if ev.RawPath == "" {
		ev.RawPath = "/"
	}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, line := range v {
				for _, c := range strings.Split(line, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(v, ",")
	}
	if r.Host != "" {
		ev.Headers["host"] = r.Host
	}
	if len(body) > 0 {
		ev.Headers["content-length"] = fmt.Sprint(len(body))
	}
	if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	ev.Body, ev.IsBase64Encoded = encodeBody(r.Header.Get("Content-Type"), body)
	return ev, nil
}

func sourceIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// WriteResponse writes a Lambda HTTP API v2 response to w as API Gateway
// would: headers, multi-value headers, each of Cookies as a Set-Cookie
// header, the status (200 when zero) and the decoded body.
func WriteResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("response body is not base64: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Del("Content-Length")
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write response body: %w", err)
	}
	return nil
}

// InvokeFunc is a Lambda invocation on raw JSON, such as
// lambda.NewHandler(Handler(h)).Invoke.
type InvokeFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Proxy is an http.Handler that plays API Gateway in front of invoke: each
// request becomes an HTTP API v2 event (EventFromRequest), is invoked as JSON,
// and the JSON response is written back (WriteResponse). A failed invocation
// is answered as API Gateway does: 500 {"message":"Internal Server Error"}.
func Proxy(invoke InvokeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := EventFromRequest(r)
		if errors.Is(err, ErrBodyTooLarge) {
			writeGatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		if err != nil {
			writeGatewayError(w, http.StatusBadRequest, "Bad Request")
			return
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			writeGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		out, err := invoke(r.Context(), payload)
		if err != nil {
			writeGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			writeGatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		_ = WriteResponse(w, resp) // the client went away; nothing to do
	})
}

func writeGatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

// warmEvent is an HTTP API v2 event with every object that API Gateway puts
// in one for this API (no authorizer, no mTLS, no stage variables), so that
// decoding it builds every codec a real event needs; it names no real host,
// user or session.
var warmEvent = []byte(`{"version":"2.0","routeKey":"$default","rawPath":"/w","rawQueryString":"a=b",` +
	`"cookies":["w=1"],"headers":{"h":"v"},"queryStringParameters":{"a":"b"},"requestContext":{"accountId":"0",` +
	`"apiId":"w","domainName":"w.invalid","domainPrefix":"w","http":{"method":"POST","path":"/w","protocol":"HTTP/1.1",` +
	`"sourceIp":"192.0.2.1","userAgent":"w"},"requestId":"w","routeKey":"$default","stage":"$default",` +
	`"time":"01/Jan/2026:00:00:00 +0000","timeEpoch":1},"body":"{}","isBase64Encoded":false}`)

// Warm runs one canned event through what an invocation goes through
// (aws-lambda-go decodes the event and encodes the response with
// encoding/json; Handler turns one into the other) with a handler that
// answers 404, so that the first real invocation does not build
// encoding/json's per-type codecs and run the adapter's code for the first
// time on its critical path. It makes no call and changes nothing but
// those caches. The login function runs it during init, while its slow AWS
// calls are out.
func Warm() {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.NewDecoder(bytes.NewReader(warmEvent)).Decode(&ev); err != nil {
		return
	}
	resp, _ := Handler(http.NotFoundHandler())(context.Background(), ev)
	_ = json.NewEncoder(io.Discard).Encode(resp)
}
