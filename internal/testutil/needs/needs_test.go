package needs

import (
	"testing"
)

func TestSummary(t *testing.T) {
	mu.Lock()
	oldSkipped, oldTotal := skipped, total
	skipped, total = map[string]int{}, 0
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		skipped, total = oldSkipped, oldTotal
		mu.Unlock()
	})
	if got := Summary("pkg"); got != "" {
		t.Errorf("Summary with nothing skipped = %q, want empty", got)
	}
	mu.Lock()
	total, skipped["moto_server"] = 1, 1
	mu.Unlock()
	if got, want := Summary("internal/x"), "internal/x: -short skipped 1 test that needs moto_server (1); run without -short for them"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	mu.Lock()
	total, skipped["chromium"] = 3, 2
	mu.Unlock()
	if got, want := Summary("tests/y"), "tests/y: -short skipped 3 tests that need chromium (2), moto_server (1); run without -short for them"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
}

func TestPackageName(t *testing.T) {
	if got, want := packageName(), "internal/testutil/needs"; got != want {
		t.Errorf("packageName() = %q, want %q", got, want)
	}
}
