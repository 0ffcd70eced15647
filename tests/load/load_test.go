package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmallLoadRun runs the load test small (a few viewers, a few seconds)
// on the embedded store: the run must end with zero errors and report
// every route. The figures are not checked (no timed assertions); the
// full run is in BENCHMARKS.md.
func TestSmallLoadRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the distribution (-short)")
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-viewers", "8", "-duration", "6s", "-ramp", "2s", "-hash", "minimal"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"| login | 8 |", "| access | 8 |", "| page | 8 |", "distribution RSS: start"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "| all |") || strings.Contains(out.String(), "first ") {
		t.Errorf("report shows errors:\n%s", out.String())
	}
}

func TestFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"-viewers", "0"}, {"-viewers", "20001"}, {"-duration", "11m"}, {"-ramp", "90s", "-duration", "60s"},
		{"-compress", "11"}, {"-hash", "none"}, {"-store", "sqlite"}, {"-aws-latency"}, {"-format", "mp4"}, {"extra"},
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q): no error", bad)
		}
	}
	o, err := parse(nil)
	if err != nil || o.viewers != 2000 || o.duration.Seconds() != 90 || o.storeKind != "embedded" {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:80", "[::1]:80", "example.com:80", "0.0.0.0:80"} {
		if _, err := loopbackOnly(t.Context(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("dial %s: %v, want a refusal", addr, err)
		}
	}
}
