package verifier

import (
	"crypto"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMatchResource(t *testing.T) {
	tests := []struct {
		name, pattern, url string
		want               bool
	}{
		{"exact", "https://a.test/x/y.ts", "https://a.test/x/y.ts", true},
		{"exact-differs", "https://a.test/x/y.ts", "https://a.test/x/z.ts", false},
		{"star-alone", "*", "http://anything.test/at/all?q=1", true},
		{"trailing-star-path", "https://a.test/x/*", "https://a.test/x/y/z.ts", true},
		{"trailing-star-covers-query", "https://a.test/x/*", "https://a.test/x/y.ts?a=b&c=d", true},
		{"trailing-star-not-sibling", "https://a.test/x/*", "https://a.test/xy/z.ts", false},
		{"inner-star-no-query", "https://a.test/x/*.ts", "https://a.test/x/y.ts?a=b", false},
		{"inner-star-spans-slash", "https://a.test/*/z.ts", "https://a.test/x/y/z.ts", true},
		{"two-stars", "https://a.test/*/*.ts", "https://a.test/x/y/z.ts", true},
		{"two-stars-miss", "https://a.test/*/*.ts", "https://a.test/z.ts", false},
		{"question-one", "https://a.test/seg?.ts", "https://a.test/seg1.ts", true},
		{"question-not-two", "https://a.test/seg?.ts", "https://a.test/seg12.ts", false},
		{"question-literal-query-separator", "https://a.test/a.ts?v=1", "https://a.test/a.ts?v=1", true},
		{"question-not-across-host-and-path", "https://a.test?x", "https://a.test/x", false},
		{"question-not-across-scheme-and-host", "https?//a.test/x", "https://a.test/x", false},
		{"question-first-host-char", "https://?.test/x", "https://a.test/x", true},
		{"query-differs", "https://a.test/a.ts?v=1", "https://a.test/a.ts?v=2", false},
		{"query-star", "https://a.test/a.ts?*", "https://a.test/a.ts?v=2&w=3", true},
		{"query-star-requires-query-or-char", "https://a.test/a.ts?*", "https://a.test/a.ts", false},
		{"host-star", "https://*.a.test/x", "https://cdn.eu.a.test/x", true},
		{"host-star-not-into-path", "https://*.a.test/x", "https://evil.test/.a.test/x", false},
		{"host-star-with-port", "https://a.test*/x", "https://a.test:8443/x", true},
		{"host-star-not-past-slash", "https://a.test*/x", "https://a.test/y/x", false},
		{"scheme-star", "http*://a.test/x", "https://a.test/x", true},
		{"scheme-star-http", "http*://a.test/x", "http://a.test/x", true},
		{"scheme-star-not-into-host", "h*.test/x", "https://a.test/x", false},
		{"scheme-trailing-star", "http*", "https://a.test/x", false},
		// A trailing '*' in the domain implies '*' in the path and the query
		// ("Create a signed URL using a custom policy": http://example.com* is
		// http://example.com*/*\?*), and covers hosts that start with the text.
		{"host-trailing-star", "https://*", "https://a.test/x", true},
		{"host-trailing-star-query", "https://*", "https://a.test/x/y.ts?a=b&c=/d", true},
		{"host-trailing-star-root", "https://*", "https://a.test/", true},
		{"host-trailing-star-not-other-scheme", "https://*", "http://a.test/x", false},
		{"domain-trailing-star", "https://d111111abcdef8.cloudfront.net*", "https://d111111abcdef8.cloudfront.net/training/a.pdf?v=1", true},
		{"domain-trailing-star-port", "https://d111111abcdef8.cloudfront.net*", "https://d111111abcdef8.cloudfront.net:8443/a", true},
		{"domain-trailing-star-host-prefix", "https://d111111abcdef8.cloudfront.net*", "https://d111111abcdef8.cloudfront.net.evil.test/a", true},
		{"domain-trailing-star-other-host", "https://d111111abcdef8.cloudfront.net*", "https://d222222abcdef8.cloudfront.net/a", false},
		{"domain-trailing-star-host-in-path", "https://d111111abcdef8.cloudfront.net*", "https://evil.test/d111111abcdef8.cloudfront.net/a", false},
		{"domain-no-trailing-star-host-prefix", "https://d111111abcdef8.cloudfront.net/*", "https://d111111abcdef8.cloudfront.net.evil.test/a", false},
		{"domain-no-star-needs-path", "https://d111111abcdef8.cloudfront.net", "https://d111111abcdef8.cloudfront.net/", false},
		{"scheme-star-domain-trailing-star", "http*://a.test*", "http://a.test/x?y", true},
		{"scheme-star-domain-trailing-star-https", "http*://a.test*", "https://a.test:8443/x", true},
		{"scheme-star-domain-trailing-star-other", "http*://a.test*", "https://b.test/a.test", false},
		{"inner-host-star-and-trailing-star", "https://*.a.test*", "https://cdn.a.test/x?y", true},
		{"inner-host-star-not-into-path-with-trailing-star", "https://*.a.test*", "https://evil.test/x.a.test", false},
		{"half-separator-star", "https:/*", "https://a.test/x", false},
		// A pattern may omit the protocol and start with '*' in the domain:
		// "*example.com" is "*://*example.com/".
		{"no-protocol-star-domain", "*example.com", "https://www.example.com/", true},
		{"no-protocol-star-domain-http", "*example.com", "http://example.com/", true},
		{"no-protocol-star-domain-root-only", "*example.com", "https://www.example.com/x", false},
		{"no-protocol-star-domain-other", "*example.com", "https://www.example.net/", false},
		{"no-protocol-star-domain-path", "*example.com/a/*", "https://cdn.example.com/a/b?c", true},
		{"no-protocol-star-domain-path-other", "*example.com/a/*", "https://cdn.example.com/b/a", false},
		{"no-protocol-star-domain-trailing-star", "*example.com*", "https://cdn.example.com/x?y", true},
		{"no-protocol-without-star", "example.com/*", "https://example.com/x", false},
		{"star-protocol", "*://a.test/x", "http://a.test/x", true},
		{"other-protocol", "ftp://a.test/*", "https://a.test/x", false},
		// The guide's examples.
		{"guide-hello-world", "https://www.example.com/hello*world", "https://www.example.com/hello-world", true},
		{"guide-hello-world-empty", "https://www.example.com/hello*world", "https://www.example.com/helloworld", true},
		{"guide-hello-world-other-domain-query", "https://www.example.com/hello*world", "https://www.example.net/hello?world", false},
		{"guide-hello-world-query", "https://www.example.com/hello*world", "https://www.example.com/hello?world", false},
		{"guide-hello-star-query", "http://example.com/hello*", "http://example.com/hello/a?b=c", true},
		{"guide-game-download", "https://d111111abcdef8.cloudfront.net/*game_download.zip*", "https://d111111abcdef8.cloudfront.net/game_download.zip", true},
		{"guide-game-download-query", "https://d111111abcdef8.cloudfront.net/*game_download.zip*", "https://d111111abcdef8.cloudfront.net/example_game_download.zip?license=yes", true},
		{"guide-game-download-temp", "https://d111111abcdef8.cloudfront.net/*game_download.zip*", "https://d111111abcdef8.cloudfront.net/test_game_download.zip?license=temp", true},
		{"guide-query-resource", "https://d111111abcdef8.cloudfront.net/images/horizon.jpg?size=large&license=yes", "https://d111111abcdef8.cloudfront.net/images/horizon.jpg?size=large&license=yes", true},
		{"escaped-query-separator", "https://a.test/a.ts\\?v=1", "https://a.test/a.ts?v=1", false},
		{"question-mark-without-query", "https://a.test/a.ts?", "https://a.test/a.ts", false},
		{"path-star-not-into-query", "https://a.test/*/z", "https://a.test/x?q=/z", false},
		{"query-star-not-back", "https://a.test/a?*", "https://a.test/a", false},
		{"case-sensitive", "https://a.test/X", "https://a.test/x", false},
		{"empty-path-star", "https://a.test/*", "https://a.test/", true},
		{"not-a-url", "https://a.test/*", "a.test/x", false},
		{"backtracking", "https://a.test/*a*a*a*a*b", "https://a.test/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchResource(tt.pattern, tt.url); got != tt.want {
				t.Errorf("MatchResource(%q, %q) = %v, want %v", tt.pattern, tt.url, got, tt.want)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	ok := `{"Statement":[{"Resource":"https://a.test/*","Condition":{"DateLessThan":{"AWS:EpochTime":1800000000},"DateGreaterThan":{"AWS:EpochTime":1700000000},"IpAddress":{"AWS:SourceIp":"192.0.2.77/24"}}}]}`
	p, err := ParsePolicy([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if p.Resource != "https://a.test/*" || !p.HasResource || p.DateLessThan != 1800000000 || !p.HasDateGreaterThan ||
		p.DateGreaterThan != 1700000000 || p.SourceIP != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("parsed %+v", p)
	}
	bad := []struct{ name, policy string }{
		{"empty", ``},
		{"array", `[]`},
		{"unknown-top", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}],"Version":"2012-10-17"}`},
		{"statement-object", `{"Statement":{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}}`},
		{"no-condition", `{"Statement":[{"Resource":"*"}]}`},
		{"resource-number", `{"Statement":[{"Resource":1,"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`},
		{"empty-resource", `{"Statement":[{"Resource":"","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`},
		{"negative", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":-1}}}]}`},
		{"exponent", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1e9}}}]}`},
		{"overflow", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":99999999999999999999}}}]}`},
		{"epoch-key-case", `{"Statement":[{"Condition":{"DateLessThan":{"aws:epochtime":1}}}]}`},
		{"extra-epoch-member", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1,"x":2}}}]}`},
		{"ip-not-string", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":["192.0.2.1"]}}}]}`},
		{"duplicate-statement-key", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}],"Statement":[]}`},
		{"duplicate-resource", `{"Statement":[{"Resource":"a","Resource":"*","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`},
		{"unclosed", `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]`},
		{"not-utf8", "{\"Statement\":[{\"Resource\":\"https://a.test/\xff\",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":1}}}]}"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := ParsePolicy([]byte(tt.policy)); err == nil {
				t.Errorf("ParsePolicy(%s) = %+v, want an error", tt.policy, p)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"cloudfront-alphabet", "-~_~", "\xfb\xff\xff", false},
		{"padding", "YQ__", "a", true},
		{"std-alphabet", "YQ==", "a", true},
		{"no-padding", "YQ", "", false},
		{"bad-char", "Y!==", "", false},
		{"nonzero-trailing-bits", "YR__", "", false},
		{"empty", "", "", true},
		{"space", "YQ _", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Decode(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && string(got) != tt.want {
				t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	b, err := Decode(enc([]byte{0xfb, 0xff, 0xbf}))
	if err != nil || string(b) != "\xfb\xff\xbf" {
		t.Errorf("round trip: %x %v", b, err)
	}
}

func TestWriteError(t *testing.T) {
	for _, code := range []string{CodeMissingKey, CodeInvalidKey, CodeMalformedSignature, CodeMalformedPolicy, CodeAccessDenied} {
		t.Run(code, func(t *testing.T) {
			rec := httptest.NewRecorder()
			deny(code, "operator detail").WriteError(rec)
			if rec.Code != http.StatusForbidden {
				t.Errorf("status = %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != "text/xml" {
				t.Errorf("Content-Type = %q", got)
			}
			want := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + Message(code) + `</Message></Error>`
			if got := rec.Body.String(); got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if strings.Contains(rec.Body.String(), "operator detail") {
				t.Error("the reason reached the viewer")
			}
		})
	}
	t.Run("messages", func(t *testing.T) {
		want := map[string]string{
			CodeMissingKey: "Missing Key-Pair-Id query parameter or cookie value", CodeInvalidKey: "Unknown Key",
			CodeMalformedSignature: "Could not unencode Signature", CodeMalformedPolicy: "Malformed Policy", CodeAccessDenied: "Access denied",
		}
		for c, m := range want {
			if Message(c) != m {
				t.Errorf("Message(%s) = %q, want %q", c, Message(c), m)
			}
		}
	})
	t.Run("allowed-writes-nothing", func(t *testing.T) {
		rec := httptest.NewRecorder()
		Decision{Allowed: true}.WriteError(rec)
		if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
			t.Errorf("wrote %q", rec.Body.String())
		}
	})
}

func TestFromHTTP(t *testing.T) {
	r := httptest.NewRequest("GET", "/courses/a/seg%201.ts?b=2&a=1&a=0&Z", nil)
	r.Host = "cdn.example.com:8443"
	r.RemoteAddr = "[::ffff:192.0.2.9]:51234"
	r.Header.Add("Cookie", "CloudFront-Signature=first; x=1")
	r.Header.Add("Cookie", "CloudFront-Signature=second")
	req := FromHTTP(r, "https", testNow)
	if got, want := req.URL.String(), "https://cdn.example.com:8443/courses/a/seg%201.ts?b=2&a=1&a=0&Z"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got, want := req.SourceIP, netip.MustParseAddr("192.0.2.9"); got != want {
		t.Errorf("SourceIP = %v, want %v", got, want)
	}
	var names []string
	for _, c := range req.Cookies {
		names = append(names, c.Name+"="+c.Value)
	}
	if got, want := strings.Join(names, ","), "CloudFront-Signature=first,x=1,CloudFront-Signature=second"; got != want {
		t.Errorf("cookies = %s, want %s", got, want)
	}
	if !req.Now.Equal(testNow) {
		t.Errorf("Now = %v", req.Now)
	}
	for _, tt := range []struct{ in, want string }{{"192.0.2.1:80", "192.0.2.1"}, {"[2001:db8::1]:443", "2001:db8::1"}, {"192.0.2.1", "192.0.2.1"}, {"garbage", "invalid IP"}} {
		if got := ParseRemoteAddr(tt.in).String(); got != tt.want {
			t.Errorf("ParseRemoteAddr(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestFromHTTPVerifies runs a real HTTP request through FromHTTP and Verify.
func TestFromHTTPVerifies(t *testing.T) {
	exp := testNow.Add(time.Hour)
	cookie := cookieSet{keyID: rsaID, policy: policyJSON("https://127.0.0.1*/courses/intro-to-hls/*", exp, `,"IpAddress":{"AWS:SourceIp":"127.0.0.0/8"}`)}.header(t)
	v := New(Options{})
	keys := trusted(t, rsaID)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := v.Verify(FromHTTP(r, "https", testNow), keys)
		if !d.Allowed {
			d.WriteError(w)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	for _, tt := range []struct {
		path string
		want int
	}{{"/courses/intro-to-hls/ts/seg1.ts?x=1", 200}, {"/courses/advanced-streaming/ts/seg1.ts", 403}} {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestParseCookieHeader(t *testing.T) {
	got := ParseCookieHeader(`a=1; CloudFront-Policy=x_y~; a=2; bad cookie; b="q"`)
	var s []string
	for _, c := range got {
		s = append(s, c.Name+"="+c.Value)
	}
	if g, w := strings.Join(s, ","), "a=1,CloudFront-Policy=x_y~,a=2,b=q"; g != w {
		t.Errorf("cookies = %s, want %s", g, w)
	}
}

func TestNewRequest(t *testing.T) {
	if _, err := NewRequest("/relative", "", "", testNow); err == nil {
		t.Error("relative URL accepted")
	}
	if _, err := NewRequest("https://a.test/x", "", "not-an-ip", testNow); err == nil {
		t.Error("bad IP accepted")
	}
	r, err := NewRequest("https://a.test/x?y", "a=b", "::ffff:192.0.2.1", testNow)
	if err != nil || r.SourceIP != netip.MustParseAddr("192.0.2.1") || len(r.Cookies) != 1 {
		t.Errorf("NewRequest = %+v, %v", r, err)
	}
}

func TestVerifyBadRequests(t *testing.T) {
	v := New(Options{})
	keys := trusted(t, rsaID)
	for _, tt := range []struct {
		name string
		req  Request
	}{
		{"nil-url", Request{Now: testNow}},
		{"relative-url", Request{URL: mustURL(t, "/x"), Now: testNow}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := v.Verify(tt.req, keys); d.Allowed || d.Code != CodeAccessDenied {
				t.Errorf("decision %+v", d)
			}
		})
	}
	t.Run("nil-keys", func(t *testing.T) {
		req, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", cookieSet{keyID: rsaID, policy: policyJSON("*", testNow.Add(time.Hour), "")}.header(t), "", testNow)
		if d := v.Verify(req, nil); d.Code != CodeInvalidKey {
			t.Errorf("decision %+v", d)
		}
	})
	t.Run("unsupported-key-type", func(t *testing.T) {
		req, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", cookieSet{keyID: rsaID, policy: policyJSON("*", testNow.Add(time.Hour), "")}.header(t), "", testNow)
		if d := v.Verify(req, KeyMap{rsaID: []byte("not a key")}); d.Allowed || d.Code != CodeAccessDenied {
			t.Errorf("decision %+v", d)
		}
	})
}

func TestCache(t *testing.T) {
	exp := testNow.Add(time.Hour)
	cookie := cookieSet{keyID: rsaID, policy: policyJSON("https://"+domain+"/courses/intro-to-hls/*", exp, "")}.header(t)
	req := func(path string, now time.Time) Request {
		r, err := NewRequest("https://"+domain+path, cookie, "", now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("hit-still-checks-resource-and-time", func(t *testing.T) {
		v := New(Options{})
		keys := trusted(t, rsaID)
		if d := v.Verify(req("/courses/intro-to-hls/a.ts", testNow), keys); !d.Allowed {
			t.Fatal(d.Reason)
		}
		if v.CacheLen() != 1 {
			t.Fatalf("cache len %d", v.CacheLen())
		}
		if d := v.Verify(req("/courses/intro-to-hls/b.ts", testNow), keys); !d.Allowed {
			t.Fatal(d.Reason)
		}
		if v.CacheLen() != 1 {
			t.Errorf("second segment added an entry: %d", v.CacheLen())
		}
		if d := v.Verify(req("/courses/other/b.ts", testNow), keys); d.Allowed {
			t.Error("cached policy allowed another course")
		}
		if d := v.Verify(req("/courses/intro-to-hls/b.ts", exp), keys); d.Allowed {
			t.Error("cached policy allowed after expiry")
		}
	})
	t.Run("removed-key-denies-at-once", func(t *testing.T) {
		v := New(Options{})
		keys := trusted(t, rsaID)
		if d := v.Verify(req("/courses/intro-to-hls/a.ts", testNow), keys); !d.Allowed {
			t.Fatal(d.Reason)
		}
		delete(keys, rsaID)
		if d := v.Verify(req("/courses/intro-to-hls/a.ts", testNow), keys); d.Code != CodeInvalidKey {
			t.Errorf("after removal: %+v", d)
		}
	})
	t.Run("replaced-key-misses", func(t *testing.T) {
		v := New(Options{})
		keys := trusted(t, rsaID)
		if d := v.Verify(req("/courses/intro-to-hls/a.ts", testNow), keys); !d.Allowed {
			t.Fatal(d.Reason)
		}
		keys[rsaID] = publicKey(t, otherID) // same id, another key
		if d := v.Verify(req("/courses/intro-to-hls/a.ts", testNow), keys); d.Allowed || d.Code != CodeAccessDenied {
			t.Errorf("after replacement: %+v", d)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		v := New(Options{CacheSize: 3})
		keys := trusted(t, rsaID)
		for i := 0; i < 10; i++ {
			c := cookieSet{keyID: rsaID, policy: policyJSON("https://"+domain+"/courses/intro-to-hls/*", exp.Add(time.Duration(i)*time.Second), "")}.header(t)
			r, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", c, "", testNow)
			if d := v.Verify(r, keys); !d.Allowed {
				t.Fatal(d.Reason)
			}
		}
		if n := v.CacheLen(); n != 3 {
			t.Errorf("cache len %d, want 3", n)
		}
	})
	t.Run("failures-not-cached", func(t *testing.T) {
		v := New(Options{})
		r, _ := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts", cookie, "", testNow)
		if d := v.Verify(r, KeyMap{rsaID: publicKey(t, otherID)}); d.Allowed {
			t.Fatal("wrong key allowed")
		}
		if v.CacheLen() != 0 {
			t.Errorf("a failed verification was cached")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		v := New(Options{CacheSize: 8})
		keys := trusted(t, rsaID, ecID)
		var cookies []string
		for i := 0; i < 16; i++ {
			cookies = append(cookies, cookieSet{keyID: rsaID, policy: policyJSON("https://"+domain+"/courses/intro-to-hls/*", exp.Add(time.Duration(i)*time.Second), "")}.header(t))
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					c := cookies[(g+i)%len(cookies)]
					path := "/courses/intro-to-hls/a.ts"
					want := true
					if i%5 == 0 {
						path, want = "/courses/x/a.ts", false
					}
					r, _ := NewRequest("https://"+domain+path, c, "", testNow)
					if d := v.Verify(r, keys); d.Allowed != want {
						t.Errorf("goroutine %d: %+v", g, d)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestEveryTamperedByteDenied flips each byte of a signed policy and of its
// signature, one at a time: no variant is accepted.
func TestEveryTamperedByteDenied(t *testing.T) {
	pol := []byte(policyJSON("https://"+domain+"/courses/intro-to-hls/*", testNow.Add(time.Hour), ""))
	v := New(Options{})
	keys := trusted(t, rsaID, ecID)
	for _, tt := range []struct {
		name, keyID string
		hash        crypto.Hash
		hashCookie  string
	}{
		{"rsa-sha1", rsaID, crypto.SHA1, ""},
		{"ecdsa-sha256", ecID, crypto.SHA256, "; CloudFront-Hash-Algorithm=SHA256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sig := sign(t, tt.keyID, tt.hash, pol)
			try := func(p, s []byte) Decision {
				req, err := NewRequest("https://"+domain+"/courses/intro-to-hls/a.ts",
					"CloudFront-Policy="+enc(p)+"; CloudFront-Signature="+enc(s)+"; CloudFront-Key-Pair-Id="+tt.keyID+tt.hashCookie, "", testNow)
				if err != nil {
					t.Fatal(err)
				}
				return v.Verify(req, keys)
			}
			if d := try(pol, sig); !d.Allowed {
				t.Fatalf("original refused: %+v", d)
			}
			for i := range pol {
				p := append([]byte(nil), pol...)
				p[i] ^= 0x01
				if d := try(p, sig); d.Allowed {
					t.Fatalf("policy byte %d flipped: allowed", i)
				}
			}
			for i := range sig {
				s := append([]byte(nil), sig...)
				s[i] ^= 0x01
				if d := try(pol, s); d.Allowed {
					t.Fatalf("signature byte %d flipped: allowed", i)
				}
			}
		})
	}
}
