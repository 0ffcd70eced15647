package cfsign

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user+system, all threads) this process has used.
// The machine that runs the benchmarks is shared, so ns/op (wall clock)
// includes waiting for a core; cpu-ns/op does not, and is what `openssl
// speed` measures too (it divides by user CPU time unless given -elapsed).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU nanoseconds per op since start.
func reportCPU(b *testing.B, start time.Duration, ops int) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(ops), "cpu-ns/op")
}

// Run on one core, as reported in BENCHMARKS.md:
//
//	go test -run '^$' -bench 'Issue' -benchmem -cpu 1 ./internal/cfsign

var sinkCookies []string

// BenchmarkIssueCacheHit: a viewer refreshing within a bucket whose signature
// is cached; Issue plus rendering the Set-Cookie headers.
func BenchmarkIssueCacheHit(b *testing.B) {
	k := testKey(b, RSASHA1)
	iss := newTestIssuer(b, IssuerConfig{})
	if _, err := iss.Issue(k, "intro-to-hls", Conditions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		cc, err := iss.Issue(k, "intro-to-hls", Conditions{})
		if err != nil {
			b.Fatal(err)
		}
		sinkCookies = cc.SetCookies()
	}
	reportCPU(b, cpu0, b.N)
}

// benchMiss issues with a clock that moves one bucket per op, so every Issue
// signs.
func benchMiss(b *testing.B, alg Algorithm) {
	k := testKey(b, alg)
	now := fixedNow
	iss := newTestIssuer(b, IssuerConfig{Bucket: time.Second, Now: func() time.Time { return now }})
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		now = now.Add(time.Second)
		cc, err := iss.Issue(k, "intro-to-hls", Conditions{})
		if err != nil {
			b.Fatal(err)
		}
		sinkCookies = cc.SetCookies()
	}
	reportCPU(b, cpu0, b.N)
	st := iss.cache.stats()
	b.ReportMetric(float64(st.Signs)/float64(st.Signs+st.Hits), "signs/op")
}

// BenchmarkIssueMissRSA: a cache miss with RSA-2048/SHA-1 (through the SDK).
func BenchmarkIssueMissRSA(b *testing.B) { benchMiss(b, RSASHA1) }

// BenchmarkIssueMissRSASHA256: a cache miss with RSA-2048/SHA-256.
func BenchmarkIssueMissRSASHA256(b *testing.B) { benchMiss(b, RSASHA256) }

// BenchmarkIssueMissECDSA: a cache miss with ECDSA P-256/SHA-256.
func BenchmarkIssueMissECDSA(b *testing.B) { benchMiss(b, ECDSASHA256) }

// BenchmarkIssueRealisticMix: 1,000 viewers over 20 courses, each refreshing
// every 5 minutes (spread evenly), 5-minute buckets, 10-minute lifetime,
// RSA-SHA1. One op is one refresh (Issue plus Set-Cookie rendering); the
// simulated clock advances 5min/1000 per op. Reported: signatures per op, the
// cache hit rate and the sustained issuance rate (refreshes per second of wall
// clock, and per second of CPU time, which is comparable with openssl speed).
func BenchmarkIssueRealisticMix(b *testing.B) {
	const (
		viewers = 1000
		courses = 20
		period  = 5 * time.Minute
	)
	k := testKey(b, RSASHA1)
	now := fixedNow
	iss := newTestIssuer(b, IssuerConfig{Lifetime: 10 * time.Minute, Bucket: 5 * time.Minute, Now: func() time.Time { return now }})
	ids := make([]string, courses)
	for c := range ids {
		ids[c] = fmt.Sprintf("course-%02d", c)
	}
	step := period / viewers
	refresh := func(n int) {
		now = now.Add(step)
		cc, err := iss.Issue(k, ids[(n%viewers)%courses], Conditions{})
		if err != nil {
			b.Fatal(err)
		}
		sinkCookies = cc.SetCookies()
	}
	// Warm up for one refresh period so the measurement is the steady state.
	for n := range viewers {
		refresh(n)
	}
	warm := iss.cache.stats()
	ops := 0
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuTime(b)
	for b.Loop() {
		refresh(ops)
		ops++
	}
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	st := iss.cache.stats()
	signs, hits, misses := st.Signs-warm.Signs, st.Hits-warm.Hits, st.Misses-warm.Misses
	b.ReportMetric(float64(signs)/float64(ops), "signs/op")
	b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit%")
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "issues/s")
	b.ReportMetric(float64(ops)/cpu.Seconds(), "issues/cpu-s")
	b.ReportMetric(float64(cpu)/float64(ops), "cpu-ns/op")
	b.ReportMetric(float64(ops)*float64(period)/float64(viewers)/float64(time.Hour), "sim-hours")
}

// BenchmarkSignPolicy is the floor under a miss: Key.SignPolicy alone (hash
// and sign) over a course policy, per algorithm.
func BenchmarkSignPolicy(b *testing.B) {
	policy, err := CoursePolicy("d111111abcdef8.cloudfront.net", "intro-to-hls", fixedNow, Conditions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range allAlgorithms {
		b.Run(string(alg), func(b *testing.B) {
			k := testKey(b, alg)
			cpu0 := cpuTime(b)
			for b.Loop() {
				if _, err := k.SignPolicy(policy); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0, b.N)
		})
	}
}
