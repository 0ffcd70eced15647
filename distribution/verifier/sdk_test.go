package verifier

import (
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	cfsdk "github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"
)

// TestAWSSDKGoSigner checks the verifier against AWS's Go signer
// (feature/cloudfront/sign): canned and custom URLs, canned and custom cookies.
func TestAWSSDKGoSigner(t *testing.T) {
	base := "https://" + domain
	priv := privateKey(t, rsaID).(*rsa.PrivateKey)
	exp := testNow.Add(10 * time.Minute)
	pdf := base + "/courses/intro-to-hls/ebook.pdf?v=2&lang=en"
	seg := base + "/courses/intro-to-hls/ts/seg1.ts"
	keys := trusted(t, rsaID)

	us := cfsdk.NewURLSigner(rsaID, priv)
	canned, err := us.Sign(pdf, exp)
	if err != nil {
		t.Fatal(err)
	}
	policy := &cfsdk.Policy{Statements: []cfsdk.Statement{{
		Resource: base + "/courses/intro-to-hls/*",
		Condition: cfsdk.Condition{
			DateLessThan:    cfsdk.NewAWSEpochTime(exp),
			DateGreaterThan: cfsdk.NewAWSEpochTime(testNow.Add(-time.Minute)),
			IPAddress:       &cfsdk.IPAddress{SourceIP: "192.0.2.0/24"},
		},
	}}}
	custom, err := us.SignWithPolicy(pdf, policy)
	if err != nil {
		t.Fatal(err)
	}
	cs := cfsdk.NewCookieSigner(rsaID, priv)
	header := func(url string, withPolicy bool) string {
		t.Helper()
		var cks []*http.Cookie
		var err error
		if withPolicy {
			cks, err = cs.SignWithPolicy(policy)
		} else {
			cks, err = cs.Sign(url, exp)
		}
		if err != nil {
			t.Fatal(err)
		}
		var pairs []string
		for _, c := range cks {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
		return strings.Join(pairs, "; ")
	}
	customCookie := header("", true)
	cannedCookie := header(pdf, false)

	v := New(Options{})
	for _, tt := range []struct {
		name, url, cookie, ip string
		code, policy          string
	}{
		{"canned-url", canned, "", "", "", "canned"},
		{"canned-url-query-changed", strings.Replace(canned, "lang=en", "lang=de", 1), "", "", CodeAccessDenied, "canned"},
		{"custom-url", custom, "", "192.0.2.1", "", "custom"},
		{"custom-url-ip-outside", custom, "", "192.0.3.1", CodeAccessDenied, "custom"},
		{"custom-cookie", seg, customCookie, "192.0.2.1", "", "custom"},
		{"custom-cookie-other-course", base + "/courses/other/ts/seg1.ts", customCookie, "192.0.2.1", CodeAccessDenied, "custom"},
		// The SDK's CookieSigner.Sign sends the canned-shaped policy as
		// CloudFront-Policy (there is no CloudFront-Expires cookie), so
		// CloudFront treats it as a custom policy.
		{"canned-shaped-cookie", pdf, cannedCookie, "", "", "custom"},
		{"canned-shaped-cookie-other-object", seg, cannedCookie, "", CodeAccessDenied, "custom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := NewRequest(tt.url, tt.cookie, tt.ip, testNow)
			if err != nil {
				t.Fatal(err)
			}
			d := v.Verify(req, keys)
			if d.Code != tt.code || d.Policy != tt.policy {
				t.Errorf("decision %+v, want code %q policy %q", d, tt.code, tt.policy)
			}
		})
	}
}
