package verifier_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/cfgate/cfgate/distribution/verifier"
)

// A request for a signed path without cookies or signed URL parameters gets
// CloudFront's MissingKey response; the operator gets the reason.
func ExampleVerifier_Verify() {
	keys, err := verifier.LoadDir(filepath.Join("testdata", "keys"))
	if err != nil {
		panic(err)
	}
	v := verifier.New(verifier.Options{})
	r := httptest.NewRequest("GET", "/courses/intro-to-hls/ts/seg1.ts", nil)
	r.Host = "d111111abcdef8.cloudfront.net"
	d := v.Verify(verifier.FromHTTP(r, "https", time.Now()), keys)
	fmt.Println(d.Allowed, d.Code, "-", d.Reason)

	w := httptest.NewRecorder()
	d.WriteError(w)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Println(w.Body.String())
	// Output:
	// false MissingKey - no signed URL parameters and no CloudFront cookies
	// 403 text/xml
	// <?xml version="1.0" encoding="UTF-8"?><Error><Code>MissingKey</Code><Message>Missing Key-Pair-Id query parameter or cookie value</Message></Error>
}

// Replaying a request from a URL and a raw Cookie header, as keys explain does.
func ExampleNewRequest() {
	keys := verifier.KeyMap{} // no trusted keys
	req, err := verifier.NewRequest(
		"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/ts/seg1.ts",
		"CloudFront-Policy=e30_; CloudFront-Signature=AAAA; CloudFront-Key-Pair-Id=K2JCJMDEHXQW5F",
		"192.0.2.7", time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	d := verifier.New(verifier.Options{}).Verify(req, keys)
	fmt.Println(d.Code, d.Message)
	fmt.Println(d.Reason)
	fmt.Println(d.Source, d.KeyPairID)
	// Output:
	// InvalidKey Unknown Key
	// key pair id K2JCJMDEHXQW5F is not in the behavior's trusted key groups
	// cookie K2JCJMDEHXQW5F
}
