package keysource

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/smsecret"
	"github.com/cfgate/cfgate/internal/testutil/fakeclock"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// clock is the shared settable test clock.
type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New(time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)) }

// counting wraps the login function's Secrets Manager reader
// (internal/smsecret) and counts calls (a wrapper, not a fake: every call
// reaches moto_server).
type counting struct {
	GetSecretValueAPI
	n atomic.Int64
}

func (c *counting) GetSecretValue(ctx context.Context, secretID, versionStage string) (smsecret.Value, error) {
	c.n.Add(1)
	return c.GetSecretValueAPI.GetSecretValue(ctx, secretID, versionStage)
}

type testKey struct {
	id     string
	alg    cfsign.Algorithm
	signer crypto.Signer
	pem    string
}

func newTestKey(t *testing.T, id string, alg cfsign.Algorithm) testKey {
	t.Helper()
	s, err := cfsign.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfsign.MarshalPrivateKeyPEM(s)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{id: id, alg: alg, signer: s, pem: string(p)}
}

func (k testKey) secretJSON(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(cfsign.Secret{KeyPairID: k.id, PrivateKey: k.pem, Algorithm: k.alg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pemBody returns a line of the key's base64 body, which must never appear
// in an error or log line.
func (k testKey) pemBody() string { return strings.Split(k.pem, "\n")[2] }

type env struct {
	sm     *secretsmanager.Client // writes the secrets
	client *counting              // reads them
	clock  *clock
	logs   *bytes.Buffer
	logger *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := motoserver.Shared(t)
	cfg := srv.Config(t)
	var buf bytes.Buffer
	return &env{sm: secretsmanager.NewFromConfig(cfg), client: &counting{GetSecretValueAPI: smsecret.New(cfg, "")}, clock: newClock(), logs: &buf,
		logger: slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, nil))}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (e *env) createSecret(t *testing.T, value string) string {
	t.Helper()
	name := motoserver.Unique(t, "cfgate-key")
	if _, err := e.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return name
}

func (e *env) putSecret(t *testing.T, name, value string) {
	t.Helper()
	if _, err := e.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
}

func (e *env) deleteSecret(t *testing.T, name string) {
	t.Helper()
	if _, err := e.sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteSecret: %v", err)
	}
}

func (e *env) provider(name string, ttl time.Duration) *SecretsManager {
	return NewSecretsManager(e.client, name, ttl, e.logger, e.clock.Now)
}

func mustKey(t *testing.T, p Provider, wantID string) *cfsign.Key {
	t.Helper()
	k, err := p.Key(context.Background())
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if k.ID != wantID {
		t.Fatalf("Key().ID = %q, want %q", k.ID, wantID)
	}
	return k
}

func TestSecretsManagerLoadsKey(t *testing.T) {
	for _, alg := range []cfsign.Algorithm{cfsign.RSASHA1, cfsign.RSASHA256, cfsign.ECDSASHA256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newEnv(t)
			tk := newTestKey(t, "K2JCJMDEHXQW5F", alg)
			p := e.provider(e.createSecret(t, tk.secretJSON(t)), 0)
			k := mustKey(t, p, "K2JCJMDEHXQW5F")
			if k.Algorithm != alg {
				t.Errorf("algorithm %q, want %q", k.Algorithm, alg)
			}
			if !k.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tk.signer.Public()) {
				t.Error("loaded key differs from the stored one")
			}
			// Within the default TTL: served from cache, one call in all.
			e.clock.Add(DefaultTTL - time.Second)
			if k2 := mustKey(t, p, "K2JCJMDEHXQW5F"); k2 != k {
				t.Error("cached key was not reused")
			}
			if n := e.client.n.Load(); n != 1 {
				t.Errorf("GetSecretValue called %d times, want 1", n)
			}
			if strings.Contains(e.logs.String(), tk.pemBody()) {
				t.Error("log contains key material")
			}
		})
	}
}

func TestSecretsManagerNewVersionAfterTTL(t *testing.T) {
	e := newEnv(t)
	const ttl = time.Minute
	oldKey := newTestKey(t, "KOLDKEY0000001", cfsign.RSASHA1)
	newKey := newTestKey(t, "KNEWKEY0000002", cfsign.ECDSASHA256)
	name := e.createSecret(t, oldKey.secretJSON(t))
	p := e.provider(name, ttl)

	first := mustKey(t, p, oldKey.id)
	e.putSecret(t, name, newKey.secretJSON(t))

	e.clock.Add(ttl - time.Second)
	mustKey(t, p, oldKey.id) // still within the TTL: the cached key
	if n := e.client.n.Load(); n != 1 {
		t.Errorf("GetSecretValue called %d times within the TTL, want 1", n)
	}
	e.clock.Add(2 * time.Second)
	mustKey(t, p, newKey.id)
	if n := e.client.n.Load(); n != 2 {
		t.Errorf("GetSecretValue called %d times, want 2", n)
	}
	_ = first

	// Same version on the next refresh: the parsed key is reused as is.
	cur := mustKey(t, p, newKey.id)
	e.clock.Add(ttl + time.Second)
	if again := mustKey(t, p, newKey.id); again != cur {
		t.Error("unchanged secret version was parsed again")
	}
	if n := e.client.n.Load(); n != 3 {
		t.Errorf("GetSecretValue called %d times, want 3", n)
	}
}

func TestSecretsManagerColdStartFailures(t *testing.T) {
	e := newEnv(t)
	rsa := newTestKey(t, "K2JCJMDEHXQW5F", cfsign.RSASHA1)
	ec := newTestKey(t, "K2JCJMDEHXQW5F", cfsign.ECDSASHA256)
	badPEM := strings.Replace(rsa.pem, rsa.pemBody(), strings.Repeat("A", len(rsa.pemBody())), 1)
	secretOf := func(id, key string, alg cfsign.Algorithm) string {
		b, _ := json.Marshal(cfsign.Secret{KeyPairID: id, PrivateKey: key, Algorithm: alg})
		return string(b)
	}
	tests := []struct {
		name    string
		value   string // "" = no secret at all
		wantErr string
	}{
		{"missing secret", "", "ResourceNotFound"},
		{"not JSON", "-----BEGIN PRIVATE KEY-----\n" + rsa.pemBody() + "\n", "not valid JSON"},
		{"PEM instead of JSON", rsa.pem, "not valid JSON"},
		{"bad PEM", secretOf("K2JCJMDEHXQW5F", badPEM, cfsign.RSASHA1), "K2JCJMDEHXQW5F"},
		{"not PEM", secretOf("K2JCJMDEHXQW5F", "hello", cfsign.RSASHA1), "K2JCJMDEHXQW5F"},
		{"algorithm mismatch", secretOf("K2JCJMDEHXQW5F", ec.pem, cfsign.RSASHA1), "K2JCJMDEHXQW5F"},
		{"unknown algorithm", secretOf("K2JCJMDEHXQW5F", rsa.pem, "RSA-MD5"), "algorithm"},
		{"missing key pair id", secretOf("", rsa.pem, cfsign.RSASHA1), "keyPairId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := motoserver.Unique(t, "absent")
			if tt.value != "" {
				name = e.createSecret(t, tt.value)
			}
			p := e.provider(name, 0)
			for range 2 { // a second call retries and fails the same way
				k, err := p.Key(context.Background())
				if k != nil || err == nil {
					t.Fatalf("Key = %v, %v; want an error", k, err)
				}
				msg := err.Error()
				if !errors.Is(err, ErrUnavailable) || !strings.Contains(msg, name) || !strings.Contains(msg, tt.wantErr) {
					t.Errorf("error %q: want ErrUnavailable naming the secret and containing %q", msg, tt.wantErr)
				}
				for _, secret := range []string{rsa.pemBody(), ec.pemBody(), badPEM[40:80]} {
					if strings.Contains(msg, secret) || strings.Contains(e.logs.String(), secret) {
						t.Errorf("key material in error or log: %q", msg)
					}
				}
			}
		})
	}
}

func TestSecretsManagerRefreshFailureServesStale(t *testing.T) {
	const ttl = time.Minute
	good := newTestKey(t, "K2JCJMDEHXQW5F", cfsign.RSASHA1)
	tests := []struct {
		name    string
		breakIt func(t *testing.T, e *env, name string)
	}{
		{"secret deleted", func(t *testing.T, e *env, name string) { e.deleteSecret(t, name) }},
		{"garbled new version", func(t *testing.T, e *env, name string) { e.putSecret(t, name, `{"keyPairId":"KX","privateKey":"nope"`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			name := e.createSecret(t, good.secretJSON(t))
			p := e.provider(name, ttl)
			k := mustKey(t, p, good.id)
			tt.breakIt(t, e, name)

			e.clock.Add(ttl + time.Second) // refresh fails: stale key, warning
			if got := mustKey(t, p, good.id); got != k {
				t.Error("stale key not served")
			}
			if !strings.Contains(e.logs.String(), "serving the cached key") || !strings.Contains(e.logs.String(), `"level":"WARN"`) {
				t.Errorf("no warning logged: %s", e.logs.String())
			}
			calls := e.client.n.Load()
			e.clock.Add(time.Second) // within the retry backoff: no new call
			mustKey(t, p, good.id)
			if n := e.client.n.Load(); n != calls {
				t.Errorf("GetSecretValue called again within the backoff (%d → %d)", calls, n)
			}
			e.clock.Add(StaleFactor*ttl - ttl - 3*time.Second) // just under 3×TTL since the fetch
			mustKey(t, p, good.id)
			if n := e.client.n.Load(); n != calls+1 {
				t.Errorf("GetSecretValue calls %d, want %d (retry after the backoff)", n, calls+1)
			}

			e.clock.Add(2 * time.Second) // 3×TTL passed: fail closed
			got, err := p.Key(context.Background())
			if got != nil || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("after 3×TTL Key = %v, %v; want ErrUnavailable", got, err)
			}
			if !strings.Contains(e.logs.String(), "failing closed") {
				t.Errorf("no error logged: %s", e.logs.String())
			}
			if strings.Contains(e.logs.String(), good.pemBody()) || strings.Contains(err.Error(), good.pemBody()) {
				t.Error("key material leaked")
			}

			// Recovery: a good version again is picked up at once.
			if tt.name == "secret deleted" {
				name = e.createSecret(t, good.secretJSON(t))
				p = e.provider(name, ttl)
			} else {
				e.putSecret(t, name, good.secretJSON(t))
			}
			mustKey(t, p, good.id)
		})
	}
}

func TestSecretsManagerNoStampede(t *testing.T) {
	e := newEnv(t)
	tk := newTestKey(t, "K2JCJMDEHXQW5F", cfsign.RSASHA1)
	p := e.provider(e.createSecret(t, tk.secretJSON(t)), time.Minute)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := p.Key(context.Background())
			if err == nil && k.ID != tk.id {
				err = errors.New("wrong key")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := e.client.n.Load(); got != 1 {
		t.Errorf("%d concurrent cold callers made %d GetSecretValue calls, want 1", n, got)
	}
}

func TestSecretsManagerContextCancelled(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := e.provider(motoserver.Unique(t, "any"), 0)
	if k, err := p.Key(ctx); k != nil || !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Key(cancelled) = %v, %v", k, err)
	}
}

func TestStatic(t *testing.T) {
	tk := newTestKey(t, "K2JCJMDEHXQW5F", cfsign.ECDSASHA256)
	k, err := cfsign.NewKey(tk.id, tk.alg, tk.signer)
	if err != nil {
		t.Fatal(err)
	}
	var p Provider = Static{K: k}
	if got := mustKey(t, p, tk.id); got != k {
		t.Error("Static returned another key")
	}
	if got, err := (Static{}).Key(context.Background()); got != nil || !errors.Is(err, ErrUnavailable) {
		t.Errorf("empty Static = %v, %v", got, err)
	}
}
