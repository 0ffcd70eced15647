// Package keysource provides the CloudFront signing key to the login
// handler: a Static key (tests, the local distribution) or the key named by
// a Secrets Manager secret, parsed once per secret version and cached with a
// TTL. The secret either holds the private key, or names a KMS key that
// signs (KMSSigner: the private key never leaves KMS, and no KMS call is made
// until a request needs a signature).
//
// A SecretsManager provider fails closed: without a usable key it returns an
// error wrapping ErrUnavailable, which the handler answers with 503. See
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html.
package keysource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/smsecret"
)

// ErrUnavailable means there is no usable signing key: the secret could not
// be read or parsed at cold start, or not for longer than StaleFactor TTLs.
// Callers answer 503 and never sign.
var ErrUnavailable = errors.New("signing key unavailable")

// Provider gives the current signing key.
type Provider interface {
	Key(ctx context.Context) (*cfsign.Key, error)
}

// Static is a Provider that always returns K.
type Static struct{ K *cfsign.Key }

// Key returns s.K, or ErrUnavailable when it is nil.
func (s Static) Key(context.Context) (*cfsign.Key, error) {
	if s.K == nil {
		return nil, fmt.Errorf("static key source: no key: %w", ErrUnavailable)
	}
	return s.K, nil
}

// GetSecretValueAPI is the Secrets Manager call the provider needs;
// *smsecret.Client has it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, secretID, versionStage string) (smsecret.Value, error)
}

const (
	// DefaultTTL is how long a fetched key is used before asking again.
	DefaultTTL = 5 * time.Minute
	// StaleFactor bounds how long a cached key keeps being served while
	// refreshes fail: StaleFactor × TTL after it was last fetched.
	StaleFactor = 3
	// retryBackoff spaces out refresh attempts while a stale key is served,
	// so an outage does not add a Secrets Manager round trip to every request.
	retryBackoff = 5 * time.Second
)

// SecretsManager is a Provider reading the secret
// {"keyPairId","privateKey","algorithm"} or {"keyPairId","kmsKeyId","algorithm"}
// (see cfsign.Secret; the second needs WithKMS). It is safe for concurrent
// use; concurrent callers share one fetch.
type SecretsManager struct {
	client   GetSecretValueAPI
	kms      KMSSignAPI
	kmsWait  time.Duration
	secretID string
	ttl      time.Duration
	logger   *slog.Logger
	now      func() time.Time

	mu          sync.Mutex
	key         *cfsign.Key
	version     string        // VersionId of key
	fetched     time.Time     // last successful fetch (parse or same version)
	nextAttempt time.Time     // no refresh before this while serving stale
	inflight    chan struct{} // closed when the running fetch ends
	lastErr     error         // error of the last fetch, for waiters
}

// NewSecretsManager returns a provider for secretID (name or ARN). ttl ≤ 0
// means DefaultTTL; a nil logger discards; a nil now means time.Now.
func NewSecretsManager(client GetSecretValueAPI, secretID string, ttl time.Duration, logger *slog.Logger, now func() time.Time) *SecretsManager {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &SecretsManager{client: client, secretID: secretID, ttl: ttl, logger: logger, now: now}
}

// WithKMS lets the provider sign with KMS keys named by the secret, through
// client, each Sign call bounded by timeout (≤ 0: DefaultKMSSignTimeout).
// Call it before the first Key.
func (s *SecretsManager) WithKMS(client KMSSignAPI, timeout time.Duration) *SecretsManager {
	s.kms, s.kmsWait = client, timeout
	return s
}

// Key returns the cached key while it is fresh, otherwise fetches the
// secret. If the fetch fails and a key fetched less than StaleFactor TTLs ago
// is cached, that key is returned and a warning logged; otherwise the error
// wraps ErrUnavailable. Errors never contain key material.
func (s *SecretsManager) Key(ctx context.Context) (*cfsign.Key, error) {
	for {
		s.mu.Lock()
		now := s.now()
		if s.key != nil && now.Before(s.fetched.Add(s.ttl)) {
			k := s.key
			s.mu.Unlock()
			return k, nil
		}
		if s.key != nil && now.Before(s.nextAttempt) && now.Before(s.fetched.Add(StaleFactor*s.ttl)) {
			k := s.key // a refresh failed a moment ago: keep serving, retry later
			s.mu.Unlock()
			return k, nil
		}
		if wait := s.inflight; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
				s.mu.Lock()
				k, err, fresh := s.resultLocked()
				s.mu.Unlock()
				if fresh {
					return k, err
				}
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("wait for signing key: %w: %w", ErrUnavailable, ctx.Err())
			}
		}
		done := make(chan struct{})
		s.inflight = done
		s.mu.Unlock()

		k, err := s.fetch(ctx)

		s.mu.Lock()
		s.inflight = nil
		close(done)
		s.mu.Unlock()
		return k, err
	}
}

// resultLocked reports what a caller that waited for a fetch gets: the key if
// the fetch refreshed it or stale serving applies, else the fetch's error.
func (s *SecretsManager) resultLocked() (*cfsign.Key, error, bool) {
	now := s.now()
	if s.key != nil && now.Before(s.fetched.Add(s.ttl)) {
		return s.key, nil, true
	}
	if s.key != nil && now.Before(s.fetched.Add(StaleFactor*s.ttl)) {
		return s.key, nil, true
	}
	if s.lastErr != nil && !errors.Is(s.lastErr, context.Canceled) && !errors.Is(s.lastErr, context.DeadlineExceeded) {
		return nil, s.lastErr, true
	}
	return nil, nil, false
}

// fetch reads and (for a new version) parses the secret, then updates the cache.
func (s *SecretsManager) fetch(ctx context.Context) (*cfsign.Key, error) {
	start := s.now()
	// The stage is explicit, although it is the default: moto 5.2 can
	// otherwise return a stale version after a stage move.
	out, err := s.client.GetSecretValue(ctx, s.secretID, "AWSCURRENT")
	var (
		version string
		key     *cfsign.Key
	)
	if err == nil {
		version = out.VersionID
		s.mu.Lock()
		same := s.key != nil && version != "" && version == s.version
		cached := s.key
		s.mu.Unlock()
		if same {
			key = cached // same version: no need to parse again
		} else {
			var raw []byte
			switch {
			case out.String != nil:
				raw = []byte(*out.String)
			case out.Binary != nil:
				raw = out.Binary
			}
			if raw == nil {
				err = errors.New("secret has no value")
			} else if key, err = s.parse(raw); err != nil {
				err = fmt.Errorf("parse secret version %s: %w", version, err)
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if s.version != version {
			attrs := []any{"secret", s.secretID, "version", version, "keyPairId", key.ID, "algorithm", string(key.Algorithm)}
			if ks, ok := key.Signer.(*KMSSigner); ok {
				attrs = append(attrs, "kmsKeyId", ks.KeyID())
			}
			s.logger.Info("signing key loaded", attrs...)
		}
		s.key, s.version, s.fetched, s.lastErr = key, version, start, nil
		return key, nil
	}
	err = fmt.Errorf("signing key from secret %q: %w: %w", s.secretID, ErrUnavailable, err)
	s.lastErr = err
	now := s.now()
	if s.key != nil && now.Before(s.fetched.Add(StaleFactor*s.ttl)) {
		s.nextAttempt = now.Add(min(retryBackoff, s.ttl))
		s.logger.Warn("signing key refresh failed; serving the cached key",
			"secret", s.secretID, "version", s.version, "keyPairId", s.key.ID,
			"age", now.Sub(s.fetched).Round(time.Second).String(),
			"servedUntil", s.fetched.Add(StaleFactor*s.ttl).UTC().Format(time.RFC3339),
			"err", err.Error())
		return s.key, nil
	}
	if s.key != nil {
		s.logger.Error("signing key refresh failed and the cached key is too old; failing closed",
			"secret", s.secretID, "version", s.version, "keyPairId", s.key.ID,
			"age", now.Sub(s.fetched).Round(time.Second).String(), "err", err.Error())
	} else {
		s.logger.Error("signing key unavailable; failing closed", "secret", s.secretID, "err", err.Error())
	}
	return nil, err
}

// parse turns a secret document of either form into a key.
func (s *SecretsManager) parse(raw []byte) (*cfsign.Key, error) {
	doc, err := cfsign.ParseSecretDocument(raw)
	if err != nil {
		return nil, err
	}
	if !doc.IsKMS() {
		return doc.Key()
	}
	if s.kms == nil {
		return nil, fmt.Errorf("secret names KMS key %s but this signer has no KMS client", doc.KMSKeyID)
	}
	return KMSKey(s.kms, doc, s.kmsWait)
}
