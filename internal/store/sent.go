package store

import (
	"context"
	"sync"
)

// The "request sent" signal of a store read. A caller with CPU work to do
// beside a slow read (the /access route signs a course's first cookie while
// the user and grant are read) waits for it before starting, so that the work
// never delays the read's own request: on a Lambda function's fraction of a
// CPU, a signature started first could hold the BatchGetItem back by a
// millisecond or more (it did on two cores: see BENCHMARKS.md, "Under AWS
// latencies").

type sentKey struct{}

type sentHook struct {
	once sync.Once
	f    func()
}

// OnSent returns a context that carries f. A store read given that context
// calls f once its request is under way: the DynamoDB store when the
// request has been written to the connection (net/http/httptrace's
// WroteRequest), the in-memory store at once. f runs at most once, however
// many requests the read makes (retries, unprocessed keys), and never if no
// request was written (the read failed before, or ctx has no hook).
// GetUserGrant and GetSessionGrant honour it.
func OnSent(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, sentKey{}, &sentHook{f: f})
}

// Sent calls the function OnSent put in ctx, the first time only; without
// one it does nothing.
func Sent(ctx context.Context) {
	if h, ok := ctx.Value(sentKey{}).(*sentHook); ok {
		h.once.Do(h.f)
	}
}

// HasOnSent reports whether ctx carries an OnSent function, so that a
// store can skip the work of watching for the write when nobody waits.
func HasOnSent(ctx context.Context) bool {
	_, ok := ctx.Value(sentKey{}).(*sentHook)
	return ok
}
