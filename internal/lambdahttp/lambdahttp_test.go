package lambdahttp

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

//go:embed testdata/*.json
var fixtures embed.FS

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fixtures.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seen is what the handler observed of a request.
type seen struct {
	Method, Path, RawPath, Query, Host, RemoteAddr, RequestURI string
	Header                                                     http.Header
	Cookies                                                    map[string]string
	Body                                                       []byte
	ContentLength                                              int64
	RequestID                                                  string
}

func recordingHandler(got *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		cookies := map[string]string{}
		for _, c := range r.Cookies() {
			cookies[c.Name] = c.Value
		}
		ev, _ := EventFromContext(r.Context())
		*got = seen{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI,
			Header: r.Header.Clone(), Cookies: cookies, Body: body, ContentLength: r.ContentLength,
		}
		if ev != nil {
			got.RequestID = ev.RequestContext.RequestID
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
}

func invoke(t *testing.T, h http.Handler, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := lambda.NewHandler(Handler(h)).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response JSON: %v: %s", err, out)
	}
	return resp
}

func TestHandlerRequestFromFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    seen
		headers map[string]string
	}{
		{"get-session.json", seen{
			Method: "GET", Path: "/api/session", RawPath: "/api/session", Host: "api0cfgate.execute-api.us-east-1.amazonaws.com",
			RemoteAddr: "198.51.100.9:0", RequestURI: "/api/session", Cookies: map[string]string{}, Body: []byte{}, RequestID: "CfGateGetSess01=",
		}, map[string]string{"User-Agent": "cfgate-fixture/1.0", "X-Forwarded-For": "192.0.2.44, 198.51.100.9"}},
		{"login.json", seen{
			Method: "POST", Path: "/api/login", RawPath: "/api/login", Host: "d111111abcdef8.cloudfront.net",
			RemoteAddr: "203.0.113.7:0", RequestURI: "/api/login", Cookies: map[string]string{},
			Body: []byte(`{"email":"demo@cfgate.test","password":"correct horse"}`), ContentLength: 55, RequestID: "BvX3Jg1yIAMEbXw=",
		}, map[string]string{"Content-Type": "application/json", "Origin": "https://d111111abcdef8.cloudfront.net", "Accept-Encoding": "gzip, deflate, br"}},
		{"access-with-cookies.json", seen{
			Method: "POST", Path: "/api/courses/intro-to-hls/access", RawPath: "/api/courses/intro-to-hls/access",
			Query: "refresh=1&tag=a&tag=b", Host: "d111111abcdef8.cloudfront.net", RemoteAddr: "[2001:db8::1]:0",
			RequestURI: "/api/courses/intro-to-hls/access?refresh=1&tag=a&tag=b",
			Cookies:    map[string]string{"cfgate_session": "SESSIONVALUE", "theme": "dark"}, Body: []byte{}, RequestID: "BvX3KhQ8IAMEbYg=",
		}, map[string]string{"Cookie": "cfgate_session=SESSIONVALUE; theme=dark", "X-Custom-Multi": "one,two"}},
		{"base64-body.json", seen{
			Method: "PUT", Path: "/api/courses/*/access", RawPath: "/api/courses/%2A/access",
			Host: "abc123defg.execute-api.eu-west-1.amazonaws.com", RemoteAddr: "198.51.100.20:0",
			RequestURI: "/api/courses/%2A/access", Cookies: map[string]string{}, Body: []byte{0, 1, 0xff, 'c', 'f', 'g', 0}, ContentLength: 7,
			RequestID: "BvX3LiR9IAMEbZh=",
		}, map[string]string{"Content-Type": "application/octet-stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			var got seen
			resp := invoke(t, recordingHandler(&got), fixture(t, tt.fixture))
			if resp.StatusCode != 200 || resp.Body != `{"ok":true}` || resp.IsBase64Encoded {
				t.Errorf("response = %+v", resp)
			}
			for k, v := range tt.headers {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if got.Header.Get("Host") != "" || got.Header.Get("Content-Length") != "" {
				t.Errorf("Host/Content-Length left in the header map: %v", got.Header)
			}
			got.Header = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request seen:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestHandlerResponse(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    events.APIGatewayV2HTTPResponse
	}{
		{"cookies and multi-value headers", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "CloudFront-Policy", Value: "p", Path: "/courses/a/", Secure: true, HttpOnly: true})
			http.SetCookie(w, &http.Cookie{Name: "CloudFront-Signature", Value: "s", Path: "/courses/a/", Secure: true, HttpOnly: true})
			w.Header().Add("Vary", "Origin")
			w.Header().Add("Vary", "Cookie")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"course":"a"}`)
		}, events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Vary": "Origin, Cookie", "Content-Type": "application/json"},
			Body:       `{"course":"a"}`,
			Cookies: []string{
				"CloudFront-Policy=p; Path=/courses/a/; HttpOnly; Secure",
				"CloudFront-Signature=s; Path=/courses/a/; HttpOnly; Secure",
			},
		}},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			w.WriteHeader(http.StatusTeapot) // ignored, as net/http does
		}, events.APIGatewayV2HTTPResponse{StatusCode: 204}},
		{"implicit 200 and sniffed type", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello")
		}, events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, Body: "hello"}},
		{"binary body base64", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "video/mp2t")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte{0x47, 0, 0xff})
		}, events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "video/mp2t"}, Body: "RwD/", IsBase64Encoded: true}},
		{"invalid utf-8 in json base64", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte{'"', 0xff, '"'})
		}, events.APIGatewayV2HTTPResponse{StatusCode: 403, Headers: map[string]string{"Content-Type": "application/json"}, Body: "Iv8i", IsBase64Encoded: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := invoke(t, tt.handler, fixture(t, "login.json"))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("response:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestHandlerMalformedEvent(t *testing.T) {
	called := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	valid := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(fixture(t, "login.json"), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"bad base64 body", func(m map[string]any) { m["isBase64Encoded"] = true; m["body"] = "!!!" }},
		{"no method", func(m map[string]any) { m["requestContext"].(map[string]any)["http"].(map[string]any)["method"] = "" }},
		{"relative path", func(m map[string]any) { m["rawPath"] = "api/login" }},
		{"header with newline", func(m map[string]any) { m["headers"].(map[string]any)["x-evil"] = "a\r\nSet-Cookie: x=y" }},
		{"cookie with newline", func(m map[string]any) { m["cookies"] = []string{"a=b\r\nX: y"} }},
		{"bad header name", func(m map[string]any) { m["headers"].(map[string]any)["bad name"] = "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called = false
			m := valid()
			tt.mutate(m)
			payload, _ := json.Marshal(m)
			resp := invoke(t, h, payload)
			if resp.StatusCode != 400 || called {
				t.Errorf("status %d, handler called %v; want 400 without calling the handler", resp.StatusCode, called)
			}
		})
	}
}

// TestProxyRoundTrip drives a real HTTP client through Proxy, the JSON
// invocation path and Handler, and checks what each side sees.
func TestProxyRoundTrip(t *testing.T) {
	var got seen
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordingHandler(&got).ServeHTTP(httptest.NewRecorder(), r)
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/courses/x/"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", Path: "/courses/x/"})
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte{0, 1, 2, 0xff})
	})
	srv := httptest.NewServer(Proxy(lambda.NewHandler(Handler(inner)).Invoke))
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/api/courses/%2A/access?x=1&x=2", bytes.NewReader([]byte{0xff, 0xfe}))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.AddCookie(&http.Cookie{Name: "cfgate_session", Value: "v"})
	req.AddCookie(&http.Cookie{Name: "other", Value: "w"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != 202 || !bytes.Equal(body, []byte{0, 1, 2, 0xff}) {
		t.Errorf("client got %d %x", resp.StatusCode, body)
	}
	if c := resp.Cookies(); len(c) != 2 || c[0].Name != "a" || c[1].Name != "b" || c[0].Path != "/courses/x/" {
		t.Errorf("client cookies = %v", c)
	}
	// The path reaches the handler percent-decoded, as an HTTP API delivers it.
	if got.Method != "POST" || got.RawPath != "/api/courses/*/access" || got.Query != "x=1&x=2" ||
		got.Host != strings.TrimPrefix(srv.URL, "http://") || got.RemoteAddr != "127.0.0.1:0" ||
		!bytes.Equal(got.Body, []byte{0xff, 0xfe}) || got.Cookies["cfgate_session"] != "v" || got.Cookies["other"] != "w" ||
		got.Header.Get("X-Multi") != "a,b" {
		t.Errorf("handler saw %+v", got)
	}
}

func TestProxyErrors(t *testing.T) {
	tests := []struct {
		name   string
		invoke InvokeFunc
		body   io.Reader
		want   int
	}{
		{"invoke error", func(context.Context, []byte) ([]byte, error) { return nil, io.ErrUnexpectedEOF }, nil, 500},
		{"not json", func(context.Context, []byte) ([]byte, error) { return []byte("nope"), nil }, nil, 500},
		{"body too large", func(context.Context, []byte) ([]byte, error) { t.Error("invoked"); return nil, nil },
			io.LimitReader(zeros{}, MaxBodyBytes+1), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Proxy(tt.invoke).ServeHTTP(rec, httptest.NewRequest("POST", "/api/login", tt.body))
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestEventFromRequest(t *testing.T) {
	r := httptest.NewRequest("POST", "https://d1.example.com/api/login?a=1&a=2&b", strings.NewReader(`{"x":1}`))
	r.RemoteAddr = "192.0.2.9:5555"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add("Cookie", "a=1; b=2")
	r.Header.Add("Cookie", "c=3")
	r.Header.Set("User-Agent", "ua")
	ev, err := EventFromRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Version != "2.0" || ev.RawPath != "/api/login" || ev.RawQueryString != "a=1&a=2&b" ||
		!reflect.DeepEqual(ev.Cookies, []string{"a=1", "b=2", "c=3"}) || ev.Headers["cookie"] != "" ||
		ev.Headers["content-type"] != "application/json" || ev.Headers["host"] != "d1.example.com" ||
		ev.Body != `{"x":1}` || ev.IsBase64Encoded ||
		ev.RequestContext.DomainName != "d1.example.com" || ev.RequestContext.DomainPrefix != "d1" ||
		ev.RequestContext.HTTP.SourceIP != "192.0.2.9" || ev.RequestContext.HTTP.Method != "POST" ||
		ev.RequestContext.HTTP.UserAgent != "ua" || ev.RequestContext.RequestID == "" ||
		ev.QueryStringParameters["a"] != "1,2" {
		t.Errorf("event = %+v", ev)
	}
	// And back: the request Handler builds carries what the client sent.
	back, err := RequestFromEvent(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if back.URL.RequestURI() != "/api/login?a=1&a=2&b" || back.Host != "d1.example.com" || back.RemoteAddr != "192.0.2.9:0" || len(back.Cookies()) != 3 {
		t.Errorf("round trip request = %+v", back)
	}
}

func TestWriteResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	err := WriteResponse(rec, events.APIGatewayV2HTTPResponse{
		StatusCode:        201,
		Headers:           map[string]string{"Content-Type": "application/octet-stream"},
		MultiValueHeaders: map[string][]string{"X-A": {"1", "2"}},
		Cookies:           []string{"a=1; Path=/", "b=2; Path=/"},
		Body:              base64.StdEncoding.EncodeToString([]byte{1, 2}),
		IsBase64Encoded:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != 201 || !bytes.Equal(rec.Body.Bytes(), []byte{1, 2}) || len(rec.Result().Cookies()) != 2 ||
		!reflect.DeepEqual(rec.Header()["X-A"], []string{"1", "2"}) {
		t.Errorf("recorded %d %v %x", rec.Code, rec.Header(), rec.Body.Bytes())
	}
	if err := WriteResponse(httptest.NewRecorder(), events.APIGatewayV2HTTPResponse{Body: "!", IsBase64Encoded: true}); err == nil {
		t.Error("bad base64 body accepted")
	}
}

func TestLogHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	logger.InfoContext(ctx, "hello")
	logger.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["requestId"] != "req-123" || first["component"] != "test" {
		t.Errorf("first line = %v", first)
	}
	if _, ok := second["requestId"]; ok {
		t.Errorf("second line has a request id: %v", second)
	}
}

// TestWarmEvent: the canned event of Warm is a well-formed event whose every
// field is one of the event type's, with every object of the fixture events
// (so decoding it reaches the codecs a real event needs), and it goes
// through the adapter as a request.
func TestWarmEvent(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader(warmEvent))
	dec.DisallowUnknownFields()
	var ev events.APIGatewayV2HTTPRequest
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("warm event: %v", err)
	}
	for _, name := range []string{"access-with-cookies.json", "base64-body.json", "get-session.json", "login.json"} {
		var have map[string]any
		if err := json.Unmarshal(fixture(t, name), &have); err != nil {
			t.Fatal(err)
		}
		var warm map[string]any
		if err := json.Unmarshal(warmEvent, &warm); err != nil {
			t.Fatal(err)
		}
		if missing := missingObjects(have, warm, ""); len(missing) > 0 {
			t.Errorf("warm event lacks objects that %s has: %v", name, missing)
		}
	}
	var got *http.Request
	resp, err := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		http.NotFound(w, r)
	}))(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("warm event through the adapter: %d, %v", resp.StatusCode, err)
	}
	if got == nil || got.Method != http.MethodPost || got.URL.Path != "/w" || got.Header.Get("Cookie") != "w=1" {
		t.Errorf("warm event became %+v", got)
	}
	Warm() // and Warm itself runs it without a panic
}

// missingObjects lists the paths of the JSON objects and arrays in have that
// want lacks.
func missingObjects(have, want map[string]any, prefix string) []string {
	var out []string
	for k, v := range have {
		switch v := v.(type) {
		case map[string]any:
			w, ok := want[k].(map[string]any)
			if !ok {
				out = append(out, prefix+k)
				continue
			}
			out = append(out, missingObjects(v, w, prefix+k+".")...)
		case []any:
			if _, ok := want[k].([]any); !ok {
				out = append(out, prefix+k)
			}
		}
	}
	return out
}
