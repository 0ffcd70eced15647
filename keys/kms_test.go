package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

// TestExplainKMS: explain judges cookies signed by a KMS key (made by
// `init --kms`) exactly as cookies signed by a key held in the secret, and
// after a rotation the old KMS key's cookies get 403 InvalidKey.
func TestExplainKMS(t *testing.T) {
	needs.Tool(t, "moto_server")
	a, clk := testApp(t)
	w := where(t, false)
	with := func(args ...string) []string { return append(args, w...) }
	mustRun(t, a, with("init", "--kms")...)
	b := backendFor(t, a, w)
	kc := kms.NewFromConfig(cfmoto.Shared(t).Config(t))
	sign := func(s cfsign.Secret) string {
		t.Helper()
		if !s.IsKMS() {
			t.Fatalf("secret %s is not the KMS form", s.KeyPairID)
		}
		key, err := keysource.KMSKey(keyops.SDKSigner(kc), s, 0)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: testDomain, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		cc, err := iss.Issue(key, "intro-to-hls", cfsign.Conditions{})
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, c := range cc.Cookies {
			parts = append(parts, c.Name+"="+c.Value)
		}
		return strings.Join(parts, "; ")
	}
	old := current(t, b)
	oldCookie := sign(old)
	r := mustRun(t, a, with("explain", "--url", courseURL, "--cookie", oldCookie)...)
	if !strings.Contains(r.stdout, "CloudFront answers: 200") || !strings.Contains(r.stdout, old.KeyPairID) {
		t.Errorf("explain of a KMS-signed cookie:\n%s", r.stdout)
	}
	mustRun(t, a, with("rotate", "start")...)
	mustRun(t, a, with("rotate", "promote", "--force")...)
	mustRun(t, a, with("rotate", "finish", "--force")...)
	newCookie := sign(current(t, b))
	if r := mustRun(t, a, with("explain", "--url", courseURL, "--cookie", newCookie)...); !strings.Contains(r.stdout, "CloudFront answers: 200") {
		t.Errorf("explain of the new KMS key's cookie:\n%s", r.stdout)
	}
	r = a.exec(with("explain", "--url", courseURL, "--cookie", oldCookie)...)
	if r.err == nil || !strings.Contains(r.stdout, "403 InvalidKey") {
		t.Errorf("explain of the retired KMS key's cookie: %v\n%s", r.err, r.stdout)
	}
}
