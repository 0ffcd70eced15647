package verifier

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/cases.json from the table")

// Case is one table-test case in the form testdata/cases.json stores it, so
// that other tools (keys explain) can replay it: build the request with
// NewRequest(URL, Cookie, SourceIP, Now), trust Keys (key pair id → PEM file
// relative to testdata/), verify, and expect Code ("" means allowed).
type Case struct {
	Name     string            `json:"name"`
	Rule     int               `json:"rule"` // numbered rule of the verifier (README: "How CloudFront checks a signed request")
	URL      string            `json:"url"`
	Cookie   string            `json:"cookie,omitempty"`
	SourceIP string            `json:"sourceIp,omitempty"`
	Now      time.Time         `json:"now"`
	Keys     map[string]string `json:"keys"`
	Code     string            `json:"code"`             // "" when allowed
	Reason   string            `json:"reason,omitempty"` // a substring of Decision.Reason
	Source   string            `json:"source,omitempty"` // expected Decision.Source when set
	Policy   string            `json:"policy,omitempty"` // expected Decision.Policy when set
}

func keyFiles(ids ...string) map[string]string {
	m := map[string]string{}
	for _, id := range ids {
		m[id] = "keys/" + id + ".pem"
	}
	return m
}

// buildCases signs every case with crypto/rsa and crypto/ecdsa directly.
func buildCases(t testing.TB) []Case {
	t.Helper()
	base := "https://" + domain
	seg := base + "/courses/intro-to-hls/ts/seg1.ts"
	course := base + "/courses/intro-to-hls/*"
	exp := testNow.Add(10 * time.Minute)
	group := keyFiles(rsaID, ecID) // the behavior's trusted key group

	// rsa1 is a custom-policy cookie set signed RSA/SHA-1 by rsaID.
	rsa1 := func(resource, extra string) string {
		return cookieSet{keyID: rsaID, policy: policyJSON(resource, exp, extra)}.header(t)
	}
	rawPolicy := func(policy string) string {
		return cookieSet{keyID: rsaID, policy: policy}.header(t)
	}
	valid := rsa1(course, "")
	stdAlphabet := func() string {
		p := []byte(policyJSON(course, exp, ""))
		sig := base64.StdEncoding.EncodeToString(sign(t, rsaID, crypto.SHA1, p))
		return "CloudFront-Policy=" + enc(p) + "; CloudFront-Signature=" + sig + "; CloudFront-Key-Pair-Id=" + rsaID
	}
	wildcard := func(name, resource, url, code string) Case {
		c := Case{Name: name, Rule: 8, URL: url, Cookie: rsa1(resource, ""), Keys: group, Code: code}
		if code != "" {
			c.Reason = "does not match"
		}
		return c
	}
	tampered := func() string {
		p := []byte(policyJSON(course, exp, ""))
		sig := sign(t, rsaID, crypto.SHA1, p)
		i := strings.Index(string(p), "intro")
		p[i] = 'I' // one byte changed after signing
		return "CloudFront-Policy=" + enc(p) + "; CloudFront-Signature=" + enc(sig) + "; CloudFront-Key-Pair-Id=" + rsaID
	}
	tamperedSig := func() string {
		p := []byte(policyJSON(course, exp, ""))
		sig := sign(t, rsaID, crypto.SHA1, p)
		sig[10] ^= 0x01
		return "CloudFront-Policy=" + enc(p) + "; CloudFront-Signature=" + enc(sig) + "; CloudFront-Key-Pair-Id=" + rsaID
	}
	pdf := base + "/courses/intro-to-hls/ebook.pdf"
	// reordered is a signed URL for pdf with the guide's parameters in
	// another order and the viewer's own parameter last.
	reordered := func(policy string) string {
		p := []byte(policy)
		return pdf + "?Key-Pair-Id=" + rsaID + "&Signature=" + enc(sign(t, rsaID, crypto.SHA1, p)) + "&Policy=" + enc(p) + "&size=medium"
	}

	cases := []Case{
		// Rule 3 and 6: custom-policy cookies.
		{Name: "allow/custom-cookie-rsa-sha1", Rule: 3, URL: seg, Cookie: valid, Keys: group, Source: "cookie", Policy: "custom"},
		{Name: "allow/custom-cookie-master-playlist", Rule: 3, URL: base + "/courses/intro-to-hls/ts/master.m3u8", Cookie: valid, Keys: group},
		{Name: "deny/no-signing-material", Rule: 3, URL: seg, Keys: group, Code: CodeMissingKey, Reason: "no signed URL parameters"},
		{Name: "deny/unrelated-cookies-only", Rule: 3, URL: seg, Cookie: "session=abc; theme=dark", Keys: group, Code: CodeMissingKey},
		{Name: "deny/missing-key-pair-id-cookie", Rule: 5, URL: seg, Cookie: strings.Replace(valid, "; CloudFront-Key-Pair-Id="+rsaID, "", 1), Keys: group, Code: CodeMissingKey, Reason: "CloudFront-Key-Pair-Id"},
		{Name: "deny/empty-key-pair-id-cookie", Rule: 5, URL: seg, Cookie: strings.Replace(valid, "CloudFront-Key-Pair-Id="+rsaID, "CloudFront-Key-Pair-Id=", 1), Keys: group, Code: CodeMissingKey},
		{Name: "deny/missing-signature-cookie", Rule: 6, URL: seg, Cookie: "CloudFront-Policy=" + enc([]byte(policyJSON(course, exp, ""))) + "; CloudFront-Key-Pair-Id=" + rsaID, Keys: group, Code: CodeAccessDenied, Reason: "CloudFront-Signature"},
		{Name: "deny/missing-policy-and-expires", Rule: 3, URL: seg, Cookie: "CloudFront-Signature=" + enc([]byte("x")) + "; CloudFront-Key-Pair-Id=" + rsaID, Keys: group, Code: CodeMalformedPolicy, Reason: "neither"},

		// Rule 7: time.
		{Name: "deny/expired", Rule: 7, URL: seg, Cookie: valid, Keys: group, Now: exp.Add(time.Second), Code: CodeAccessDenied, Reason: "expired at 2026-11-27T04:10:00Z"},
		{Name: "deny/expired-at-exactly-DateLessThan", Rule: 7, URL: seg, Cookie: valid, Keys: group, Now: exp, Code: CodeAccessDenied, Reason: "expired"},
		{Name: "allow/one-second-before-DateLessThan", Rule: 7, URL: seg, Cookie: valid, Keys: group, Now: exp.Add(-time.Second)},
		{Name: "allow/after-DateGreaterThan", Rule: 7, URL: seg, Cookie: rsa1(course, `,"DateGreaterThan":{"AWS:EpochTime":`+itoa(testNow.Add(-time.Minute).Unix())+`}`), Keys: group},
		{Name: "deny/not-yet-valid", Rule: 7, URL: seg, Cookie: rsa1(course, `,"DateGreaterThan":{"AWS:EpochTime":`+itoa(testNow.Add(time.Minute).Unix())+`}`), Keys: group, Code: CodeAccessDenied, Reason: "not valid until after"},
		{Name: "deny/at-exactly-DateGreaterThan", Rule: 7, URL: seg, Cookie: rsa1(course, `,"DateGreaterThan":{"AWS:EpochTime":`+itoa(testNow.Unix())+`}`), Keys: group, Code: CodeAccessDenied},

		// Rule 7: source IP.
		{Name: "allow/ip-inside-cidr", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}`), SourceIP: "203.0.113.7", Keys: group},
		{Name: "deny/ip-outside-cidr", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}`), SourceIP: "198.51.100.7", Keys: group, Code: CodeAccessDenied, Reason: "source IP 198.51.100.7 is outside 203.0.113.0/24"},
		{Name: "allow/ip-bare-address", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.7"}`), SourceIP: "203.0.113.7", Keys: group},
		{Name: "deny/ip-bare-address-other", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.7"}`), SourceIP: "203.0.113.8", Keys: group, Code: CodeAccessDenied},
		{Name: "allow/ip-slash-32", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.7/32"}`), SourceIP: "203.0.113.7", Keys: group},
		{Name: "allow/ip-ipv4-mapped-source", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}`), SourceIP: "::ffff:203.0.113.9", Keys: group},
		{Name: "deny/ip-ipv6-source", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}`), SourceIP: "2001:db8::1", Keys: group, Code: CodeAccessDenied},
		{Name: "deny/ip-no-source", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"}`), Keys: group, Code: CodeAccessDenied, Reason: "no source IP"},
		{Name: "deny/ip-ipv6-cidr-in-policy", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"2001:db8::/32"}`), SourceIP: "2001:db8::1", Keys: group, Code: CodeMalformedPolicy, Reason: "not IPv4"},
		{Name: "deny/ip-garbage-in-policy", Rule: 7, URL: seg, Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/33"}`), SourceIP: "203.0.113.7", Keys: group, Code: CodeMalformedPolicy},

		// Rule 7 and 8: resource.
		{Name: "deny/wrong-course", Rule: 8, URL: base + "/courses/advanced-streaming/ts/seg1.ts", Cookie: valid, Keys: group, Code: CodeAccessDenied,
			Reason: "resource " + course + " does not match " + base + "/courses/advanced-streaming/ts/seg1.ts"},
		{Name: "deny/course-prefix-is-not-a-course", Rule: 8, URL: base + "/courses/intro-to-hls-2/ts/seg1.ts", Cookie: valid, Keys: group, Code: CodeAccessDenied},
		{Name: "deny/other-host", Rule: 8, URL: "https://d222.cloudfront.net/courses/intro-to-hls/ts/seg1.ts", Cookie: valid, Keys: group, Code: CodeAccessDenied},
		{Name: "deny/other-scheme", Rule: 8, URL: "http://" + domain + "/courses/intro-to-hls/ts/seg1.ts", Cookie: valid, Keys: group, Code: CodeAccessDenied},
		wildcard("allow/trailing-star-covers-query", course, seg+"?v=2&x=%2F", ""),
		wildcard("allow/trailing-star-covers-empty-rest", course, base+"/courses/intro-to-hls/", ""),
		wildcard("deny/trailing-star-needs-the-slash", course, base+"/courses/intro-to-hls", CodeAccessDenied),
		wildcard("allow/star-then-suffix", base+"/courses/intro-to-hls/*.ts", seg, ""),
		wildcard("deny/star-then-suffix-other-suffix", base+"/courses/intro-to-hls/*.ts", base+"/courses/intro-to-hls/ts/master.m3u8", CodeAccessDenied),
		wildcard("deny/star-then-suffix-does-not-cover-query", base+"/courses/intro-to-hls/*.ts", seg+"?v=2", CodeAccessDenied),
		wildcard("allow/star-in-middle-spans-slashes", base+"/courses/*/seg1.ts", seg, ""),
		wildcard("deny/path-star-does-not-reach-query", base+"/courses/intro-to-hls/*/seg1.ts", base+"/courses/intro-to-hls/ts/x?y=/seg1.ts", CodeAccessDenied),
		wildcard("allow/question-mark-one-char", base+"/courses/intro-to-hls/ts/seg?.ts", seg, ""),
		wildcard("deny/question-mark-not-two-chars", base+"/courses/intro-to-hls/ts/seg?.ts", base+"/courses/intro-to-hls/ts/seg10.ts", CodeAccessDenied),
		wildcard("deny/question-mark-not-zero-chars", base+"/courses/intro-to-hls/ts/seg?.ts", base+"/courses/intro-to-hls/ts/seg.ts", CodeAccessDenied),
		wildcard("allow/host-star-subdomain", "https://*.cloudfront.net/courses/intro-to-hls/*", seg, ""),
		wildcard("deny/host-star-does-not-reach-path", "https://*.cloudfront.net/courses/intro-to-hls/*", "https://evil.test/x.cloudfront.net/courses/intro-to-hls/a", CodeAccessDenied),
		wildcard("deny/host-star-other-domain", "https://*.cloudfront.net/courses/intro-to-hls/*", "https://cdn.example.com/courses/intro-to-hls/ts/seg1.ts", CodeAccessDenied),
		wildcard("allow/scheme-star-https", "http*://"+domain+"/courses/intro-to-hls/*", seg, ""),
		wildcard("allow/scheme-star-http", "http*://"+domain+"/courses/intro-to-hls/*", "http://"+domain+"/courses/intro-to-hls/ts/seg1.ts", ""),
		// A trailing '*' in the domain implies '*' in the path and the query
		// ("Create a signed URL using a custom policy"); the guide's own
		// example Resource is "https://*".
		wildcard("allow/trailing-star-in-host-covers-path-and-query", "https://*", seg+"?v=2", ""),
		wildcard("deny/trailing-star-in-host-keeps-the-scheme", "https://*", "http://"+domain+"/courses/intro-to-hls/ts/seg1.ts", CodeAccessDenied),
		wildcard("allow/domain-trailing-star", base+"*", seg+"?v=2", ""),
		wildcard("allow/domain-trailing-star-host-prefix", base+"*", "https://"+domain+".evil.test/courses/x", ""),
		wildcard("deny/domain-trailing-star-other-host", base+"*", "https://d222222abcdef8.cloudfront.net/courses/intro-to-hls/ts/seg1.ts", CodeAccessDenied),
		wildcard("deny/domain-trailing-star-host-in-path", base+"*", "https://evil.test/"+domain+"/courses/intro-to-hls/ts/seg1.ts", CodeAccessDenied),
		wildcard("deny/domain-without-trailing-star-host-prefix", base+"/*", "https://"+domain+".evil.test/courses/x", CodeAccessDenied),
		wildcard("allow/scheme-star-and-domain-trailing-star", "http*://"+domain+"*", "http://"+domain+"/courses/intro-to-hls/ts/seg1.ts?v=2", ""),
		wildcard("deny/scheme-star-and-domain-trailing-star-other-host", "http*://"+domain+"*", "https://evil.test/"+domain, CodeAccessDenied),
		wildcard("deny/host-star-does-not-reach-path-before-trailing-star", "https://*.cloudfront.net*", "https://evil.test/x.cloudfront.net", CodeAccessDenied),
		wildcard("deny/trailing-star-in-scheme-only", "https*", seg, CodeAccessDenied),
		// A Resource may omit the protocol and start with '*' in the domain:
		// "*example.com" is "*://*example.com/".
		wildcard("allow/no-protocol-star-domain-path", "*.cloudfront.net/courses/intro-to-hls/*", seg, ""),
		wildcard("allow/no-protocol-star-domain-root", "*.cloudfront.net", base+"/", ""),
		wildcard("deny/no-protocol-star-domain-root-only", "*.cloudfront.net", seg, CodeAccessDenied),
		wildcard("deny/no-protocol-without-star", domain+"/courses/intro-to-hls/*", seg, CodeAccessDenied),
		wildcard("allow/star-protocol", "*://"+domain+"/courses/intro-to-hls/*", seg, ""),
		wildcard("deny/other-protocol", "ftp://"+domain+"/courses/intro-to-hls/*", seg, CodeAccessDenied),
		{Name: "allow/url-guide-example-https-star", Rule: 8, URL: signedURL(t, base+"/training/orientation.pdf", rsaID, "", 0,
			policyJSON("https://*", exp, `,"IpAddress":{"AWS:SourceIp":"192.0.2.10/32"},"DateGreaterThan":{"AWS:EpochTime":`+itoa(testNow.Add(-time.Hour).Unix())+`}`), 0),
			SourceIP: "192.0.2.10", Keys: group, Source: "url", Policy: "custom"},
		{Name: "allow/url-domain-trailing-star", Rule: 8, URL: signedURL(t, pdf+"?v=2", rsaID, "", 0, policyJSON(base+"*", exp, ""), 0), Keys: group, Source: "url"},
		{Name: "deny/url-domain-trailing-star-other-host", Rule: 8, URL: signedURL(t, "https://d222222abcdef8.cloudfront.net/courses/intro-to-hls/ebook.pdf", rsaID, "", 0, policyJSON(base+"*", exp, ""), 0),
			Keys: group, Code: CodeAccessDenied, Reason: "does not match"},
		wildcard("allow/resource-star-alone", "*", seg+"?a=b", ""),
		wildcard("allow/exact-object", seg, seg, ""),
		wildcard("deny/exact-object-with-query", seg, seg+"?v=2", CodeAccessDenied),
		wildcard("allow/literal-query", seg+"?token=a&v=2", seg+"?token=a&v=2", ""),
		wildcard("deny/literal-query-other-order", seg+"?token=a&v=2", seg+"?v=2&token=a", CodeAccessDenied),
		wildcard("allow/query-star", seg+"?*", seg+"?anything=at/all", ""),
		wildcard("deny/case-sensitive-path", base+"/Courses/intro-to-hls/*", seg, CodeAccessDenied),
		{Name: "allow/resource-omitted", Rule: 8, URL: "https://other.example/anything?x=1", Keys: group,
			Cookie: rawPolicy(`{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}}]}`)},

		// Rule 5: keys.
		{Name: "deny/unknown-key", Rule: 5, URL: seg, Cookie: strings.Replace(valid, rsaID, "KUNKNOWN000001", 1), Keys: group, Code: CodeInvalidKey, Reason: "KUNKNOWN000001"},
		{Name: "deny/key-of-another-group", Rule: 5, URL: seg, Cookie: cookieSet{keyID: otherID, policy: policyJSON(course, exp, "")}.header(t), Keys: group, Code: CodeInvalidKey},
		{Name: "allow/key-of-another-group-when-trusted", Rule: 5, URL: seg, Cookie: cookieSet{keyID: otherID, policy: policyJSON(course, exp, "")}.header(t), Keys: keyFiles(rsaID, ecID, otherID)},
		{Name: "deny/signed-by-other-key-under-trusted-id", Rule: 6, URL: seg, Cookie: cookieSet{keyID: rsaID, signer: otherID, policy: policyJSON(course, exp, "")}.header(t), Keys: group, Code: CodeAccessDenied, Reason: "does not verify"},

		// Rule 6: signature over the exact bytes.
		{Name: "deny/one-tampered-byte-in-policy", Rule: 6, URL: base + "/courses/Intro-to-hls/ts/seg1.ts", Cookie: tampered(), Keys: group, Code: CodeAccessDenied, Reason: "does not verify"},
		{Name: "deny/tampered-signature", Rule: 6, URL: seg, Cookie: tamperedSig(), Keys: group, Code: CodeAccessDenied, Reason: "does not verify"},
		{Name: "allow/whitespace-in-policy", Rule: 6, URL: seg, Keys: group,
			Cookie: rawPolicy("{ \r\n   \"Statement\": [{ \r\n      \"Resource\":\"" + course + "\", \r\n      \"Condition\":{ \r\n         \"DateLessThan\":{\"AWS:EpochTime\":" + itoa(exp.Unix()) + "}\r\n      } \r\n   }] \r\n}\r\n")},

		// Rule 4: encoding.
		{Name: "allow/standard-base64-alphabet", Rule: 4, URL: seg, Cookie: stdAlphabet(), Keys: group},
		{Name: "deny/malformed-base64-signature", Rule: 4, URL: seg, Cookie: "CloudFront-Policy=" + enc([]byte(policyJSON(course, exp, ""))) + "; CloudFront-Signature=abc!def; CloudFront-Key-Pair-Id=" + rsaID, Keys: group, Code: CodeMalformedSignature},
		{Name: "deny/truncated-base64-signature", Rule: 4, URL: seg, Cookie: strings.Replace(valid, "; CloudFront-Key-Pair-Id", "A; CloudFront-Key-Pair-Id", 1), Keys: group, Code: CodeMalformedSignature},
		{Name: "deny/malformed-base64-policy", Rule: 4, URL: seg, Cookie: "CloudFront-Policy=eyJ!!; CloudFront-Signature=" + enc([]byte("sig")) + "; CloudFront-Key-Pair-Id=" + rsaID, Keys: group, Code: CodeMalformedPolicy},

		// Rule 7: policy shape.
		{Name: "deny/two-statements", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "more than one statement",
			Cookie: rawPolicy(`{"Statement":[{"Resource":"` + course + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}},{"Resource":"` + base + `/*","Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}}]}`)},
		{Name: "deny/no-statement", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Cookie: rawPolicy(`{"Statement":[]}`)},
		{Name: "deny/missing-DateLessThan", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "missing DateLessThan",
			Cookie: rawPolicy(`{"Statement":[{"Resource":"` + course + `","Condition":{"DateGreaterThan":{"AWS:EpochTime":1}}}]}`)},
		{Name: "deny/quoted-DateLessThan", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy,
			Cookie: rawPolicy(`{"Statement":[{"Resource":"` + course + `","Condition":{"DateLessThan":{"AWS:EpochTime":"` + itoa(exp.Unix()) + `"}}}]}`)},
		{Name: "deny/fractional-DateLessThan", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy,
			Cookie: rawPolicy(`{"Statement":[{"Resource":"` + course + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `.5}}}]}`)},
		{Name: "deny/unknown-condition", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "unknown condition",
			Cookie: rsa1(course, `,"StringLike":{"aws:Referer":"x"}`)},
		{Name: "deny/duplicated-DateLessThan", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "duplicated",
			Cookie: rsa1(course, `,"DateLessThan":{"AWS:EpochTime":`+itoa(exp.Add(time.Hour).Unix())+`}`)},
		{Name: "deny/trailing-data", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Cookie: rawPolicy(policyJSON(course, exp, "") + "{}")},
		{Name: "deny/not-json", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Cookie: rawPolicy("not json")},

		// Rule-by-rule against "Create a signed URL using a custom policy" and
		// "Set signed cookies using a custom policy" (see the package doc).
		// Policy statement: UTF-8, names exactly as specified, one Resource
		// value, any order of the Condition members, IpAddress one address or
		// one range.
		{Name: "deny/policy-not-utf8", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "UTF-8",
			Cookie: rawPolicy(policyJSON(base+"/courses/intro-to-hls/\xff*", exp, ""))},
		{Name: "deny/abbreviated-condition-name", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "unknown condition",
			Cookie: rsa1(course, `,"IpAddr":{"AWS:SourceIp":"203.0.113.0/24"}`), SourceIP: "203.0.113.7"},
		{Name: "deny/statement-name-case", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy,
			Cookie: rawPolicy(`{"statement":[{"Resource":"` + course + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}}]}`)},
		{Name: "deny/resource-array", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, Reason: "Resource is not a string",
			Cookie: rawPolicy(`{"Statement":[{"Resource":["` + course + `","` + base + `/*"],"Condition":{"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}}]}`)},
		{Name: "allow/condition-order-as-in-guide", Rule: 7, URL: seg, Keys: group, SourceIP: "203.0.113.7",
			Cookie: rawPolicy(`{"Statement":[{"Resource":"` + course + `","Condition":{"IpAddress":{"AWS:SourceIp":"203.0.113.0/24"},"DateGreaterThan":{"AWS:EpochTime":` + itoa(testNow.Add(-time.Hour).Unix()) + `},"DateLessThan":{"AWS:EpochTime":` + itoa(exp.Unix()) + `}}}]}`)},
		{Name: "deny/quoted-DateGreaterThan", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy,
			Cookie: rsa1(course, `,"DateGreaterThan":{"AWS:EpochTime":"`+itoa(testNow.Add(-time.Hour).Unix())+`"}`)},
		{Name: "deny/ip-two-ranges-in-one-value", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, SourceIP: "203.0.113.7",
			Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":"203.0.113.0/24,198.51.100.0/24"}`)},
		{Name: "deny/ip-two-ranges-as-array", Rule: 7, URL: seg, Keys: group, Code: CodeMalformedPolicy, SourceIP: "203.0.113.7",
			Cookie: rsa1(course, `,"IpAddress":{"AWS:SourceIp":["203.0.113.0/24","198.51.100.0/24"]}`)},

		// Resource: optional in both; the query stays in it, question mark
		// only with a query and never escaped; an alternate domain must be the
		// request's.
		{Name: "allow/url-resource-omitted", Rule: 8, Keys: group, Source: "url",
			URL: signedURL(t, "https://other.example/anything?x=1", rsaID, "", 0, `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":`+itoa(exp.Unix())+`}}}]}`, 0)},
		wildcard("deny/resource-question-mark-without-query", pdf+"?", pdf, CodeAccessDenied),
		wildcard("deny/resource-escaped-query-separator", pdf+`\\?v=2`, pdf+"?v=2", CodeAccessDenied),
		wildcard("allow/resource-with-query", pdf+"?size=large&license=yes", pdf+"?size=large&license=yes", ""),
		wildcard("deny/alternate-domain-resource-on-distribution-domain", "https://www.example.com/courses/intro-to-hls/*", seg, CodeAccessDenied),

		// Signed URLs: the Resource is the URL without Policy, Signature,
		// Key-Pair-Id and Hash-Algorithm; the viewer's own query stays in it,
		// in any order relative to the signing parameters.
		{Name: "allow/url-resource-excludes-signing-params", Rule: 8, Keys: group, Source: "url",
			URL: signedURL(t, pdf, rsaID, "", crypto.SHA256, policyJSON(pdf, exp, ""), 0)},
		{Name: "allow/url-exact-resource-with-own-query", Rule: 8, Keys: group,
			URL: signedURL(t, pdf+"?color=red&size=medium", rsaID, "", 0, policyJSON(pdf+"?color=red&size=medium", exp, ""), 0)},
		{Name: "deny/url-exact-resource-own-query-changed", Rule: 8, Keys: group, Code: CodeAccessDenied, Reason: "does not match",
			URL: strings.Replace(signedURL(t, pdf+"?color=red&size=medium", rsaID, "", 0, policyJSON(pdf+"?color=red&size=medium", exp, ""), 0), "color=red", "color=blue", 1)},
		{Name: "allow/url-own-query-after-signing-params", Rule: 8, Keys: group,
			URL: signedURL(t, pdf, rsaID, "", 0, policyJSON(pdf+"?size=medium", exp, ""), 0) + "&size=medium"},
		{Name: "allow/url-signing-params-any-order", Rule: 2, Keys: group, Source: "url", URL: reordered(policyJSON(pdf+"?size=medium", exp, ""))},
		{Name: "allow/url-duplicated-param-first-wins", Rule: 2, Keys: group,
			URL: signedURL(t, pdf, rsaID, "", 0, policyJSON(course, exp, ""), 0) + "&Policy=e30_&Signature=AAAA"},
		{Name: "deny/url-duplicated-param-first-garbage", Rule: 2, Keys: group, Code: CodeAccessDenied, Reason: "does not verify",
			URL: strings.Replace(signedURL(t, pdf, rsaID, "", 0, policyJSON(course, exp, ""), 0), "?", "?Signature=AAAA&", 1)},

		// Hash-Algorithm: optional, SHA1 (the default) or SHA256, exactly.
		{Name: "allow/url-hash-algorithm-sha1-explicit", Rule: 5, Keys: group,
			URL: signedURL(t, pdf, rsaID, "", 0, policyJSON(course, exp, ""), 0) + "&Hash-Algorithm=SHA1"},
		{Name: "deny/url-hash-algorithm-lowercase", Rule: 5, Keys: group, Code: CodeAccessDenied, Reason: "neither SHA1 nor SHA256",
			URL: strings.Replace(signedURL(t, pdf, rsaID, "", crypto.SHA256, policyJSON(course, exp, ""), 0), "Hash-Algorithm=SHA256", "Hash-Algorithm=sha256", 1)},
		{Name: "deny/cookie-hash-algorithm-lowercase", Rule: 3, URL: seg, Keys: group, Code: CodeAccessDenied, Reason: "neither SHA1 nor SHA256",
			Cookie: cookieSet{keyID: rsaID, hash: crypto.SHA256, hashName: "sha256", policy: policyJSON(course, exp, "")}.header(t)},
		// Cookie names exactly as the guide spells them.
		{Name: "deny/cookie-names-case", Rule: 3, URL: seg, Keys: group, Code: CodeMissingKey,
			Cookie: strings.ReplaceAll(valid, "CloudFront-", "cloudfront-")},

		// Rule 2: URL parameters take precedence.
		{Name: "deny/url-params-override-valid-cookies", Rule: 2, URL: seg + "?Key-Pair-Id=" + rsaID + "&Expires=" + itoa(exp.Unix()) + "&Signature=" + enc([]byte("forged")), Cookie: valid, Keys: group, Code: CodeAccessDenied, Source: "url"},
		{Name: "deny/lone-hash-algorithm-param-ignores-cookies", Rule: 2, URL: seg + "?Hash-Algorithm=SHA1", Cookie: valid, Keys: group, Code: CodeMissingKey, Source: "url"},
		{Name: "allow/valid-url-with-garbage-cookies", Rule: 2, URL: signedURL(t, seg, rsaID, "", 0, "", exp.Unix()), Cookie: "CloudFront-Signature=garbage; CloudFront-Key-Pair-Id=KUNKNOWN000001", Keys: group, Source: "url", Policy: "canned"},
		{Name: "allow/unrelated-query-keeps-cookies", Rule: 2, URL: seg + "?expires=1&signature=2", Cookie: valid, Keys: group, Source: "cookie"},

		// Rule 3: duplicated cookie names, the first wins.
		{Name: "allow/duplicated-cookies-first-valid", Rule: 3, URL: seg, Cookie: valid + "; CloudFront-Signature=AAAA; CloudFront-Policy=e30_; CloudFront-Key-Pair-Id=KUNKNOWN000001", Keys: group},
		{Name: "deny/duplicated-cookies-first-invalid", Rule: 3, URL: seg, Cookie: "CloudFront-Signature=AAAA; " + valid, Keys: group, Code: CodeAccessDenied},

		// Rule 6: canned policies.
		{Name: "allow/canned-cookie", Rule: 6, URL: pdf, Cookie: cookieSet{keyID: rsaID, url: pdf, expires: exp.Unix()}.header(t), Keys: group, Policy: "canned"},
		{Name: "deny/canned-cookie-other-url", Rule: 6, URL: pdf + "x", Cookie: cookieSet{keyID: rsaID, url: pdf, expires: exp.Unix()}.header(t), Keys: group, Code: CodeAccessDenied},
		{Name: "deny/canned-cookie-expired", Rule: 7, URL: pdf, Cookie: cookieSet{keyID: rsaID, url: pdf, expires: exp.Unix()}.header(t), Now: exp, Keys: group, Code: CodeAccessDenied, Reason: "expired"},
		{Name: "allow/canned-url", Rule: 6, URL: signedURL(t, pdf, rsaID, "", 0, "", exp.Unix()), Keys: group, Source: "url", Policy: "canned"},
		{Name: "allow/canned-url-with-own-query", Rule: 6, URL: signedURL(t, pdf+"?v=2&lang=en", rsaID, "", 0, "", exp.Unix()), Keys: group},
		{Name: "deny/canned-url-own-query-changed", Rule: 6, URL: strings.Replace(signedURL(t, pdf+"?v=2", rsaID, "", 0, "", exp.Unix()), "v=2", "v=3", 1), Keys: group, Code: CodeAccessDenied},
		{Name: "deny/canned-url-expires-changed", Rule: 6, URL: strings.Replace(signedURL(t, pdf, rsaID, "", 0, "", exp.Unix()), "Expires="+itoa(exp.Unix()), "Expires="+itoa(exp.Unix()+3600), 1), Keys: group, Code: CodeAccessDenied},
		{Name: "deny/canned-url-expires-not-integer", Rule: 6, URL: strings.Replace(signedURL(t, pdf, rsaID, "", 0, "", exp.Unix()), "Expires="+itoa(exp.Unix()), "Expires=soon", 1), Keys: group, Code: CodeMalformedPolicy},
		{Name: "deny/canned-url-expired", Rule: 7, URL: signedURL(t, pdf, rsaID, "", 0, "", exp.Unix()), Now: exp.Add(time.Hour), Keys: group, Code: CodeAccessDenied, Reason: "expired"},
		{Name: "allow/custom-url", Rule: 6, URL: signedURL(t, pdf, rsaID, "", 0, policyJSON(course, exp, ""), 0), Keys: group, Source: "url", Policy: "custom"},
		{Name: "deny/custom-url-missing-key-pair-id", Rule: 5, URL: strings.Replace(signedURL(t, pdf, rsaID, "", 0, policyJSON(course, exp, ""), 0), "&Key-Pair-Id="+rsaID, "", 1), Keys: group, Code: CodeMissingKey, Reason: "Key-Pair-Id"},

		// Rule 5 and 6: SHA-256 and ECDSA.
		{Name: "allow/rsa-sha256-cookie", Rule: 5, URL: seg, Cookie: cookieSet{keyID: rsaID, hash: crypto.SHA256, policy: policyJSON(course, exp, "")}.header(t), Keys: group},
		{Name: "deny/rsa-sha256-signature-without-hash-cookie", Rule: 5, URL: seg, Cookie: strings.Replace(cookieSet{keyID: rsaID, hash: crypto.SHA256, policy: policyJSON(course, exp, "")}.header(t), "; CloudFront-Hash-Algorithm=SHA256", "", 1), Keys: group, Code: CodeAccessDenied, Reason: "RSA-SHA1"},
		{Name: "allow/ecdsa-sha256-cookie", Rule: 5, URL: seg, Cookie: cookieSet{keyID: ecID, hash: crypto.SHA256, policy: policyJSON(course, exp, "")}.header(t), Keys: group},
		{Name: "deny/ecdsa-without-sha256", Rule: 5, URL: seg, Cookie: strings.Replace(cookieSet{keyID: ecID, hash: crypto.SHA256, policy: policyJSON(course, exp, "")}.header(t), "; CloudFront-Hash-Algorithm=SHA256", "", 1), Keys: group, Code: CodeAccessDenied, Reason: "ECDSA"},
		{Name: "deny/unknown-hash-algorithm", Rule: 3, URL: seg, Cookie: cookieSet{keyID: rsaID, hashName: "MD5", policy: policyJSON(course, exp, "")}.header(t), Keys: group, Code: CodeAccessDenied, Reason: "neither SHA1 nor SHA256"},
		{Name: "allow/ecdsa-canned-url", Rule: 6, URL: signedURL(t, pdf, ecID, "", crypto.SHA256, "", exp.Unix()), Keys: group, Policy: "canned"},
		{Name: "allow/ecdsa-canned-cookie", Rule: 6, URL: pdf, Cookie: cookieSet{keyID: ecID, hash: crypto.SHA256, url: pdf, expires: exp.Unix()}.header(t), Keys: group},
		{Name: "deny/ecdsa-tampered-policy", Rule: 6, URL: base + "/courses/advanced-streaming/a.ts", Keys: group, Code: CodeAccessDenied,
			Cookie: strings.Replace(cookieSet{keyID: ecID, hash: crypto.SHA256, policy: policyJSON(course, exp, "")}.header(t), enc([]byte(policyJSON(course, exp, ""))), enc([]byte(policyJSON(base+"/courses/*", exp, ""))), 1)},
	}
	for i := range cases {
		if cases[i].Now.IsZero() {
			cases[i].Now = testNow
		}
	}
	return cases
}

func (c Case) keys(t testing.TB) KeyMap {
	t.Helper()
	m := KeyMap{}
	for id, file := range c.Keys {
		b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePublicKeyPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = k
	}
	return m
}

func (c Case) check(t *testing.T, v *Verifier) {
	t.Helper()
	req, err := NewRequest(c.URL, c.Cookie, c.SourceIP, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	d := v.Verify(req, c.keys(t))
	if got, want := d.Code, c.Code; got != want {
		t.Fatalf("code = %q, want %q (reason %q)", got, want, d.Reason)
	}
	if got, want := d.Allowed, c.Code == ""; got != want {
		t.Errorf("allowed = %v, want %v", got, want)
	}
	if d.Code != "" && d.Message != Message(d.Code) {
		t.Errorf("message = %q, want CloudFront's %q", d.Message, Message(d.Code))
	}
	if c.Reason != "" && !strings.Contains(d.Reason, c.Reason) {
		t.Errorf("reason = %q, want it to contain %q", d.Reason, c.Reason)
	}
	if c.Source != "" && d.Source != c.Source {
		t.Errorf("source = %q, want %q", d.Source, c.Source)
	}
	if c.Policy != "" && d.Policy != c.Policy {
		t.Errorf("policy = %q, want %q", d.Policy, c.Policy)
	}
	if d.Allowed && d.Reason != "" {
		t.Errorf("allowed with reason %q", d.Reason)
	}
	noSecrets(t, d, c.Cookie, c.URL)
}

// noSecrets fails when a decision's reason carries a signature or a cookie value.
func noSecrets(t *testing.T, d Decision, cookie, rawURL string) {
	t.Helper()
	var values []string
	for _, ck := range ParseCookieHeader(cookie) {
		if ck.Name != CookieKeyPairID && ck.Name != CookieHashAlgorithm && ck.Name != CookieExpires && len(ck.Value) >= 8 {
			values = append(values, ck.Value)
		}
	}
	for _, p := range []string{"Signature=", "Policy="} {
		if i := strings.Index(rawURL, p); i >= 0 {
			v, _, _ := strings.Cut(rawURL[i+len(p):], "&")
			if len(v) >= 8 {
				values = append(values, v)
			}
		}
	}
	for _, v := range values {
		if strings.Contains(d.Reason, v) || strings.Contains(d.Reason, v[:8]) && len(v) > 16 && strings.Contains(d.Reason, v[:16]) {
			t.Errorf("reason %q leaks a signed value", d.Reason)
		}
	}
}

func TestVerifyTable(t *testing.T) {
	cases := buildCases(t)
	seen := map[string]bool{}
	for _, cacheSize := range []int{-1, 0} {
		v := New(Options{CacheSize: cacheSize})
		for _, c := range cases {
			if seen[c.Name] && cacheSize == -1 {
				t.Fatalf("duplicated case name %s", c.Name)
			}
			seen[c.Name] = true
			t.Run(map[int]string{-1: "nocache", 0: "cache"}[cacheSize]+"/"+c.Name, func(t *testing.T) {
				c.check(t, v)
				c.check(t, v) // a second time: from the cache when it has one
			})
		}
	}
}

// TestCasesUseCloudFrontAlphabet makes sure the allowed table cases carry
// each of CloudFront's base64 replacement characters (- _ ~ for + = /) in a
// signed value, so that a Decode that stopped mapping one of them would fail
// an allowed case.
func TestCasesUseCloudFrontAlphabet(t *testing.T) {
	found := map[rune]string{}
	for _, c := range buildCases(t) {
		if c.Code != "" {
			continue
		}
		var values []string
		for _, ck := range ParseCookieHeader(c.Cookie) {
			if ck.Name == CookiePolicy || ck.Name == CookieSignature {
				values = append(values, ck.Value)
			}
		}
		if u, err := url.Parse(c.URL); err == nil {
			q := u.Query()
			values = append(values, q.Get(ParamPolicy), q.Get(ParamSignature))
		}
		for _, v := range values {
			for _, r := range "-_~" {
				if _, ok := found[r]; !ok && strings.ContainsRune(v, r) {
					found[r] = c.Name
				}
			}
		}
	}
	for _, r := range "-_~" {
		if found[r] == "" {
			t.Errorf("no allowed case has %q in a signed value", r)
		}
	}
}

// TestCasesJSON replays testdata/cases.json (what keys explain replays) and
// checks it lists the same cases and verdicts as the table. Regenerate with
// go test ./distribution/verifier -run TestCasesJSON -update.
func TestCasesJSON(t *testing.T) {
	path := filepath.Join("testdata", "cases.json")
	table := buildCases(t)
	if *update {
		b, err := json.MarshalIndent(table, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stored []Case
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if got, want := len(stored), len(table); got != want {
		t.Fatalf("cases.json has %d cases, the table %d: run with -update", got, want)
	}
	v := New(Options{})
	for i, c := range stored {
		if c.Name != table[i].Name || c.Code != table[i].Code {
			t.Errorf("cases.json[%d] = %s/%q, table has %s/%q: run with -update", i, c.Name, c.Code, table[i].Name, table[i].Code)
		}
		t.Run(c.Name, func(t *testing.T) { c.check(t, v) })
	}
	// Every numbered rule from 2 to 8 has an allowed and a denied case.
	for rule := 2; rule <= 8; rule++ {
		var allow, deny bool
		for _, c := range stored {
			if c.Rule == rule {
				allow = allow || c.Code == ""
				deny = deny || c.Code != ""
			}
		}
		if !allow || !deny {
			t.Errorf("rule %d: allow case %v, deny case %v", rule, allow, deny)
		}
	}
}
