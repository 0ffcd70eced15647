package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cfgate/cfgate/internal/testutil/awslatency"
)

// Lambda gives a function CPU in proportion to its memory: one vCPU at
// 1,769 MB. BenchmarkMemorySize stands in for that with a cgroup (v1 "cpu"
// controller) CPU quota of size/1769 of one CPU on the bootstrap process,
// with AWS calls through the latency harness at its defaults, and measures
// per size the duration of a login (argon2id, m = 19 MiB, t = 2) and of a
// warm /access through the Runtime API, and the GB-seconds Lambda would bill
// (duration rounded up to 1 ms × memory). It needs root and a writable
// /sys/fs/cgroup/cpu; it is skipped otherwise.
//
//	go test -run '^$' -bench MemorySize -benchtime 1x ./functions/login
//
// Per size: 10 logins and 200 warm /access calls. Besides the medians it
// reports the CPU time per request (login-cpu-ms, access-cpu-ms), which the
// quota divides and which other load on the host inflates far less than the
// wall-clock figures.
//
// CFGATE_MEMORY_SIZES overrides the sizes (comma-separated MB).
func BenchmarkMemorySize(b *testing.B) {
	const cgroupRoot = "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cpu.cfs_quota_us")); err != nil {
		b.Skip("needs the cgroup v1 cpu controller at " + cgroupRoot)
	}
	sizes := []int{128, 256, 512, 1024, 1769}
	if s := os.Getenv("CFGATE_MEMORY_SIZES"); s != "" {
		sizes = nil
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 128 || n > 10240 {
				b.Fatalf("CFGATE_MEMORY_SIZES: %q", f)
			}
			sizes = append(sizes, n)
		}
	}
	w := seed(b)
	delays, err := awslatency.FromEnv()
	if err != nil {
		b.Fatal(err)
	}
	p, err := awslatency.Start(w.srv.Endpoint, delays)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const logins, accesses = 10, 200
	for _, size := range sizes {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			dir := filepath.Join(cgroupRoot, fmt.Sprintf("cfgate-bench-%d-%d", os.Getpid(), size))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Skipf("cannot create a cgroup: %v", err)
			}
			defer os.Remove(dir) // once the process has exited
			period := 100_000
			quota := period * size / 1769
			if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(period)), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644); err != nil {
				b.Fatal(err)
			}
			env := w.env()
			env["LOG_LEVEL"] = "warn"
			env["AWS_ENDPOINT_URL"] = p.Endpoint
			env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(size)
			for i := 0; i < b.N; i++ {
				f := startFunction(b, w, env)
				if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(f.cmd.Process.Pid)), 0o644); err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				var loginMS, accessMS []float64
				var session string
				cpu0 := cpuTicks(b, f.cmd.Process.Pid)
				for range logins {
					start := time.Now()
					out, err := f.Invoke(ctx, event(b, "login.json", ""))
					loginMS = append(loginMS, msSince(start))
					if err != nil {
						b.Fatal(err)
					}
					session = checkLogin(b, decode(b, out))
				}
				cpu1 := cpuTicks(b, f.cmd.Process.Pid)
				access := event(b, "access.json", session)
				var cpu2 int64
				for i := range accesses + 1 {
					if i == 1 {
						cpu2 = cpuTicks(b, f.cmd.Process.Pid)
					}
					start := time.Now()
					out, err := f.Invoke(ctx, access)
					accessMS = append(accessMS, msSince(start))
					if err != nil {
						b.Fatal(err)
					}
					if resp := decode(b, out); resp.StatusCode != 200 {
						b.Fatalf("access: %d %s", resp.StatusCode, resp.Body)
					}
				}
				accessMS = accessMS[1:] // the first fills the signature cache
				cpu3 := cpuTicks(b, f.cmd.Process.Pid)
				_ = f.cmd.Process.Kill()
				<-f.exited
				// The first login also opens the connections; the median is
				// of all five.
				lp, ap := median(loginMS), median(accessMS)
				gb := float64(size) / 1024
				b.ReportMetric(lp, "login-p50-ms")
				b.ReportMetric(ap, "access-p50-ms")
				b.ReportMetric(gb*billedSeconds(lp)*1000, "login-GBs/1k")
				b.ReportMetric(gb*billedSeconds(ap)*1000, "access-GBs/1k")
				// CPU time per request (clock ticks of the process): what
				// the quota divides, independent of other load on the host.
				b.ReportMetric(float64(cpu1-cpu0)*tickMS/logins, "login-cpu-ms")
				b.ReportMetric(float64(cpu3-cpu2)*tickMS/accesses, "access-cpu-ms")
			}
		})
	}
}

// tickMS is the length of a /proc clock tick (USER_HZ = 100 on Linux).
const tickMS = 10.0

// cpuTicks reads a process's user + system CPU time in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which is in parentheses): state is
	// field 3, utime 14, stime 15.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return u + st
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// billedSeconds is a duration in ms rounded up to Lambda's 1 ms billing unit.
func billedSeconds(ms float64) float64 {
	whole := float64(int64(ms))
	if whole < ms {
		whole++
	}
	return whole / 1000
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if f := s[start:i]; f != "" {
				out = append(out, f)
			}
			start = i + 1
		}
	}
	return out
}
