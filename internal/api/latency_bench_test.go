package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keysource"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/store/dynamo"
	"github.com/cfgate/cfgate/internal/testutil/awslatency"
	"github.com/cfgate/cfgate/internal/testutil/motoserver"
)

// The AWSLatency benchmarks run the handler on the DynamoDB store, with
// moto_server behind the latency harness (internal/testutil/awslatency) at
// its defaults (DynamoDB 4 ms per call; override with CFGATE_AWS_LATENCY), so
// that their time is the number of DynamoDB round trips a route makes one
// after another. They report the p50 and p99 in ms, the DynamoDB calls per
// request (ddb-calls/op), and p50-at-latency-ms: the p50 with the time moto
// took beyond the assumed latency taken out (awslatency.Overruns), i.e. what
// the request takes when every call lasts its assumed latency. Run them with:
//
//	go test -run '^$' -bench AWSLatency -benchtime 200x ./internal/api

// latencyEnv is a handler on a fresh DynamoDB table behind the latency proxy,
// seeded with alice (cheap hash), granted intro-to-hls, and two courses.
func latencyEnv(b *testing.B) (*Handler, *awslatency.Proxy, store.Store) {
	b.Helper()
	srv := motoserver.Shared(b)
	delays, err := awslatency.FromEnv()
	if err != nil {
		b.Fatal(err)
	}
	p, err := awslatency.Start(srv.Endpoint, delays)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	cfg, err := p.Config()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(cfg)
	table := motoserver.Unique(b, "cfgate")
	if err := dynamo.CreateTable(ctx, ddb, table); err != nil {
		b.Fatal(err)
	}
	st := dynamo.New(ddb, table)
	if err := st.PutUser(ctx, store.User{Email: alice, PasswordHash: cheapHash(alicePW), CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []store.Course{{ID: courseIntro, Title: "Intro to HLS"}, {ID: "advanced-streaming", Title: "Advanced streaming"}} {
		if err := st.PutCourse(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.PutGrant(ctx, store.Grant{Email: alice, CourseID: courseIntro}); err != nil {
		b.Fatal(err)
	}
	issuer, err := cfsign.NewIssuer(cfsign.IssuerConfig{Domain: testDomain})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{
		AllowedOrigins:   []string{ownOrigin, playerOrig},
		Metrics:          io.Discard,
		LockoutThreshold: 1 << 30,
		Passwords:        &countingPasswords{},
	}, st, keysource.Static{K: testKey(b)}, issuer, nil)
	if err != nil {
		b.Fatal(err)
	}
	return h, p, st
}

// serveTimed serves r b.N times (fresh by mk), checks the status and reports
// percentiles in ms and DynamoDB calls per request.
func serveTimed(b *testing.B, h *Handler, p *awslatency.Proxy, want int, mk func() *http.Request) {
	p.Calls() // reset
	p.Overruns()
	durations := make([]time.Duration, 0, b.N)
	modeled := make([]time.Duration, 0, b.N)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		r := mk()
		w := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(w, r)
		d := time.Since(start)
		durations = append(durations, d)
		modeled = append(modeled, d-awslatency.OnPath(p.Overruns(), start))
		if w.Code != want {
			b.Fatalf("status %d, want %d: %s", w.Code, want, w.Body)
		}
		n++
	}
	b.StopTimer()
	calls := 0
	for k, c := range p.Calls() {
		if strings.HasPrefix(k, "dynamodb ") {
			calls += c
		}
	}
	b.ReportMetric(float64(calls)/float64(n), "ddb-calls/op")
	reportPercentilesMS(b, durations)
	slices.Sort(modeled)
	b.ReportMetric(float64(modeled[len(modeled)/2].Microseconds())/1000, "p50-at-latency-ms")
}

func reportPercentilesMS(b *testing.B, d []time.Duration) {
	reportPercentiles(b, d)
	// reportPercentiles sorted d.
	at := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkAccessAWSLatency: POST /access on a warm handler, with the user
// hint (one DynamoDB round trip).
func BenchmarkAccessAWSLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("needs moto_server (-short)")
	}
	h, p, st := latencyEnv(b)
	token, idHash := newSessionToken()
	now := time.Now()
	if err := st.CreateSession(context.Background(), store.Session{IDHash: idHash, Email: alice, CreatedAt: now, Expires: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	hint := sealHint(token, alice) // as login sets it
	mk := func() *http.Request {
		return withHint(req("POST", "/api/courses/"+courseIntro+"/access", "", "Origin", playerOrig), token, hint)
	}
	// Warm: the first call signs and fills the caches.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, mk())
	if w.Code != http.StatusOK {
		b.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	serveTimed(b, h, p, http.StatusOK, mk)
}

// BenchmarkLoginAWSLatency: a successful POST /login with a cheap argon2id
// hash (m=64 KiB), so that the time is the DynamoDB round trips.
func BenchmarkLoginAWSLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("needs moto_server (-short)")
	}
	h, p, _ := latencyEnv(b)
	body := loginBodyJSON(alice, alicePW)
	serveTimed(b, h, p, http.StatusOK, func() *http.Request {
		r := httptest.NewRequest("POST", "/api/login", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	})
}
