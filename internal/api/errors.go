package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cfgate/cfgate/internal/store"
)

// kind classifies a failure; statusOf maps kinds to HTTP statuses. This file
// is the one place where a failure becomes a status and a client message.
type kind uint8

const (
	kindInternal     kind = iota // 500
	kindInvalid                  // 400
	kindUnauthorized             // 401
	kindForbidden                // 403
	kindNotFound                 // 404
	kindMethod                   // 405
	kindTooLarge                 // 413
	kindMediaType                // 415
	kindLocked                   // 429
	kindUnavailable              // 503
	kindBadGateway               // 502
)

var statusOf = [...]int{
	kindInternal:     http.StatusInternalServerError,
	kindInvalid:      http.StatusBadRequest,
	kindUnauthorized: http.StatusUnauthorized,
	kindForbidden:    http.StatusForbidden,
	kindNotFound:     http.StatusNotFound,
	kindMethod:       http.StatusMethodNotAllowed,
	kindTooLarge:     http.StatusRequestEntityTooLarge,
	kindMediaType:    http.StatusUnsupportedMediaType,
	kindLocked:       http.StatusTooManyRequests,
	kindUnavailable:  http.StatusServiceUnavailable,
	kindBadGateway:   http.StatusBadGateway,
}

// defaultMessage is the client text of a kind when the failure names none.
var defaultMessage = [...]string{
	kindInternal:     "internal error",
	kindInvalid:      "malformed request",
	kindUnauthorized: "not signed in",
	kindForbidden:    "forbidden",
	kindNotFound:     "not found",
	kindMethod:       "method not allowed",
	kindTooLarge:     "request body too large",
	kindMediaType:    "Content-Type must be application/json",
	kindLocked:       "too many failed logins, try again later",
	kindUnavailable:  "service unavailable, try again later",
	kindBadGateway:   "the course's playlist cannot be served",
}

// apiError is a failure with its kind, the short text for the client (msg,
// never internal detail), a machine reason for logs and metrics, and the
// internal cause (logged, never returned).
type apiError struct {
	kind   kind
	msg    string
	reason string
	err    error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *apiError) Unwrap() error { return e.err }

// fail returns a failure of kind k with client text msg ("" = the kind's
// default) and reason for logs and metrics.
func fail(k kind, reason, msg string) error {
	return &apiError{kind: k, msg: msg, reason: reason}
}

// internal wraps an unexpected error (store, signing) with context. The
// status is 503 when the cause is transient (store throttling, a cancelled
// or timed-out context), 500 otherwise.
func internal(reason string, err error, format string, args ...any) error {
	return &apiError{kind: kindInternal, reason: reason, err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// unavailable is a failure of a dependency that we must not work around
// (the signing key): 503, fail closed.
func unavailable(reason string, err error) error {
	return &apiError{kind: kindUnavailable, reason: reason, err: err}
}

// classify decides status, client message and reason of any error.
func classify(err error) (status int, msg, reason string) {
	k, reason := kindInternal, "internal"
	var e *apiError
	if errors.As(err, &e) {
		k, msg, reason = e.kind, e.msg, e.reason
	}
	if k == kindInternal && (errors.Is(err, store.ErrThrottled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		k = kindUnavailable
	}
	if k == kindInternal || k == kindUnavailable || msg == "" {
		// Never a caller-supplied text for server-side failures.
		msg = defaultMessage[k]
	}
	return statusOf[k], msg, reason
}
