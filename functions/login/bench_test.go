package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/api"
	"github.com/cfgate/cfgate/internal/testutil/awslatency"
)

// Benchmarks of the deployable artifact, driven through this test's Runtime
// API with moto_server on loopback. Run them with, for example:
//
//	go test -run '^$' -bench 'ColdStart|PeakRSS|BootstrapSize' -benchtime 20x ./functions/login

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted)-1) + 0.5)
	return sorted[i]
}

func reportDist(b *testing.B, name string, samples []float64) {
	sort.Float64s(samples)
	b.ReportMetric(percentile(samples, 0.5), name+"-p50-ms")
	b.ReportMetric(percentile(samples, 0.9), name+"-p90-ms")
}

// BenchmarkColdStart measures, per fresh process: "init" = process start to
// its first poll of /next (config, AWS config, SSM when used, the Secrets
// Manager fetch and parse of the key), and "first" = process start to the
// first response posted back. Sub-benchmarks differ in the first request:
// session-401 needs no AWS call; access reads the session, then the user and
// grant in one request, on DynamoDB (moto), and signs (the catalogue was read
// during init).
func BenchmarkColdStart(b *testing.B) {
	w := seed(b)
	session := benchSession(b, w)
	cases := []struct {
		name    string
		payload []byte
		status  int
		env     func(map[string]string)
	}{
		{"session-401", event(b, "session.json", ""), 401, nil},
		{"access", event(b, "access.json", session), 200, nil},
		{"access-domain-from-ssm", event(b, "access.json", session), 200, func(e map[string]string) {
			delete(e, "DISTRIBUTION_DOMAIN")
			e["DISTRIBUTION_DOMAIN_PARAMETER"] = w.parameter
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			env := w.env()
			env["LOG_LEVEL"] = "info"
			if c.env != nil {
				c.env(env)
			}
			var initMS, firstMS, localMS, cpuMS []float64
			for i := 0; i < b.N; i++ {
				f := startFunction(b, w, env)
				out, err := f.Invoke(context.Background(), c.payload)
				done := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				if resp := decode(b, out); resp.StatusCode != c.status {
					b.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, resp.Body)
				}
				f.rt.mu.Lock()
				init := float64(f.rt.firstNext.Sub(f.started).Microseconds()) / 1000
				f.rt.mu.Unlock()
				initMS = append(initMS, init)
				firstMS = append(firstMS, float64(done.Sub(f.started).Microseconds())/1000)
				aws, err := initAWSms(f.out.String())
				if err != nil {
					b.Fatal(err)
				}
				localMS = append(localMS, init-aws)
				_ = f.cmd.Process.Kill()
				<-f.exited
				if ru, ok := f.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					cpuMS = append(cpuMS, float64((time.Duration(ru.Utime.Nano())+time.Duration(ru.Stime.Nano())).Microseconds())/1000)
				}
			}
			reportDist(b, "init", initMS)
			reportDist(b, "init-excl-aws", localMS)
			reportDist(b, "first", firstMS)
			reportDist(b, "cpu", cpuMS)
		})
	}
}

// BenchmarkColdStartAWSLatency is BenchmarkColdStart's first /access with
// every AWS call going through the latency harness at its defaults
// (internal/testutil/awslatency: DynamoDB 4 ms, Secrets Manager, SSM and
// CloudFront 20 ms per call; override with CFGATE_AWS_LATENCY), so init pays
// its one round of calls (the slowest of them) and the first /access its one
// DynamoDB round trip (the browser sends the user hint that login set). first-at-latency is first with the time moto_server
// took beyond the assumed latency taken out (init's round: awslatency.
// ConcurrentDelay; /access's rounds: awslatency.OnPath).
//
// Each iteration also runs the process floor (BenchmarkProcessFloor's
// rejected start) just before its cold start, so that the floor is measured
// in the same run, on the machine as it is then. local-ms is the median of
// first-at-latency minus the median floor, the slowest init call and one
// DynamoDB latency: the time of the cold path's own work. margin-ms is what
// is left of #14's bound (floor + slowest init call + two DynamoDB
// latencies + 5 ms) above the median first-at-latency: the target is met
// when it is positive. (Medians, not the median of per-iteration differences: a floor
// and the cold start after it vary independently, so subtracting them pair
// by pair would add the floor's noise to the result.)
func BenchmarkColdStartAWSLatency(b *testing.B) {
	w := seed(b)
	session := benchSession(b, w)
	delays, err := awslatency.FromEnv()
	if err != nil {
		b.Fatal(err)
	}
	p, err := awslatency.Start(w.srv.Endpoint, delays)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	env := w.env()
	env["LOG_LEVEL"] = "info"
	delete(env, "DISTRIBUTION_DOMAIN")
	env["DISTRIBUTION_DOMAIN_PARAMETER"] = w.parameter
	for k, v := range envMap(p.Env()) {
		env[k] = v // after motoserver's Env in startFunction: the proxy wins
	}
	payload := event(b, "access.json", session)
	// The assumed latencies on the cold path: init's slowest call (its
	// calls run in one round; SSM is among them, as the domain comes from
	// the parameter here) and /access's DynamoDB round trip. #14's bound
	// allows two.
	slowest := max(delays["secretsmanager"], delays["ssm"], delays["cloudfront"], delays["dynamodb"])
	onPath := slowest + delays["dynamodb"]
	bound := slowest + 2*delays["dynamodb"] + 5*time.Millisecond
	var initMS, initModeledMS, firstMS, modeledMS, floorMS []float64
	for i := 0; i < b.N; i++ {
		fl := startFunction(b, w, map[string]string{})
		<-fl.exited
		floor := time.Since(fl.started)
		floorMS = append(floorMS, float64(floor.Microseconds())/1000)
		f := startFunction(b, w, env)
		p.Overruns() // forget the previous run's
		p.Spans()
		out, err := f.Invoke(context.Background(), payload)
		done := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if resp := decode(b, out); resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		f.rt.mu.Lock()
		firstNext := f.rt.firstNext
		f.rt.mu.Unlock()
		initMS = append(initMS, float64(firstNext.Sub(f.started).Microseconds())/1000)
		first := done.Sub(f.started)
		firstMS = append(firstMS, float64(first.Microseconds())/1000)
		// The calls' time beyond their assumed latency (moto answering
		// late) taken out: for init's concurrent round, by how much its
		// last call ended late (a DynamoDB read that overran beside the
		// slower Secrets Manager call delayed nothing); for /access's
		// rounds, each round's longest overrun.
		initDelay := awslatency.ConcurrentDelay(p.Spans(), f.started, firstNext)
		modeled := first - initDelay - awslatency.OnPath(p.Overruns(), firstNext)
		modeledMS = append(modeledMS, float64(modeled.Microseconds())/1000)
		initModeledMS = append(initModeledMS, float64((firstNext.Sub(f.started)-initDelay).Microseconds())/1000)
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	calls := p.Calls()
	for k, c := range calls {
		b.ReportMetric(float64(c)/float64(b.N), strings.ReplaceAll(k, " ", "-")+"/op")
	}
	reportDist(b, "init", initMS)
	reportDist(b, "first", firstMS)
	reportDist(b, "first-at-latency", modeledMS)
	reportDist(b, "init-at-latency", initModeledMS)
	reportDist(b, "floor", floorMS)
	b.ReportMetric(median(modeledMS)-median(floorMS)-float64(onPath.Microseconds())/1000, "local-ms")
	b.ReportMetric(float64(bound.Microseconds())/1000-(median(modeledMS)-median(floorMS)), "margin-ms")
}

// envMap turns KEY=value lines into a map.
func envMap(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// initAWSms reads, from the function's "login function ready" log line, the
// time its init spent on AWS calls (SSM parameter, the origin secret's
// Secrets Manager reads, the signing key's fetch and the key-group read, made
// concurrently: the wall time of that round).
func initAWSms(logs string) (float64, error) {
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"login function ready"`) {
			continue
		}
		var rec struct{ InitAwsMs float64 }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return 0, err
		}
		return rec.InitAwsMs, nil
	}
	return 0, fmt.Errorf("no ready line in %s", logs)
}

// BenchmarkProcessFloor measures process start to exit of the artifact when
// its configuration is rejected: exec, Go runtime and package init, one log
// line. The floor under every cold start.
func BenchmarkProcessFloor(b *testing.B) {
	w := seed(b)
	var ms []float64
	for i := 0; i < b.N; i++ {
		f := startFunction(b, w, map[string]string{})
		<-f.exited
		ms = append(ms, float64(time.Since(f.started).Microseconds())/1000)
	}
	reportDist(b, "start-to-exit", ms)
}

// benchSession logs in once (in process) and returns what event puts in the
// fixture's session cookie: the session and, as a browser sends it, the
// user hint the login set (withHint).
func benchSession(b *testing.B, w *world) string {
	b.Helper()
	f := startFunction(b, w, w.env())
	out, err := f.Invoke(context.Background(), event(b, "login.json", ""))
	if err != nil {
		b.Fatal(err)
	}
	resp := decode(b, out)
	cs := cookies(resp)
	if resp.StatusCode != 200 || cs[api.SessionCookie] == nil || cs[api.UserHintCookie] == nil {
		b.Fatalf("login: %d %s", resp.StatusCode, resp.Body)
	}
	return withHint(cs[api.SessionCookie].Value, cs[api.UserHintCookie].Value)
}

// BenchmarkPeakRSS runs one process through a login (argon2id, m=19 MiB)
// and 1,000 /access calls, then reads its peak resident set (VmHWM). GOGC
// and GOMEMLIMIT, when set for the benchmark, are passed to the function.
func BenchmarkPeakRSS(b *testing.B) {
	w := seed(b)
	env := w.env()
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} { // to compare runtime settings for the template
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	for i := 0; i < b.N; i++ {
		f := startFunction(b, w, env)
		ctx := context.Background()
		out, err := f.Invoke(ctx, event(b, "login.json", ""))
		if err != nil {
			b.Fatal(err)
		}
		session := checkLogin(b, decode(b, out))
		loginHWM, _, err := procMemory(f.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(loginHWM)/1024, "peak-after-login-MiB")
		access := event(b, "access.json", session)
		var lat []float64
		for range 1000 {
			start := time.Now()
			out, err := f.Invoke(ctx, access)
			lat = append(lat, float64(time.Since(start).Microseconds())/1000)
			if err != nil {
				b.Fatal(err)
			}
			if resp := decode(b, out); resp.StatusCode != 200 {
				b.Fatalf("access: %d %s", resp.StatusCode, resp.Body)
			}
		}
		hwm, rss, err := procMemory(f.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(rss)/1024, "RSS-after-MiB")
		reportDist(b, "access-via-runtime-api", lat)
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
}

// procMemory reads VmHWM and VmRSS (kB) of a live process from /proc.
func procMemory(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmHWM:":
			hwm = n
		case "VmRSS:":
			rss = n
		}
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	return hwm, rss, nil
}

// BenchmarkBootstrapSizeArm64 builds the artifact exactly as deployed
// (GOARCH=arm64) and reports its size.
func BenchmarkBootstrapSizeArm64(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		bin, err := buildBootstrap(dir, "arm64")
		if err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size()), "bytes")
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB")
	}
}
