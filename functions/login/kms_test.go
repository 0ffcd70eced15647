package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/distribution/verifier"
	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/testutil/kmsproxy"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

var (
	kmsWorldOnce sync.Once
	kmsWorldVal  *world
	kmsWorldErr  error
)

// kmsWorld is a seeded world on the extended moto server (moto's KMS with
// the launcher's Sign-DIGEST patch).
func kmsWorld(t testing.TB) *world {
	t.Helper()
	needs.Tool(t, "moto_server")
	srv := cfmoto.Shared(t)
	kmsWorldOnce.Do(func() {
		kmsWorldVal, kmsWorldErr = seedWorld(t, srv)
	})
	if kmsWorldErr != nil {
		t.Fatal(kmsWorldErr)
	}
	return kmsWorldVal
}

// initKMS runs `keys init --kms` (keyops) against cfg and returns the secret
// name, the signing key pair id and CloudFront's public key PEM for it; it
// points env at the secret and at the new key group (the function checks at
// cold start that its signing key is in KEY_GROUP_ID's group).
func initKMS(t testing.TB, cfg aws.Config, alg cfsign.Algorithm, env map[string]string) (secret, keyPairID string, pubPEM []byte) {
	t.Helper()
	ctx := context.Background()
	secret = motoserver.Unique(t, "cfgate-kms-key")
	b := keyops.NewAWS(cloudfront.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), keyops.AWSOptions{SecretID: secret, GroupName: motoserver.Unique(t, "cfgate-kms")})
	ops := &keyops.Ops{B: b, KMS: kms.NewFromConfig(cfg), UseKMS: true, Algorithm: alg, Name: "cfgate"}
	r, err := ops.Init(ctx, nil)
	if err != nil {
		t.Fatalf("keys init --kms: %v", err)
	}
	pk, err := b.PublicKey(ctx, r.SigningKeyID)
	if err != nil {
		t.Fatal(err)
	}
	env["SIGNING_KEY_SECRET_ID"], env["KEY_GROUP_ID"] = secret, r.KeyGroupID
	return secret, r.SigningKeyID, pk.PEM
}

func accessEvent(t testing.TB, session, course string) []byte {
	return bytes.ReplaceAll(event(t, "access.json", session), []byte(testCourse), []byte(course))
}

func header(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// TestHandlerSignsThroughKMS: `keys init --kms`, then the login handler
// issues cookies signed by KMS that distribution/verifier and openssl both
// accept with CloudFront's public key; RSA keys carry Hash-Algorithm=SHA256.
func TestHandlerSignsThroughKMS(t *testing.T) {
	for _, tt := range []struct {
		name string
		alg  cfsign.Algorithm
	}{{"ecdsa-p256", cfsign.ECDSASHA256}, {"rsa-2048", cfsign.RSASHA256}} {
		t.Run(tt.name, func(t *testing.T) {
			w := kmsWorld(t)
			proxy, err := kmsproxy.Start(w.srv.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			env := w.env()
			_, keyID, pubPEM := initKMS(t, w.awsCfg, tt.alg, env)
			cfg := proxyConfig(t, proxy)
			var logs syncbuf.Buffer
			invoke := newTestInvokeCfg(t, cfg, env, &logs)
			if n := proxy.Signs(); n != 0 {
				t.Fatalf("cold start made %d kms:Sign calls, want 0", n)
			}

			session := checkLogin(t, decode(t, invokeJSON(t, invoke, event(t, "login.json", ""))))
			resp := decode(t, invokeJSON(t, invoke, accessEvent(t, session, testCourse)))
			if resp.StatusCode != 200 {
				t.Fatalf("access: %d %s", resp.StatusCode, resp.Body)
			}
			if n := proxy.Signs(); n != 1 {
				t.Errorf("first /access made %d kms:Sign calls, want 1", n)
			}
			cs := cookies(resp)
			if cs[cfsign.CookieKeyPairID] == nil || cs[cfsign.CookieKeyPairID].Value != keyID {
				t.Fatalf("Key-Pair-Id cookie %v, want %s", cs[cfsign.CookieKeyPairID], keyID)
			}
			if h := cs[cfsign.CookieHashAlgorithm]; h == nil || h.Value != "SHA256" {
				t.Errorf("CloudFront-Hash-Algorithm = %v, want SHA256", h)
			}

			// distribution/verifier, as CloudFront decides.
			pub, err := verifier.ParsePublicKeyPEM(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, c := range []string{cfsign.CookiePolicy, cfsign.CookieSignature, cfsign.CookieKeyPairID, cfsign.CookieHashAlgorithm} {
				parts = append(parts, c+"="+cs[c].Value)
			}
			req, err := verifier.NewRequest("https://"+testDomain+"/courses/"+testCourse+"/master.m3u8", strings.Join(parts, "; "), "203.0.113.7", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if d := verifier.New(verifier.Options{}).Verify(req, verifier.KeyMap{keyID: pub}); !d.Allowed {
				t.Errorf("verifier denies the KMS-signed cookies: %s %s", d.Code, d.Reason)
			}

			// openssl, with CloudFront's public key.
			policy, err := cfsign.Decode(cs[cfsign.CookiePolicy].Value)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := cfsign.Decode(cs[cfsign.CookieSignature].Value)
			if err != nil {
				t.Fatal(err)
			}
			opensslVerify(t, pubPEM, policy, sig)

			// A second /access for the same course is a cache hit: no KMS call.
			resp = decode(t, invokeJSON(t, invoke, accessEvent(t, session, testCourse)))
			if resp.StatusCode != 200 || proxy.Signs() != 1 {
				t.Errorf("second /access: %d with %d kms:Sign calls in all, want 200 and still 1", resp.StatusCode, proxy.Signs())
			}
			noSecrets(t, logs.String(), session)
			if !strings.Contains(logs.String(), `"kmsKeyId"`) {
				t.Errorf("the log does not say which KMS key signs")
			}
		})
	}
}

// TestHandlerKMSThrottled: while kms:Sign is throttled a cache miss answers
// 503 with Retry-After and no cookies; a cache hit still answers 200. The
// miss is a second, cold function instance (its signature cache is empty).
func TestHandlerKMSThrottled(t *testing.T) {
	w := kmsWorld(t)
	proxy, err := kmsproxy.Start(w.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	env := w.env()
	initKMS(t, w.awsCfg, cfsign.ECDSASHA256, env)
	cfg := proxyConfig(t, proxy)
	var logs syncbuf.Buffer
	warm := newTestInvokeCfg(t, cfg, env, &logs)
	cold := newTestInvokeCfg(t, cfg, env, &logs)

	session := checkLogin(t, decode(t, invokeJSON(t, warm, event(t, "login.json", ""))))
	if resp := decode(t, invokeJSON(t, warm, accessEvent(t, session, testCourse))); resp.StatusCode != 200 {
		t.Fatalf("access before the throttling: %d %s", resp.StatusCode, resp.Body)
	}
	proxy.SetThrottle(true)
	before := proxy.Signs()
	if resp := decode(t, invokeJSON(t, warm, accessEvent(t, session, testCourse))); resp.StatusCode != 200 {
		t.Errorf("cache hit while KMS throttles: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	if proxy.Signs() != before {
		t.Error("a cache hit called kms:Sign")
	}
	resp := decode(t, invokeJSON(t, cold, accessEvent(t, session, testCourse)))
	if resp.StatusCode != 503 || header(resp, "Retry-After") == "" {
		t.Errorf("cache miss while KMS throttles: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, header(resp, "Retry-After"))
	}
	for _, c := range resp.Cookies {
		if strings.HasPrefix(c, "CloudFront-") && !strings.Contains(c, "Max-Age=0") {
			t.Errorf("CloudFront cookie set on a 503: %s", c)
		}
	}
	if strings.Contains(resp.Body, "Throttling") || strings.Contains(resp.Body, "kms") {
		t.Errorf("internal detail in the body: %s", resp.Body)
	}
	if proxy.Signs() == before {
		t.Error("the miss did not reach kms:Sign")
	}
	// The SDK retries the throttled call within the signer's timeout: the
	// logged cause is the last ThrottlingException or the deadline.
	if l := logs.String(); !strings.Contains(l, "signer_unavailable") || !strings.Contains(l, "kms:Sign with") ||
		!(strings.Contains(l, "ThrottlingException") || strings.Contains(l, "deadline exceeded")) {
		t.Errorf("the cause is not logged")
	}
	proxy.SetThrottle(false)
	if resp := decode(t, invokeJSON(t, cold, accessEvent(t, session, testCourse))); resp.StatusCode != 200 {
		t.Errorf("after the throttling: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	noSecrets(t, logs.String(), session)
}

// proxyConfig is an AWS configuration whose every call goes through proxy
// (aws.Config.Copy with another BaseEndpoint is not enough: the SDK prefers
// the endpoint recorded in the config's sources).
func proxyConfig(t testing.TB, proxy *kmsproxy.Proxy) aws.Config {
	t.Helper()
	return (&motoserver.Server{Endpoint: proxy.URL}).Config(t)
}

func opensslVerify(t *testing.T, pubPEM, msg, sig []byte) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is not installed: %v", err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"pub.pem": pubPEM, "policy.json": msg, "sig.bin": sig} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "dgst", "-sha256", "-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig.bin"), filepath.Join(dir, "policy.json")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Errorf("openssl dgst -sha256 -verify: %v: %s", err, out)
	}
}
