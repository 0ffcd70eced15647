package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
)

// clock is the shared settable test clock.
type clock = fakeclock.Clock

// testApp is the CLI pointed at the extended moto server, with a test clock.
func testApp(t *testing.T) (app, *clock) {
	t.Helper()
	cfg := cfmoto.Shared(t).Config(t)
	c := fakeclock.New(time.Now().UTC().Truncate(time.Second))
	return app{awsConfig: func(context.Context) (aws.Config, error) { return cfg, nil }, now: c.Now, sleep: c.Sleep}, c
}

type result struct {
	stdout, stderr string
	err            error
}

// exec runs the CLI in-process. No output or error may ever carry a private key.
func (a app) exec(args ...string) result { return a.execStdin("", args...) }

// execStdin is exec with stdin as the command's standard input.
func (a app) execStdin(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	err := a.run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	r := result{out.String(), errb.String(), err}
	if all := r.stdout + r.stderr + fmt.Sprint(r.err); strings.Contains(all, "PRIVATE KEY") || strings.Contains(all, "privateKey\"") {
		panic(fmt.Sprintf("keys %s printed private key material", strings.Join(args, " ")))
	}
	return r
}

func mustRun(t *testing.T, a app, args ...string) result {
	t.Helper()
	r := a.exec(args...)
	if r.err != nil {
		t.Fatalf("keys %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

const testDomain = "d111111abcdef8.cloudfront.net"

// courseURL is a media URL of the demo course on testDomain.
const courseURL = "https://" + testDomain + "/courses/intro-to-hls/ts/master.m3u8"

// cookieHeader signs the demo course's cookies with s, as the login function would.
func cookieHeader(t *testing.T, s cfsign.Secret, now func() time.Time) string {
	t.Helper()
	var key *cfsign.Key
	var err error
	if s.IsKMS() {
		key, err = keysource.KMSKey(keyops.SDKSigner(kms.NewFromConfig(cfmoto.Shared(t).Config(t))), s, 0)
	} else {
		key, err = s.Key()
	}
	if err != nil {
		t.Fatalf("secret: %v", err)
	}
	iss, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: testDomain, Now: now})
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

// backendFor opens the backend that the flags w select.
func backendFor(t *testing.T, a app, w []string) keyops.Backend {
	t.Helper()
	var c common
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.register(fs)
	if err := fs.Parse(w); err != nil {
		t.Fatal(err)
	}
	b, _, err := a.backend(context.Background(), &c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func current(t *testing.T, b keyops.Backend) cfsign.Secret {
	t.Helper()
	v, err := b.Secret(context.Background(), keyops.Current)
	if err != nil {
		t.Fatal(err)
	}
	return v.Secret
}
