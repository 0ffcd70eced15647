// Package awslatency is a latency harness for tests and benchmarks: a reverse
// proxy on loopback in front of moto_server that makes every AWS call take at
// least a fixed, per-service time (it holds moto's answer until the call has
// lasted that long, so a call costs max(latency, moto's own time)), so that a benchmark on one
// machine sees roughly what a Lambda function sees in AWS, where a DynamoDB
// read takes milliseconds and a Secrets Manager call tens of milliseconds.
//
// The service of a call is read from its SigV4 credential scope
// (Authorization: … Credential=<key>/<date>/<region>/<service>/aws4_request),
// which every SDK call carries, so the proxy works for any client — in
// process (Config) or a child process (Env, AWS_ENDPOINT_URL). It also counts calls per service and operation.
package awslatency

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Defaults are the assumed per-call latencies of AWS services seen from a
// Lambda function in the same region (signing names as in the credential
// scope). They are assumptions, stated in BENCHMARKS.md, not measurements.
var Defaults = map[string]time.Duration{
	"dynamodb":       4 * time.Millisecond,
	"secretsmanager": 20 * time.Millisecond,
	"ssm":            20 * time.Millisecond,
	"cloudfront":     20 * time.Millisecond,
	"kms":            20 * time.Millisecond,
}

// EnvVar overrides Defaults for FromEnv: a comma-separated list of
// service=duration, for example "dynamodb=10ms,ssm=0".
const EnvVar = "CFGATE_AWS_LATENCY"

// FromEnv returns Defaults with the overrides of EnvVar applied.
func FromEnv() (map[string]time.Duration, error) {
	return Parse(os.Getenv(EnvVar))
}

// Parse returns Defaults with the overrides in spec (service=duration,…).
func Parse(spec string) (map[string]time.Duration, error) {
	out := make(map[string]time.Duration, len(Defaults))
	for k, v := range Defaults {
		out[k] = v
	}
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, val, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("awslatency: %q: want service=duration", f)
		}
		d, err := time.ParseDuration(val)
		if val == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return nil, fmt.Errorf("awslatency: %q: want a non-negative duration", f)
		}
		out[strings.ToLower(name)] = d
	}
	return out, nil
}

// Proxy is a running latency proxy.
type Proxy struct {
	// Endpoint is the proxy's URL (http://127.0.0.1:port).
	Endpoint string

	delays map[string]time.Duration
	srv    *http.Server
	ln     net.Listener

	mu       sync.Mutex
	calls    map[string]int // "service Operation" → count
	overruns []Overrun
	spans    []Overrun
}

// Overrun is a call whose answer the proxy let go later than the service's
// assumed latency after it arrived (moto_server answered late, or the
// proxy's timer woke late on a busy machine): on this machine the call cost
// Over more than it would in the model.
type Overrun struct {
	Start, End time.Time // when the call reached the proxy; when the proxy let the answer go
	Over       time.Duration
}

// Start starts a proxy on a free loopback port in front of target (the
// moto_server endpoint). delays maps signing names to latencies; a service
// not in it is forwarded at once.
func Start(target string, delays map[string]time.Duration) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("awslatency: target %q is not a URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awslatency: %w", err)
	}
	p := &Proxy{
		Endpoint: "http://" + ln.Addr().String(),
		delays:   delays,
		ln:       ln,
		calls:    map[string]int{},
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			svc := Service(r)
			p.mu.Lock()
			p.calls[svc+" "+operation(r)]++
			p.mu.Unlock()
			if d := p.delays[svc]; d > 0 {
				start := time.Now()
				w = &heldWriter{ResponseWriter: w, ctx: r.Context(), start: start, until: start.Add(d), p: p}
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Config returns an aws.Config for in-process clients that sends every call
// through the proxy: region us-east-1, moto's dummy static credentials.
// (Setting BaseEndpoint on a config loaded with config.WithBaseEndpoint is
// not enough: the clients resolve the loaded option again.)
func (p *Proxy) Config() (aws.Config, error) {
	return config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(p.Endpoint),
	)
}

// Env returns the environment that points a child process at the proxy
// (append it after motoserver's Env: the last value of a key wins).
func (p *Proxy) Env() []string { return []string{"AWS_ENDPOINT_URL=" + p.Endpoint} }

// Close stops the proxy.
func (p *Proxy) Close() { _ = p.srv.Close() }

// Delay returns the latency added to a service's calls.
func (p *Proxy) Delay(service string) time.Duration { return p.delays[service] }

// Calls returns the calls seen so far, as "service Operation" → count, and
// resets the counts.
func (p *Proxy) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = map[string]int{}
	return c
}

// Overruns returns the calls that took longer than their latency (moto
// answered late, or the proxy's timer woke late) since the last call, and
// forgets them. A benchmark whose
// calls run one after another subtracts their sum to get what the request
// would take if every call lasted exactly its assumed latency.
func (p *Proxy) Overruns() []Overrun {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.overruns
	p.overruns = nil
	return o
}

// Spans returns every call since the last call of Spans (each answered
// call: when it reached the proxy, when the proxy let its answer go, and its
// overrun, zero when moto answered in time) and forgets them.
func (p *Proxy) Spans() []Overrun {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.spans
	p.spans = nil
	return o
}

// OnPath is how much the overruns of the calls that started at or after
// since lengthened a request whose calls ran in rounds (concurrent calls
// overlap, rounds follow each other): overlapping overruns are one round,
// which the longest of them delayed; the rounds' delays add up.
func OnPath(overruns []Overrun, since time.Time) time.Duration {
	var os []Overrun
	for _, o := range overruns {
		if !o.Start.Before(since) {
			os = append(os, o)
		}
	}
	sort.Slice(os, func(i, j int) bool { return os[i].Start.Before(os[j].Start) })
	var total, roundMax time.Duration
	var roundEnd time.Time
	for i, o := range os {
		if i > 0 && o.Start.After(roundEnd) { // a new round
			total += roundMax
			roundMax = 0
		}
		roundMax = max(roundMax, o.Over)
		if o.End.After(roundEnd) {
			roundEnd = o.End
		}
	}
	return total + roundMax
}

// ConcurrentDelay is how much moto answering late lengthened a round of
// calls that ran concurrently (a cold start's init), given the Spans of
// every call and the round's calls as those that started in [from, to): the
// round ended when its last call ended; at the assumed latencies it would
// have ended when the last call's latency was up. Unlike OnPath, a short
// call that overran without outlasting a slower one delays nothing.
func ConcurrentDelay(spans []Overrun, from, to time.Time) time.Duration {
	var actual, modeled time.Time
	for _, o := range spans {
		if o.Start.Before(from) || !o.Start.Before(to) {
			continue
		}
		if o.End.After(actual) {
			actual = o.End
		}
		if m := o.End.Add(-o.Over); m.After(modeled) {
			modeled = m
		}
	}
	if actual.IsZero() || !actual.After(modeled) {
		return 0
	}
	return actual.Sub(modeled)
}

// Format renders a Calls map sorted by key, for logs.
func Format(calls map[string]int) string {
	keys := make([]string, 0, len(calls))
	for k := range calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, calls[k])
	}
	return b.String()
}

// heldWriter holds the response's header until a call has taken its
// service's latency since it arrived, so a call costs max(latency, moto's
// own time), not their sum.
type heldWriter struct {
	http.ResponseWriter
	ctx          context.Context
	start, until time.Time
	p            *Proxy
	held         bool
}

func (h *heldWriter) hold() {
	if h.held {
		return
	}
	h.held = true
	if d := time.Until(h.until); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-h.ctx.Done():
		}
	}
	// An overrun is the time past the call's latency at which the answer
	// goes: moto answering late, or the proxy's own timer waking late on a
	// busy machine. Neither is the call's: at the assumed latency the
	// answer would have gone at until.
	now := time.Now()
	over := now.Sub(h.until)
	h.p.mu.Lock()
	if over > 0 {
		h.p.overruns = append(h.p.overruns, Overrun{Start: h.start, End: now, Over: over})
	} else {
		over = 0
	}
	h.p.spans = append(h.p.spans, Overrun{Start: h.start, End: now, Over: over})
	h.p.mu.Unlock()
}

func (h *heldWriter) WriteHeader(code int) {
	h.hold()
	h.ResponseWriter.WriteHeader(code)
}

func (h *heldWriter) Write(b []byte) (int, error) {
	h.hold()
	return h.ResponseWriter.Write(b)
}

// Flush lets the reverse proxy flush through the wrapper.
func (h *heldWriter) Flush() {
	h.hold()
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Service returns the signing name of an AWS request from its SigV4
// credential scope ("" if it carries none).
func Service(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// operation names the call: the JSON protocols' X-Amz-Target after the
// dot (DynamoDB, Secrets Manager, SSM, KMS), else method and path (REST
// protocols such as CloudFront's).
func operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if _, op, ok := strings.Cut(t, "."); ok {
			return op
		}
		return t
	}
	return r.Method + " " + r.URL.Path
}
