package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/cfsign"
	"github.com/cfgate/cfgate/internal/keyops/cfmoto"
	"github.com/cfgate/cfgate/internal/store"
	"github.com/cfgate/cfgate/internal/testutil/kmsproxy"
	"github.com/cfgate/cfgate/internal/testutil/needs"
	"github.com/cfgate/cfgate/internal/testutil/syncbuf"
)

// kmsLatency is the latency the benchmarks add to every kms:Sign:
// CFGATE_KMS_LATENCY (a Go duration), default 20ms, about a KMS Sign call
// from Lambda in the same region.
func kmsLatency(b *testing.B) time.Duration {
	v := os.Getenv("CFGATE_KMS_LATENCY")
	if v == "" {
		return 20 * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		b.Fatalf("CFGATE_KMS_LATENCY %q: want a duration such as 20ms", v)
	}
	return d
}

// benchCourses is how many granted courses BenchmarkAccessKMS cycles through:
// each /access of a course not asked for yet in this bucket is a cache miss.
const benchCourses = 200

// BenchmarkAccessKMS measures /access through the wired handler (DynamoDB on
// the extended moto server, the signing key in moto's KMS behind kmsproxy,
// which adds CFGATE_KMS_LATENCY to every kms:Sign). "miss": every op asks
// for a course not signed yet, so it waits for one kms:Sign; "hit": the same
// course again, from the signature cache. kms-signs/op is counted at the proxy.
//
//	go test -run '^$' -bench AccessKMS -benchtime 100x ./functions/login
func BenchmarkAccessKMS(b *testing.B) {
	needs.Tool(b, "moto_server")
	// A world of its own: the benchmark's grants must not reach the tests' user.
	w, err := seedWorld(b, cfmoto.Shared(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	courses := make([]string, benchCourses)
	for i := range courses {
		courses[i] = fmt.Sprintf("bench-kms-%03d", i)
		if err := w.st.PutCourse(ctx, store.Course{ID: courses[i], Title: courses[i]}); err != nil {
			b.Fatal(err)
		}
		if err := w.st.PutGrant(ctx, store.Grant{Email: testEmail, CourseID: courses[i]}); err != nil {
			b.Fatal(err)
		}
	}
	proxy, err := kmsproxy.Start(w.srv.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	env := w.env()
	initKMS(b, w.awsCfg, cfsign.ECDSASHA256, env)
	env["LOG_LEVEL"] = "error"
	var logs syncbuf.Buffer
	invoke := newTestInvokeCfg(b, proxyConfig(b, proxy), env, &logs)
	login := decode(b, invokeJSON(b, invoke, event(b, "login.json", "")))
	sc := cookies(login)["cfgate_session"]
	if login.StatusCode != 200 || sc == nil {
		b.Fatalf("login: %d", login.StatusCode)
	}
	session := sc.Value
	proxy.SetLatency(kmsLatency(b))

	run := func(b *testing.B, course func(i int) string) {
		signs0 := proxy.Signs()
		var ms []float64
		i := 0
		for b.Loop() {
			ev := accessEvent(b, session, course(i))
			start := time.Now()
			resp := decode(b, invokeJSON(b, invoke, ev))
			ms = append(ms, float64(time.Since(start).Microseconds())/1000)
			if resp.StatusCode != 200 {
				b.Fatalf("access: %d %s", resp.StatusCode, resp.Body)
			}
			i++
		}
		b.ReportMetric(float64(proxy.Signs()-signs0)/float64(i), "kms-signs/op")
		sort.Float64s(ms)
		b.ReportMetric(percentile(ms, 0.5), "p50-ms")
		b.ReportMetric(percentile(ms, 0.9), "p90-ms")
	}
	next := 0
	b.Run("miss", func(b *testing.B) {
		run(b, func(int) string {
			c := courses[next%len(courses)] // past benchCourses ops, hits: kms-signs/op shows it
			next++
			return c
		})
	})
	// The hit course is signed once before its run.
	if resp := decode(b, invokeJSON(b, invoke, accessEvent(b, session, testCourse))); resp.StatusCode != 200 {
		b.Fatalf("access: %d", resp.StatusCode)
	}
	b.Run("hit", func(b *testing.B) {
		run(b, func(int) string { return testCourse })
	})
	b.ReportMetric(float64(kmsLatency(b).Microseconds())/1000, "injected-ms")
}
