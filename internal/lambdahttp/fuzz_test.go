package lambdahttp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// FuzzEventFromJSON feeds arbitrary invocation payloads through the real
// Lambda JSON path and Handler: nothing panics, a malformed event is a 400,
// and a well-formed one reaches the handler with what the event said.
func FuzzEventFromJSON(f *testing.F) {
	for _, name := range []string{"get-session.json", "login.json", "access-with-cookies.json", "base64-body.json"} {
		b, err := fixtures.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(payload, &ev) != nil {
			return
		}
		var reached *http.Request
		var body []byte
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached = r
			body, _ = io.ReadAll(r.Body)
			w.Header().Add("Set-Cookie", "a=1")
			_, _ = w.Write(body)
		})
		out, err := lambda.NewHandler(Handler(h)).Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not JSON: %v", err)
		}
		if reached == nil {
			if resp.StatusCode != 400 {
				t.Fatalf("handler not reached but status %d", resp.StatusCode)
			}
			return
		}
		if resp.StatusCode != 200 || len(resp.Cookies) != 1 || resp.Headers["Set-Cookie"] != "" {
			t.Fatalf("response %+v", resp)
		}
		if reached.Method != ev.RequestContext.HTTP.Method {
			t.Fatalf("method %q, event %q", reached.Method, ev.RequestContext.HTTP.Method)
		}
		if ev.RawPath != "" {
			if want, err := url.PathUnescape(ev.RawPath); err != nil || reached.URL.Path != want {
				t.Fatalf("path %q, event %q (%v)", reached.URL.Path, ev.RawPath, err)
			}
		}
		if reached.URL.RawQuery != ev.RawQueryString {
			t.Fatalf("query %q, event %q", reached.URL.RawQuery, ev.RawQueryString)
		}
		if len(ev.Cookies) > 0 && reached.Header.Get("Cookie") != strings.Join(ev.Cookies, "; ") {
			t.Fatalf("cookie header %q, event %q", reached.Header.Get("Cookie"), ev.Cookies)
		}
		if int64(len(body)) != reached.ContentLength {
			t.Fatalf("read %d body bytes, ContentLength %d", len(body), reached.ContentLength)
		}
		// The request converts back into an event without error.
		if _, err := EventFromRequest(reached); err != nil {
			t.Fatalf("EventFromRequest: %v", err)
		}
	})
}
