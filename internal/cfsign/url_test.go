package cfsign

import (
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/cloudfront/sign"

	"github.com/cfgate/cfgate/internal/testutil/needs"
)

const ebookURL = "https://d111111abcdef8.cloudfront.net/ebooks/hls-guide.pdf"

// TestSignURLMatchesSDK: for RSA-SHA1 (deterministic) the signed URLs equal the
// SDK's URLSigner output byte for byte, canned and custom.
func TestSignURLMatchesSDK(t *testing.T) {
	k := testKey(t, RSASHA1)
	exp := fixedNow.Add(time.Hour)
	sdk := sign.NewURLSigner(k.ID, k.Signer)
	for _, u := range []string{ebookURL, ebookURL + "?response-content-disposition=attachment"} {
		t.Run("canned "+u, func(t *testing.T) {
			want, err := sdk.Sign(u, exp)
			if err != nil {
				t.Fatal(err)
			}
			got, err := SignURL(k, u, exp)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("SignURL =\n%s\nSDK\n%s", got, want)
			}
		})
	}
	t.Run("custom", func(t *testing.T) {
		policy, err := URLPolicy(ebookURL, exp, Conditions{SourceIP: mustPrefix(t, "192.0.2.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		want, err := sdk.SignWithPolicy(ebookURL, newPolicy(ebookURL, exp, Conditions{SourceIP: mustPrefix(t, "192.0.2.0/24")}))
		if err != nil {
			t.Fatal(err)
		}
		got, err := SignURLWithPolicy(k, ebookURL, policy)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("SignURLWithPolicy =\n%s\nSDK\n%s", got, want)
		}
	})
}

// TestSignURLMatchesBotocore: botocore's CloudFrontSigner with an RSA-SHA1
// signer from the Python cryptography package, over the same test key, gives
// the same URLs byte for byte.
func TestSignURLMatchesBotocore(t *testing.T) {
	needs.Tool(t, "python3 (botocore)")
	const script = `
import sys, datetime
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
pem, key_id, url, exp = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = serialization.load_pem_private_key(open(pem, "rb").read(), password=None)
s = CloudFrontSigner(key_id, lambda m: key.sign(m, padding.PKCS1v15(), hashes.SHA1()))
dlt = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc)
print(s.generate_presigned_url(url, date_less_than=dlt))
print(s.generate_presigned_url(url, policy=s.build_policy(url, dlt)))
`
	k := testKey(t, RSASHA1)
	exp := fixedNow.Add(time.Hour)
	out, err := exec.Command("python3", "-c", script, filepath.Join("testdata", "test-only-rsa2048.pkcs1.pem"), k.ID, ebookURL, strconv.FormatInt(exp.Unix(), 10)).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 botocore: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("botocore output: %q", out)
	}
	canned, err := SignURL(k, ebookURL, exp)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := URLPolicy(ebookURL, exp, Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	custom, err := SignURLWithPolicy(k, ebookURL, policy)
	if err != nil {
		t.Fatal(err)
	}
	if canned != lines[0] {
		t.Errorf("canned:\ncfsign   %s\nbotocore %s", canned, lines[0])
	}
	if custom != lines[1] {
		t.Errorf("custom:\ncfsign   %s\nbotocore %s", custom, lines[1])
	}
}

// cannedPolicyFor rebuilds the canned policy from a signed URL as CloudFront
// does: the URL without CloudFront's parameters, and Expires.
func cannedPolicyFor(t testing.TB, signed string) (policy, sig []byte, q url.Values) {
	t.Helper()
	base, rawQuery, _ := strings.Cut(signed, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(part, "=")
		switch name {
		case "Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm":
		default:
			keep = append(keep, part)
		}
	}
	if len(keep) > 0 {
		base += "?" + strings.Join(keep, "&")
	}
	if p := q.Get("Policy"); p != "" {
		policy, err = Decode(p)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		policy = []byte(`{"Statement":[{"Resource":"` + base + `","Condition":{"DateLessThan":{"AWS:EpochTime":` + q.Get("Expires") + `}}}]}`)
	}
	sig, err = Decode(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	return policy, sig, q
}

func TestSignURLAlgorithms(t *testing.T) {
	exp := fixedNow.Add(time.Hour)
	for _, alg := range allAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			k := testKey(t, alg)
			for _, u := range []string{ebookURL, ebookURL + "?v=2"} {
				signed, err := SignURL(k, u, exp)
				if err != nil {
					t.Fatal(err)
				}
				policy, sig, q := cannedPolicyFor(t, signed)
				verifyTest(t, k, policy, sig)
				if q.Get("Key-Pair-Id") != k.ID || q.Get("Expires") != strconv.FormatInt(exp.Unix(), 10) {
					t.Errorf("signed URL params = %v", q)
				}
				wantHash := ""
				if alg != RSASHA1 {
					wantHash = "SHA256"
				}
				if got := q.Get("Hash-Algorithm"); got != wantHash {
					t.Errorf("Hash-Algorithm = %q, want %q", got, wantHash)
				}
				if !strings.HasPrefix(signed, u+map[bool]string{true: "&", false: "?"}[strings.Contains(u, "?")]+"Expires=") {
					t.Errorf("signed URL does not extend the original: %s", signed)
				}
			}
			policy, err := URLPolicy(ebookURL, exp, Conditions{NotBefore: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := SignURLWithPolicy(k, ebookURL, policy)
			if err != nil {
				t.Fatal(err)
			}
			got, sig, q := cannedPolicyFor(t, signed)
			if string(got) != string(policy) {
				t.Errorf("Policy parameter = %s, want %s", got, policy)
			}
			if q.Has("Expires") {
				t.Error("custom policy URL has Expires")
			}
			verifyTest(t, k, policy, sig)
		})
	}
}

func TestSignURLErrors(t *testing.T) {
	k := testKey(t, RSASHA1)
	exp := fixedNow.Add(time.Hour)
	for _, u := range []string{
		ebookURL + "?Expires=1",
		ebookURL + "?a=1&Signature=x",
		ebookURL + "?Policy=x",
		ebookURL + "?Key-Pair-Id=K",
		ebookURL + "?Hash-Algorithm=SHA256",
		ebookURL + "?a=%zz",
		ebookURL + "#page=2",
		"https://d.example/ebooks/*",
		"https://d.example/a b.pdf",
		"https://d.example/a\"b.pdf",
		"https://d.example/a\\b.pdf",
		"https://d.example/a<b>.pdf",
		"https://d.example/a.pdf?x={1}",
		"https://*.example/a.pdf",
		"http//d.example/a.pdf",
		"file:///etc/passwd",
		"https://d.example",
		"https://user:pw@d.example/a.pdf",
	} {
		t.Run(u, func(t *testing.T) {
			if s, err := SignURL(k, u, exp); err == nil {
				t.Errorf("SignURL(%q) = %s, want an error", u, s)
			}
		})
	}
	if _, err := SignURL(k, ebookURL, time.Time{}); err == nil {
		t.Error("SignURL with zero expiry succeeded")
	}
	for name, p := range map[string]string{
		"not json":        `nope`,
		"no statement":    `{"Statement":[]}`,
		"two statements":  `{"Statement":[{"Resource":"x","Condition":{"DateLessThan":{"AWS:EpochTime":1}}},{"Resource":"y","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`,
		"no resource":     `{"Statement":[{"Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}`,
		"no DateLessThan": `{"Statement":[{"Resource":"x","Condition":{"DateGreaterThan":{"AWS:EpochTime":1}}}]}`,
		"string epoch":    `{"Statement":[{"Resource":"x","Condition":{"DateLessThan":{"AWS:EpochTime":"1"}}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := SignURLWithPolicy(k, ebookURL, []byte(p)); err == nil {
				t.Errorf("SignURLWithPolicy = %s, want an error", s)
			}
		})
	}
}
