package api

import (
	"context"
	"runtime"
	"time"
)

// DefaultPasswordWait is how long a login waits for a password-work slot
// before it answers 503 with Retry-After.
const DefaultPasswordWait = 10 * time.Second

// retryAfterSeconds is the Retry-After of every 503.
const retryAfterSeconds = "2"

// passwordSlots bounds the argon2id verifications that run at once. Each
// takes 19 MiB and ~26 ms of one core, so beyond about one per core more at
// once only adds memory: 100 logins arriving together would hold 1.9 GB and
// finish no sooner. The others wait, in arrival order as far as Go's channel
// semantics give it, within their request's deadline and PasswordWait.
//
// In Lambda one instance serves one request at a time, so a slot is always
// free there; this matters for the local distribution (and any server that
// runs the handler with many requests in flight).
type passwordSlots chan struct{}

func newPasswordSlots(n int) passwordSlots {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return make(passwordSlots, n)
}

// acquire waits for a slot until ctx ends or wait passes; past either it
// returns a 503 (kindUnavailable, Retry-After) failure.
func (s passwordSlots) acquire(ctx context.Context, wait time.Duration) (release func(), err error) {
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, unavailable("password_busy", context.Cause(ctx))
	case <-t.C:
		return nil, unavailable("password_busy", errPasswordBusy)
	}
}

type busyError struct{}

func (busyError) Error() string { return "every password-work slot stayed busy for the whole wait" }

var errPasswordBusy error = busyError{}
