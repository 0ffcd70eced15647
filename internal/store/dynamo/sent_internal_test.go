package dynamo

import (
	"context"
	"errors"
	"net/http/httptrace"
	"testing"

	"github.com/cfgate/cfgate/internal/store"
)

// TestSentTraceIgnoresFailedWrites: the trace sentTrace installs calls the
// OnSent function for a request written without error, once however many
// are (retries), and not for a failed write; without an OnSent function it
// installs nothing.
func TestSentTraceIgnoresFailedWrites(t *testing.T) {
	if httptrace.ContextClientTrace(sentTrace(context.Background())) != nil {
		t.Error("a trace without an OnSent function to call")
	}
	n := 0
	trace := httptrace.ContextClientTrace(sentTrace(store.OnSent(context.Background(), func() { n++ })))
	if trace == nil || trace.WroteRequest == nil {
		t.Fatal("no WroteRequest hook")
	}
	trace.WroteRequest(httptrace.WroteRequestInfo{Err: errors.New("connection reset")})
	if n != 0 {
		t.Errorf("a failed write called OnSent's function %d times", n)
	}
	trace.WroteRequest(httptrace.WroteRequestInfo{})
	trace.WroteRequest(httptrace.WroteRequestInfo{}) // a retry
	if n != 1 {
		t.Errorf("two written requests called OnSent's function %d times, want 1", n)
	}
}
