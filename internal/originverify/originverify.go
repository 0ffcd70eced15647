// Package originverify checks the secret header that CloudFront adds to every
// /api/* origin request (api.OriginVerifyHeader), so that the login function
// answers only requests that came through the distribution.
//
// The value lives in a Secrets Manager secret that template.yaml generates
// (a random string; the distribution's origin custom header takes it by
// dynamic reference, so it never appears in the template). The function
// accepts the secret's AWSCURRENT and AWSPREVIOUS values, which makes the
// rotation in README "Rotating the origin secret" free of failed requests:
// put a new value, wait DefaultTTL, then redeploy so that CloudFront sends it.
package originverify

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cfgate/cfgate/internal/smsecret"
)

const (
	// DefaultTTL is how long fetched values are used before Secrets Manager
	// is asked again: the wait between putting a new value and making
	// CloudFront send it.
	DefaultTTL = 5 * time.Minute
	// StaleFactor bounds how long cached values keep being accepted while
	// refreshes fail: StaleFactor × TTL after the last successful fetch.
	StaleFactor = 3
	// retryBackoff spaces out refresh attempts while stale values are used.
	retryBackoff = 5 * time.Second
	// MinValueLen is the shortest value accepted from the secret.
	MinValueLen = 16
)

// ErrUnavailable means no value can be checked against (the secret is
// unreadable and nothing usable is cached).
var ErrUnavailable = errors.New("origin secret unavailable")

// Static accepts a fixed set of values (the local distribution, tests).
type Static []string

// Verify implements api.OriginVerifier.
func (s Static) Verify(_ context.Context, value string) (bool, error) {
	return match(s, value), nil
}

// match compares value with each candidate in constant time per candidate.
func match(candidates []string, value string) bool {
	ok := 0
	for _, c := range candidates {
		if c != "" {
			ok |= subtle.ConstantTimeCompare([]byte(c), []byte(value))
		}
	}
	return ok == 1
}

// GetSecretValueAPI is the Secrets Manager call the verifier needs;
// *smsecret.Client has it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, secretID, versionStage string) (smsecret.Value, error)
}

// SecretsManager accepts the AWSCURRENT and AWSPREVIOUS values of a secret.
// It is safe for concurrent use.
type SecretsManager struct {
	client   GetSecretValueAPI
	secretID string
	ttl      time.Duration
	logger   *slog.Logger
	now      func() time.Time

	mu          sync.Mutex
	values      []string
	fetched     time.Time
	nextAttempt time.Time
}

// NewSecretsManager returns a verifier over secretID (name or ARN). ttl ≤ 0
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

// Verify implements api.OriginVerifier: it reports whether value is the
// secret's current or previous value, refreshing them once TTL has passed.
// Errors wrap ErrUnavailable and never contain a value.
func (s *SecretsManager) Verify(ctx context.Context, value string) (bool, error) {
	values, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	return match(values, value), nil
}

// Warm fetches the values once (at cold start) and reports the error.
func (s *SecretsManager) Warm(ctx context.Context) error {
	_, err := s.current(ctx)
	return err
}

func (s *SecretsManager) current(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.values != nil && now.Before(s.fetched.Add(s.ttl)) {
		return s.values, nil
	}
	stale := s.values != nil && now.Before(s.fetched.Add(StaleFactor*s.ttl))
	if stale && now.Before(s.nextAttempt) {
		return s.values, nil
	}
	values, err := s.fetch(ctx)
	if err == nil {
		if len(values) != len(s.values) || (len(values) > 0 && values[0] != s.values[0]) {
			s.logger.Info("origin secret loaded", "secret", s.secretID, "values", len(values))
		}
		s.values, s.fetched = values, s.now()
		return values, nil
	}
	s.nextAttempt = s.now().Add(retryBackoff)
	if stale {
		s.logger.Warn("origin secret refresh failed; using the cached values", "secret", s.secretID, "error", err.Error())
		return s.values, nil
	}
	s.logger.Error("origin secret unavailable", "secret", s.secretID, "error", err.Error())
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// fetch reads AWSCURRENT (required) and AWSPREVIOUS (absent before the
// first rotation), both at once: a cold start waits for one Secrets Manager
// round trip, not two.
func (s *SecretsManager) fetch(ctx context.Context) ([]string, error) {
	var (
		prev    string
		prevErr error
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		prev, prevErr = s.stage(ctx, "AWSPREVIOUS")
	}()
	cur, err := s.stage(ctx, "AWSCURRENT")
	<-done
	if err != nil {
		return nil, err
	}
	values := []string{cur}
	switch {
	case errors.Is(prevErr, smsecret.ErrNotFound):
	case prevErr != nil:
		return nil, prevErr
	default:
		values = append(values, prev)
	}
	return values, nil
}

func (s *SecretsManager) stage(ctx context.Context, stage string) (string, error) {
	out, err := s.client.GetSecretValue(ctx, s.secretID, stage)
	if err != nil {
		return "", fmt.Errorf("get secret value (%s): %w", stage, err)
	}
	v := aws.ToString(out.String)
	if len(v) < MinValueLen {
		return "", fmt.Errorf("secret %s value is not a string of at least %d characters", stage, MinValueLen)
	}
	return v, nil
}
