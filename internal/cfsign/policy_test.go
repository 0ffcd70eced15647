package cfsign

import (
	"encoding/json"
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateCourseID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"simple", "intro-to-hls", true},
		{"one char", "a", true},
		{"digit first", "0day", true},
		{"trailing hyphen", "a-", true},
		{"63 chars", strings.Repeat("a", 63), true},
		{"64 chars", strings.Repeat("a", 64), false},
		{"empty", "", false},
		{"star", "*", false},
		{"trailing star", "intro*", false},
		{"question mark", "intro?", false},
		{"dot dot", "..", false},
		{"dot", "intro.hls", false},
		{"percent-encoded star", "%2A", false},
		{"percent in id", "a%2fb", false},
		{"slash", "a/b", false},
		{"traversal", "a/../b", false},
		{"upper case", "Intro", false},
		{"leading hyphen", "-a", false},
		{"underscore", "a_b", false},
		{"space", "a b", false},
		{"nul", "a\x00", false},
		{"newline", "a\n", false},
		{"unicode letter", "caf\u00e9", false},
		{"fullwidth star", "a\uff0a", false},
		{"unicode digit", "\u0661", false},
		{"query", "a?b=c", false},
		{"semicolon cookie injection", "a;Path=/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCourseID(tt.id)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateCourseID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
			_, perr := CoursePolicy("d.example", tt.id, fixedNow, Conditions{})
			if (perr == nil) != tt.ok {
				t.Errorf("CoursePolicy with id %q: err = %v, want ok=%v", tt.id, perr, tt.ok)
			}
			if err != nil && tt.id != "" && len(tt.id) < 60 && strings.Contains(err.Error(), tt.id) {
				t.Errorf("error echoes the request's id: %q", err)
			}
		})
	}
}

func TestValidateDomain(t *testing.T) {
	tests := []struct {
		name, d string
		ok      bool
	}{
		{"cloudfront", "d111111abcdef8.cloudfront.net", true},
		{"alternate", "video.example.com", true},
		{"punycode", "xn--bcher-kva.example", true},
		{"localhost port", "localhost:8080", true},
		{"ipv4 port", "127.0.0.1:8443", true},
		{"port 65535", "a.example:65535", true},
		{"single label", "localhost", true},
		{"empty", "", false},
		{"wildcard", "*.example.com", false},
		{"inner wildcard", "d*.cloudfront.net", false},
		{"question", "d?.example.com", false},
		{"scheme", "https://d.example.com", false},
		{"path", "d.example.com/courses", false},
		{"trailing slash", "d.example.com/", false},
		{"query", "d.example.com?x", false},
		{"fragment", "d.example.com#x", false},
		{"userinfo", "user@d.example.com", false},
		{"upper case", "D.example.com", false},
		{"trailing dot", "d.example.com.", false},
		{"empty label", "d..example.com", false},
		{"leading hyphen label", "-d.example.com", false},
		{"trailing hyphen label", "d-.example.com", false},
		{"underscore", "d_x.example.com", false},
		{"space", "d example.com", false},
		{"unicode", "b\u00fccher.example", false},
		{"percent", "d%2e.example", false},
		{"label 64", strings.Repeat("a", 64) + ".example", false},
		{"too long", strings.Repeat("a.", 127) + "ab", false},
		{"empty port", "d.example:", false},
		{"port 0", "d.example:0", false},
		{"port leading zero", "d.example:080", false},
		{"port too big", "d.example:65536", false},
		{"port sign", "d.example:+80", false},
		{"port letters", "d.example:http", false},
		{"two ports", "d.example:80:80", false},
		{"ipv6", "[::1]:8080", false},
		{"ipv6 bare", "::1", false},
		{"backslash", `d.example\x`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateDomain(tt.d)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateDomain(%q) = %v, want ok=%v", tt.d, err, tt.ok)
			}
			_, rerr := CourseResource(tt.d, "a")
			if (rerr == nil) != tt.ok {
				t.Errorf("CourseResource(%q) err = %v, want ok=%v", tt.d, rerr, tt.ok)
			}
		})
	}
}

func TestCoursePolicy(t *testing.T) {
	const domain, course = "d111111abcdef8.cloudfront.net", "intro-to-hls"
	exp := fixedNow.Add(10 * time.Minute) // 1767323645
	tests := []struct {
		name    string
		expires time.Time
		c       Conditions
		want    string
		wantErr string
	}{
		{
			name: "expiry only", expires: exp,
			want: `{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767323645}}}]}`,
		},
		{
			name: "sub-second expiry rounds down", expires: exp.Add(999 * time.Millisecond),
			want: `{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767323645}}}]}`,
		},
		{
			name: "all conditions", expires: exp,
			c:    Conditions{NotBefore: fixedNow, SourceIP: mustPrefix(t, "192.0.2.0/24")},
			want: `{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},"DateGreaterThan":{"AWS:EpochTime":1767323045},"DateLessThan":{"AWS:EpochTime":1767323645}}}]}`,
		},
		{
			name: "host bits masked", expires: exp,
			c:    Conditions{SourceIP: mustPrefix(t, "198.51.100.77/16")},
			want: `{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"IpAddress":{"AWS:SourceIp":"198.51.0.0/16"},"DateLessThan":{"AWS:EpochTime":1767323645}}}]}`,
		},
		{
			name: "single address", expires: exp,
			c:    Conditions{SourceIP: netip.PrefixFrom(netip.MustParseAddr("203.0.113.9"), 32)},
			want: `{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/courses/intro-to-hls/*","Condition":{"IpAddress":{"AWS:SourceIp":"203.0.113.9/32"},"DateLessThan":{"AWS:EpochTime":1767323645}}}]}`,
		},
		{name: "ipv6 rejected", expires: exp, c: Conditions{SourceIP: mustPrefix(t, "2001:db8::/32")}, wantErr: "IPv4"},
		{name: "4in6 rejected", expires: exp, c: Conditions{SourceIP: mustPrefix(t, "::ffff:192.0.2.1/128")}, wantErr: "IPv4"},
		{name: "invalid prefix", expires: exp, c: Conditions{SourceIP: netip.PrefixFrom(netip.MustParseAddr("192.0.2.1"), 33)}, wantErr: "IPv4"},
		{name: "not before after expiry", expires: exp, c: Conditions{NotBefore: exp}, wantErr: "NotBefore"},
		{name: "zero expiry", expires: time.Time{}, wantErr: "after 1970"},
		{name: "epoch expiry", expires: time.Unix(0, 0), wantErr: "after 1970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CoursePolicy(domain, course, tt.expires, tt.c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("CoursePolicy =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestURLPolicy(t *testing.T) {
	exp := fixedNow.Add(time.Hour)
	got, err := URLPolicy("https://d.example/ebooks/hls%20guide.pdf", exp, Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Statement":[{"Resource":"https://d.example/ebooks/hls%20guide.pdf","Condition":{"DateLessThan":{"AWS:EpochTime":1767326645}}}]}`; string(got) != want {
		t.Errorf("URLPolicy =\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{
		"https://d.example/ebooks/*",
		"https://d.example/ebooks/a.pdf?x=1",
		"https://d.example/ebooks/a?pdf",
		"https://d.example/a.pdf#frag",
		"https://*.example/a.pdf",
		"https://u@d.example/a.pdf",
		"ftp://d.example/a.pdf",
		"HTTPS://d.example/a.pdf",
		"https://d.example",
		"//d.example/a.pdf",
		"https://d.example/a b.pdf",
		"https://d.example/caf\u00e9.pdf",
		"https://d.example/%zz.pdf",
		"",
	} {
		t.Run(bad, func(t *testing.T) {
			if p, err := URLPolicy(bad, exp, Conditions{}); err == nil {
				t.Errorf("URLPolicy(%q) = %s, want an error", bad, p)
			}
		})
	}
}

// TestPolicyMatchesBotocore compares CoursePolicy with what botocore's
// CloudFrontSigner.build_policy (an independent implementation) builds. With
// DateLessThan alone the bytes are identical; with more conditions botocore
// orders them DateLessThan, IpAddress, DateGreaterThan while the Go SDK writes
// IpAddress, DateGreaterThan, DateLessThan, so the documents are compared as
// JSON values (CloudFront does not care about key order in custom policies).
func TestPolicyMatchesBotocore(t *testing.T) {
	needs.Tool(t, "python3 (botocore)")
	// One python3 process for all cases: importing botocore takes ~1.5 s.
	const script = `
import sys, json, datetime
from botocore.signers import CloudFrontSigner
ts = lambda s: datetime.datetime.fromtimestamp(int(s), datetime.timezone.utc)
s = CloudFrontSigner("K", lambda m: b"")
out = [s.build_policy(c["resource"], ts(c["dlt"]), ts(c["dgt"]) if c["dgt"] else None, c["ip"] or None)
       for c in json.load(sys.stdin)]
json.dump(out, sys.stdout)
`
	exp := fixedNow.Add(10 * time.Minute)
	tests := []struct {
		name  string
		c     Conditions
		exact bool
	}{
		{"expiry only", Conditions{}, true},
		{"ip", Conditions{SourceIP: mustPrefix(t, "192.0.2.0/24")}, false},
		{"ip /32", Conditions{SourceIP: mustPrefix(t, "192.0.2.1/32")}, false},
		{"not before", Conditions{NotBefore: fixedNow}, false},
		{"all", Conditions{NotBefore: fixedNow, SourceIP: mustPrefix(t, "10.0.0.0/8")}, false},
	}
	type botoCase struct {
		Resource string `json:"resource"`
		DLT      int64  `json:"dlt"`
		DGT      int64  `json:"dgt"`
		IP       string `json:"ip"`
	}
	var cases []botoCase
	for _, tt := range tests {
		bc := botoCase{Resource: "https://d.example/courses/intro-to-hls/*", DLT: exp.Unix()}
		if !tt.c.NotBefore.IsZero() {
			bc.DGT = tt.c.NotBefore.Unix()
		}
		if tt.c.SourceIP.IsValid() {
			bc.IP = tt.c.SourceIP.String()
		}
		cases = append(cases, bc)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 botocore: %v", err)
	}
	var boto []string
	if err := json.Unmarshal(out, &boto); err != nil || len(boto) != len(tests) {
		t.Fatalf("botocore output %q: %v", out, err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := CoursePolicy("d.example", "intro-to-hls", exp, tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if tt.exact {
				if boto[i] != string(ours) {
					t.Errorf("bytes differ:\nbotocore %s\ncfsign   %s", boto[i], ours)
				}
				return
			}
			var a, b any
			if err := json.Unmarshal([]byte(boto[i]), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ours, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("policies differ:\nbotocore %s\ncfsign   %s", boto[i], ours)
			}
		})
	}
}
